"""Losses against numbers computed by hand on tiny (N, C, T) tensors.

Two classes keep the logs easy: for a step output (a, b), log p_0 = -sp(b - a) and
log p_1 = -sp(a - b) with sp(x) = log(1 + e^x), so a soft cross-entropy against q is
H(q; a, b) = q_0 sp(b - a) + q_1 sp(a - b).
"""

import math

import pytest
import torch

from tks_lava.training.losses import (
    LOSSES,
    label_smoothing_loss,
    lam_schedule,
    make_loss,
    mean_ce_loss,
    tet_loss,
    tks_components,
    tks_loss,
)


def sp(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def H(q0: float, a: float, b: float) -> float:
    """Soft cross-entropy of q = (q0, 1 - q0) against softmax((a, b))."""
    return q0 * sp(b - a) + (1.0 - q0) * sp(a - b)


def nct(*samples):
    """(N, C, T) logits from per-sample lists of per-class time series."""
    return torch.tensor(samples, dtype=torch.float64)


# One sample, target 0: class 0 over time [2, 0], class 1 [0, 1].
# Step 0 output (2, 0) is correct, step 1 output (0, 1) is wrong; mean output (1, 0.5).
X1 = nct([[2.0, 0.0], [0.0, 1.0]])
Y0 = torch.tensor([0])
CE_X1 = sp(-0.5)  # CE((1, 0.5), 0)


def close(value: torch.Tensor, expected: float) -> None:
    assert value.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_mean_ce_loss_by_hand():
    close(mean_ce_loss(X1, Y0), CE_X1)
    # second sample, target 1: mean output (0, log 3) -> p_1 = 3/4
    x = torch.cat([X1, nct([[0.0, 0.0], [math.log(3), math.log(3)]])])
    close(mean_ce_loss(x, torch.tensor([0, 1])), (CE_X1 + math.log(4 / 3)) / 2)


def test_tet_loss_by_hand():
    per_step = (sp(-2.0) + sp(1.0)) / 2  # CE((2, 0), 0) and CE((0, 1), 0)
    mse = ((2 - 1) ** 2 + (0 - 1) ** 2 + (0 - 1) ** 2 + (1 - 1) ** 2) / 4
    close(tet_loss(X1, Y0, mse_weight=0.0), per_step)
    close(tet_loss(X1, Y0, mse_weight=0.5), 0.5 * per_step + 0.5 * mse)
    close(tet_loss(X1, Y0), (1 - 1e-3) * per_step + 1e-3 * mse)


def test_label_smoothing_by_hand():
    nll0, nll1 = sp(-0.5), sp(0.5)  # -log p_c of the mean output (1, 0.5)
    close(label_smoothing_loss(X1, Y0, smoothing=0.0), CE_X1)
    close(label_smoothing_loss(X1, Y0, smoothing=0.0), mean_ce_loss(X1, Y0).item())
    close(label_smoothing_loss(X1, Y0), 0.9 * nll0 + 0.1 * (nll0 + nll1) / 2)
    close(label_smoothing_loss(X1, Y0, smoothing=1.0), (nll0 + nll1) / 2)


@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0])
def test_tks_by_hand(tau):
    # teacher z = step 0's logits (2, 0); q_0 = sigmoid(2 / tau)
    q0 = sigmoid(2.0 / tau)
    l_tks = tau**2 * (H(q0, 2.0, 0.0) + H(q0, 0.0, 1.0)) / 2
    terms = tks_components(X1, Y0, temperature=tau, lam=0.3)
    close(terms.ce, CE_X1)
    close(terms.tks, l_tks)
    close(terms.loss, 0.7 * CE_X1 + 0.3 * l_tks)
    assert terms.teacher_frac == 1.0
    close(tks_loss(X1, Y0, temperature=tau, lam=0.3), 0.7 * CE_X1 + 0.3 * l_tks)


@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0])
def test_tks_without_tau2_factor_by_hand(tau):
    # same teacher as test_tks_by_hand, but L_tks is the plain soft cross-entropy (factor 1)
    q0 = sigmoid(2.0 / tau)
    l_tks = (H(q0, 2.0, 0.0) + H(q0, 0.0, 1.0)) / 2
    terms = tks_components(X1, Y0, temperature=tau, lam=0.3, tau2=False)
    close(terms.tks, l_tks)
    close(terms.loss, 0.7 * CE_X1 + 0.3 * l_tks)
    close(make_loss("tks", temperature=tau, tau2=False)(X1, Y0, lam=0.3), 0.7 * CE_X1 + 0.3 * l_tks)
    # 'skip' with no teacher in the batch stays 0 either way
    x = nct([[0.0, 0.0], [1.0, 2.0]])
    close(tks_components(x, Y0, temperature=tau, lam=0.5, no_teacher="skip", tau2=False).tks, 0.0)


def test_tks_no_correct_step_uses_uniform_teacher():
    # target 0 but class 1 wins at both steps: z = 0, q = (1/2, 1/2) whatever tau is
    x = nct([[0.0, 0.0], [1.0, 2.0]])
    ce = sp(1.5)  # CE((0, 1.5), 0)
    for tau in (1.0, 3.0):
        l_tks = tau**2 * (H(0.5, 0.0, 1.0) + H(0.5, 0.0, 2.0)) / 2
        terms = tks_components(x, Y0, temperature=tau, lam=0.5)
        close(terms.tks, l_tks)
        close(terms.loss, 0.5 * ce + 0.5 * l_tks)
        assert terms.teacher_frac == 0.0
    # 'skip': no sample has a teacher -> TKS term 0, only the label term remains
    skip = tks_components(x, Y0, temperature=3.0, lam=0.5, no_teacher="skip")
    close(skip.tks, 0.0)
    close(skip.loss, 0.5 * ce)


def test_tks_skip_averages_over_samples_with_a_teacher():
    tau = 2.0
    x = torch.cat([X1, nct([[0.0, 0.0], [1.0, 2.0]])])  # sample 1 has no correct step
    y = torch.tensor([0, 0])
    h_a = (H(sigmoid(1.0), 2.0, 0.0) + H(sigmoid(1.0), 0.0, 1.0)) / 2
    h_b = (H(0.5, 0.0, 1.0) + H(0.5, 0.0, 2.0)) / 2
    uni = tks_components(x, y, temperature=tau, lam=1.0)
    skip = tks_components(x, y, temperature=tau, lam=1.0, no_teacher="skip")
    close(uni.tks, tau**2 * (h_a + h_b) / 2)
    close(skip.tks, tau**2 * h_a)
    close(skip.ce, (CE_X1 + sp(1.5)) / 2)  # label term still over both samples
    assert uni.teacher_frac == skip.teacher_frac == 0.5


def test_tks_teacher_sum_vs_mean():
    # class 0 [2, 0, 1], class 1 [0, 1, 0], target 0: steps 0 and 2 are correct
    x = nct([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    tau = 1.5
    steps = [(2.0, 0.0), (0.0, 1.0), (1.0, 0.0)]
    q_sum = sigmoid(3.0 / tau)  # z = (3, 0)
    q_mean = sigmoid(1.5 / tau)  # z = (1.5, 0)
    for reduce, q0 in (("sum", q_sum), ("mean", q_mean)):
        expected = tau**2 * sum(H(q0, a, b) for a, b in steps) / 3
        close(tks_components(x, Y0, temperature=tau, lam=1.0, teacher_reduce=reduce).tks, expected)


def _grad(detach: bool, tau: float) -> torch.Tensor:
    x = X1.clone().requires_grad_(True)
    tks_loss(x, Y0, temperature=tau, lam=1.0, detach_teacher=detach).backward()
    return x.grad[0]


def test_tks_gradient_through_teacher():
    tau, T = 2.0, 2
    q = (sigmoid(1.0), 1 - sigmoid(1.0))  # teacher softmax((2, 0) / 2)
    p = [(sigmoid(2.0), sigmoid(-2.0)), (sigmoid(-1.0), sigmoid(1.0))]  # student softmax per step
    logp = [tuple(math.log(v) for v in pt) for pt in p]
    # detached teacher: dL/do_t = tau^2 / T * (p_t - q)
    student = torch.tensor(
        [[tau**2 / T * (p[t][c] - q[c]) for t in range(T)] for c in range(2)], dtype=torch.float64
    )
    g_det = _grad(True, tau)
    torch.testing.assert_close(g_det, student)
    # through the teacher (z = o_0):
    # dL/dz_j = -tau / T * q_j * sum_t (log p_tj - sum_c q_c log p_tc)
    mean_logp = [sum(q[c] * logp[t][c] for c in range(2)) for t in range(T)]
    dz = [-tau / T * q[j] * sum(logp[t][j] - mean_logp[t] for t in range(T)) for j in range(2)]
    expected = student.clone()
    expected[:, 0] += torch.tensor(dz, dtype=torch.float64)
    g_ref = _grad(False, tau)
    torch.testing.assert_close(g_ref, expected)
    assert not torch.allclose(g_ref[:, 0], g_det[:, 0])
    torch.testing.assert_close(g_ref[:, 1], g_det[:, 1])  # step 1 is not part of the teacher


def test_tks_lam_zero_equals_mean_ce():
    x = torch.randn(4, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    close(tks_loss(x, y, temperature=5.0, lam=0.0), mean_ce_loss(x, y).item())


def test_lam_schedule():
    assert lam_schedule(0, 10, 0.3) == 0.0
    assert lam_schedule(5, 10, 0.3) == pytest.approx(0.15)
    assert lam_schedule(9, 10, 0.3) == pytest.approx(0.3 * 9 / 10)
    for bad in [(10, 10, 0.3), (-1, 10, 0.3), (0, 0, 0.3), (0, 10, 1.5)]:
        with pytest.raises(ValueError):
            lam_schedule(*bad)


@pytest.mark.parametrize(
    "logits, target, kw, match",
    [
        (torch.zeros(2, 3), torch.tensor([0, 1]), {}, r"3-D \(N, C, T\)"),
        (torch.zeros(2, 3, 4), torch.tensor([0]), {}, r"shape \(N,\) = \(2,\)"),
        (torch.zeros(2, 3, 4), torch.tensor([[0, 1]]), {}, r"shape \(N,\)"),
        (torch.zeros(2, 3, 4), torch.tensor([0.0, 1.0]), {}, "integer"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 3]), {}, r"\[0, C\) = \[0, 3\)"),
        (torch.zeros(2, 3, 4, dtype=torch.long), torch.tensor([0, 1]), {}, "floating"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1]), {"temperature": 0.0}, "temperature"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1]), {"lam": 1.5}, "lam"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1]), {"lam": -0.1}, "lam"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1]), {"teacher_reduce": "max"}, "teacher_reduce"),
        (torch.zeros(2, 3, 4), torch.tensor([0, 1]), {"no_teacher": "drop"}, "no_teacher"),
    ],
)
def test_tks_validation(logits, target, kw, match):
    kw = {"temperature": 2.0, "lam": 0.5, **kw}
    with pytest.raises((ValueError, TypeError), match=match):
        tks_loss(logits, target, **kw)


def test_make_loss_registry():
    assert set(LOSSES) == {"tks", "baseline", "tet", "ls"}
    x = torch.randn(3, 4, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([3, 0, 1])
    base = make_loss("baseline")
    assert not base.uses_lam
    close(base(x, y, lam=0.7), mean_ce_loss(x, y).item())  # lam ignored
    close(make_loss("tet", mse_weight=0.1)(x, y, lam=0.7), tet_loss(x, y, mse_weight=0.1).item())
    close(make_loss("ls")(x, y), label_smoothing_loss(x, y).item())
    tks = make_loss("tks", temperature=5.0)
    assert tks.uses_lam
    close(tks(x, y, lam=0.2), tks_loss(x, y, temperature=5.0, lam=0.2).item())
    with pytest.raises(ValueError, match="needs lam"):
        tks(x, y)
    fixed = make_loss("tks", temperature=5.0, lam=0.3, detach_teacher=True)
    close(fixed(x, y), tks_loss(x, y, temperature=5.0, lam=0.3, detach_teacher=True).item())
    expected = tks_loss(x, y, temperature=5.0, lam=0.1, detach_teacher=True)
    close(fixed(x, y, lam=0.1), expected.item())
    with pytest.raises(ValueError, match="unknown loss method"):
        make_loss("kd")
    with pytest.raises(TypeError, match="smoothing"):
        make_loss("baseline", smoothing=0.1)
    with pytest.raises(TypeError, match="temperature"):
        make_loss("tks")
    with pytest.raises(ValueError, match="temperature"):
        make_loss("tks", temperature=-1.0)
