"""Metrics against numbers computed by hand on a tiny (N=3, C=2, T=3) example."""

import math

import numpy as np
import pytest
import torch

from tks_lava.metrics import (
    EarlyExitResult,
    accuracy_at,
    argmax_agreement,
    aurc,
    cumulative_accuracy,
    cumulative_logits,
    early_exit,
    early_exit_curve,
    max_abs_diff,
    per_class_accuracy,
    per_step_accuracy,
    risk_coverage_curve,
    running_probabilities,
)

# (N, C, T): per sample, class 0's and class 1's outputs over t = 1, 2, 3.
LOGITS = np.array(
    [
        [[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]],  # label 0: steps 0,1,0  running mean 0,1,0
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],  # label 1: steps 1,1,1  running mean 1,1,1
        [[2.0, 0.0, 0.0], [0.0, 1.0, 4.0]],  # label 1: steps 0,1,1  running mean 0,0,1
    ]
)
LABELS = np.array([0, 1, 1])
# Running-mean margins (class 0 - class 1): s0: 1, -1/2, 2/3; s1: -1, -1, -1; s2: 2, 1/2, -1.
# Two classes: max softmax prob = sigmoid(|margin|): sigmoid(1/2)=.622, sigmoid(2/3)=.661,
# sigmoid(1)=.731, sigmoid(2)=.881.


def test_cumulative_logits():
    cum = cumulative_logits(LOGITS)
    assert cum.shape == (3, 2, 3)
    np.testing.assert_allclose(cum[0], [[1.0, 0.5, 4 / 3], [0.0, 1.0, 2 / 3]])
    np.testing.assert_allclose(cum[2, 1], [0.0, 0.5, 5 / 3])


def test_per_step_and_cumulative_accuracy():
    np.testing.assert_allclose(per_step_accuracy(LOGITS, LABELS), [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(cumulative_accuracy(LOGITS, LABELS), [2 / 3, 1 / 3, 1.0])
    # torch tensors give the same numbers
    t_logits, t_labels = torch.tensor(LOGITS, dtype=torch.float32), torch.tensor(LABELS)
    np.testing.assert_allclose(per_step_accuracy(t_logits, t_labels), [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(cumulative_accuracy(t_logits, t_labels), [2 / 3, 1 / 3, 1.0])


def test_accuracy_at():
    assert accuracy_at(LOGITS, LABELS, 1) == pytest.approx(2 / 3)
    assert accuracy_at(LOGITS, LABELS, 2) == pytest.approx(1 / 3)
    assert accuracy_at(LOGITS, LABELS, 3) == pytest.approx(1.0)
    for bad in (0, 4, 1.5):
        with pytest.raises(ValueError, match=r"\[1, T\] = \[1, 3\]"):
            accuracy_at(LOGITS, LABELS, bad)


@pytest.mark.parametrize(
    "threshold, steps, preds",
    [
        (0.0, [1, 1, 1], [0, 1, 0]),  # everyone exits after one step
        (0.7, [1, 1, 1], [0, 1, 0]),  # .731, .731, .881 > .7
        (0.75, [3, 3, 1], [0, 1, 0]),  # only s2 (.881) is confident; s0, s1 never pass .75
        (0.9, [3, 3, 3], [0, 1, 1]),  # nobody exits: the full running mean
        (1.0, [3, 3, 3], [0, 1, 1]),
    ],
)
def test_early_exit(threshold, steps, preds):
    res = early_exit(LOGITS, LABELS, threshold)
    assert isinstance(res, EarlyExitResult)
    np.testing.assert_array_equal(res.exit_steps, steps)
    np.testing.assert_array_equal(res.predictions, preds)
    assert res.mean_steps == pytest.approx(np.mean(steps))
    assert res.accuracy == pytest.approx(np.mean(np.array(preds) == LABELS))


def test_early_exit_threshold_one_never_exits_even_if_softmax_rounds_to_one():
    x = np.array([[[100.0, 0.0], [0.0, 0.0]]])  # softmax max is exactly 1.0 in float64
    assert early_exit(x, [0], 1.0).exit_steps.tolist() == [2]
    assert early_exit(x, [0], 0.99).exit_steps.tolist() == [1]
    with pytest.raises(ValueError, match="threshold"):
        early_exit(x, [0], 1.5)


def test_early_exit_curve():
    curve = early_exit_curve(LOGITS, LABELS, [0.0, 0.75, 0.9])
    np.testing.assert_allclose(curve.thresholds, [0.0, 0.75, 0.9])
    np.testing.assert_allclose(curve.mean_steps, [1.0, 7 / 3, 3.0])
    np.testing.assert_allclose(curve.accuracy, [2 / 3, 2 / 3, 1.0])


def test_aurc_by_hand():
    # confidences .9 (right), .8 (wrong), .7 (right), .6 (wrong), given in shuffled order
    probs = np.array([[0.3, 0.7], [0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    labels = np.array([1, 0, 0, 0])
    # risk at coverage k = 1..4: 0, 1/2, 1/3, 2/4
    cov, risk = risk_coverage_curve(probs, labels, probs=True)
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 1 / 2, 1 / 3, 1 / 2])
    assert aurc(probs, labels, probs=True) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    # logits whose softmax are those probs give the same AURC; so do (N, C, T) per-step logits
    logits = np.log(probs)
    assert aurc(logits, labels) == pytest.approx(1 / 3)
    per_step = np.stack([logits - 1.0, logits + 1.0], axis=-1)  # mean over T = logits
    assert aurc(per_step, labels) == pytest.approx(1 / 3)
    assert aurc(torch.tensor(per_step), torch.tensor(labels)) == pytest.approx(1 / 3)


def test_aurc_ties_and_extremes():
    # .9 right, then two tied at .8 (one right, one wrong): expected error 1/2 per tied sample.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8]])
    labels = np.array([0, 0, 0])
    for order in ([0, 1, 2], [0, 2, 1]):
        assert aurc(probs[order], labels[order], probs=True) == pytest.approx(
            (0 + 0.5 / 2 + 1 / 3) / 3
        )
    assert aurc(probs, np.array([0, 0, 1]), probs=True) == 0.0  # all right
    assert aurc(probs, np.array([1, 1, 0]), probs=True) == 1.0  # all wrong


def test_per_class_accuracy():
    nan = math.nan
    np.testing.assert_allclose(per_class_accuracy(LOGITS, LABELS, num_classes=3), [1, 0.5, nan])
    np.testing.assert_allclose(per_class_accuracy(LOGITS, LABELS, t=3), [1.0, 1.0])
    np.testing.assert_allclose(
        per_class_accuracy(LOGITS, LABELS, t=2, cumulative=True, num_classes=3), [0.0, 0.5, nan]
    )
    np.testing.assert_allclose(per_class_accuracy(LOGITS, LABELS, t=2), [0.0, 1.0])
    with pytest.raises(ValueError, match="num_classes"):
        per_class_accuracy(LOGITS, LABELS, num_classes=1)


def test_argmax_agreement_and_max_abs_diff():
    other = LOGITS.copy()
    other[2, 1, 0] = 3.0  # sample 2, step 1 now picks class 1 instead of 0
    other[0, 0, 2] = 2.5  # changes a value but not the argmax
    assert argmax_agreement(LOGITS, other) == pytest.approx(8 / 9)
    assert argmax_agreement(LOGITS, torch.tensor(LOGITS)) == 1.0
    assert max_abs_diff(LOGITS, other) == pytest.approx(3.0)
    assert max_abs_diff(LOGITS, LOGITS) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        max_abs_diff(LOGITS, LOGITS[:2])
    with pytest.raises(ValueError, match="same shape"):
        argmax_agreement(LOGITS, LOGITS[:, :, :2])


def test_input_validation():
    with pytest.raises(ValueError, match=r"3-D \(N, C, T\)"):
        per_step_accuracy(LOGITS[0], LABELS)
    with pytest.raises(ValueError, match=r"\(N,\) = \(3,\)"):
        cumulative_accuracy(LOGITS, LABELS[:2])
    with pytest.raises(TypeError, match="integer"):
        per_step_accuracy(LOGITS, LABELS.astype(float))


def test_running_probabilities_by_hand():
    # step 1: logits (0, ln 3) -> (1/4, 3/4);
    # step 2 adds (0, -ln 3): running mean (0, 0) -> (1/2, 1/2)
    ln3 = np.log(3.0)
    logits = np.array([[[0.0, 0.0], [ln3, -ln3]]])  # (N=1, C=2, T=2)
    p = running_probabilities(logits)
    assert p.shape == (1, 2, 2)
    np.testing.assert_allclose(p[0, :, 0], [0.25, 0.75])
    np.testing.assert_allclose(p[0, :, 1], [0.5, 0.5])
