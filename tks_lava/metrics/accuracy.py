"""Evaluation metrics on per-step outputs (``docs/tks-method.md``, section "Evaluation").

Pure functions on per-step logits of shape ``(N, C, T)`` (batch, classes, time; SLAYER's
time-last layout) and integer labels ``(N,)``. Inputs may be numpy arrays or torch tensors
(detached and moved to the CPU here; torch is not imported); results are numpy arrays or Python
floats, computed in float64. Time indices ``t`` are 1-based step counts: ``t`` means "after the
first t steps".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "EXIT_THRESHOLDS",
    "EarlyExitCurve",
    "EarlyExitResult",
    "accuracy_at",
    "argmax_agreement",
    "aurc",
    "check_threshold",
    "cumulative_accuracy",
    "cumulative_logits",
    "early_exit",
    "early_exit_curve",
    "max_abs_diff",
    "per_class_accuracy",
    "per_step_accuracy",
    "risk_coverage_curve",
    "running_probabilities",
    "should_exit",
]

#: confidence thresholds of an early-exit sweep (figures and benchmarks): coarse where little
#: changes, fine near 1 where the last frames are decided; 1.0 never exits early
EXIT_THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)


def _np(x: Any) -> np.ndarray:
    """numpy view of an array or a torch tensor (floating tensors as float64)."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.double()
        x = x.numpy()
    return np.asarray(x)


def _logits(logits: Any) -> np.ndarray:
    a = _np(logits)
    if a.ndim != 3:
        raise ValueError(
            f"logits must be 3-D (N, C, T) = (batch, classes, time), got shape {a.shape}"
        )
    if 0 in a.shape:
        raise ValueError(f"logits must be non-empty, got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _labels(labels: Any, n: int) -> np.ndarray:
    y = _np(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape (N,) = ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must hold integer class indices, got dtype {y.dtype}")
    return y


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def cumulative_logits(logits: Any) -> np.ndarray:
    r"""Running mean over time: ``out[..., t-1] = logits[..., :t].mean(-1)``, same shape (N, C, T).

    The output of a model stopped after t steps (the usual SNN readout is the mean over t).
    """
    a = _logits(logits)
    return np.cumsum(a, axis=-1) / np.arange(1, a.shape[-1] + 1)


def running_probabilities(logits: Any) -> np.ndarray:
    """Softmax over classes of the running mean (:func:`cumulative_logits`), (N, C, T): the
    class probabilities of a model stopped after each step (what early exit thresholds)."""
    return _softmax(cumulative_logits(logits), axis=1)


def per_step_accuracy(logits: Any, labels: Any) -> np.ndarray:
    """Accuracy of each step on its own, ``argmax_c logits[:, c, t]``: shape (T,) (paper Fig. 4)."""
    a = _logits(logits)
    y = _labels(labels, a.shape[0])
    return (a.argmax(axis=1) == y[:, None]).mean(axis=0)


def cumulative_accuracy(logits: Any, labels: Any) -> np.ndarray:
    """Accuracy of the running mean after t = 1..T steps: shape (T,) (paper Fig. 3a)."""
    a = _logits(logits)
    y = _labels(labels, a.shape[0])
    return (cumulative_logits(a).argmax(axis=1) == y[:, None]).mean(axis=0)


def _check_t(t: int, steps: int) -> int:
    if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 1 <= t <= steps:
        raise ValueError(f"t must be an integer step count in [1, T] = [1, {steps}], got {t!r}")
    return int(t)


def accuracy_at(logits: Any, labels: Any, t: int) -> float:
    """Accuracy of the running mean of the first ``t`` steps, ``1 <= t <= T``."""
    a = _logits(logits)
    return float(cumulative_accuracy(a, labels)[_check_t(t, a.shape[-1]) - 1])


class EarlyExitResult(NamedTuple):
    """Outcome of confidence-based early exit.

    Parameters:
        accuracy: fraction of samples whose prediction at exit is correct.
        mean_steps: mean number of steps used.
        exit_steps: (N,) steps used per sample, in [1, T].
        predictions: (N,) predicted class at exit.
    """

    accuracy: float
    mean_steps: float
    exit_steps: np.ndarray
    predictions: np.ndarray


class EarlyExitCurve(NamedTuple):
    """Early exit over a sweep of thresholds; each field has shape (K,)."""

    thresholds: np.ndarray
    mean_steps: np.ndarray
    accuracy: np.ndarray


def check_threshold(threshold: float, name: str = "threshold") -> float:
    """``threshold`` as a float, or a ValueError naming it (``name``: the option a user set)
    unless it lies in [0, 1]; the one check of an early-exit threshold (the post-hoc rule, the
    Lava controller and run_netx)."""
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {threshold}")
    return float(threshold)


def _exit(cum: np.ndarray, conf: np.ndarray, y: np.ndarray, threshold: float) -> EarlyExitResult:
    stop = conf > threshold  # (N, T)
    stop[:, -1] = True
    idx = stop.argmax(axis=1)  # first True
    pred = cum.argmax(axis=1)[np.arange(len(y)), idx]
    steps = idx + 1
    return EarlyExitResult(float((pred == y).mean()), float(steps.mean()), steps, pred)


def early_exit(logits: Any, labels: Any, threshold: float) -> EarlyExitResult:
    r"""Stop each sample at the first step t whose running-mean output is confident enough.

    Exit step :math:`t^*_n = \min\{t : \max_c \mathrm{softmax}(\bar o_{n,\le t})_c > \theta\}`,
    or T if there is none; the prediction is :math:`\arg\max_c \bar o_{n,\le t^*_n}`. The
    comparison is strict, so ``threshold=1.0`` always runs all T steps.
    """
    a = _logits(logits)
    y = _labels(labels, a.shape[0])
    cum = cumulative_logits(a)  # running_probabilities(a) is softmax(cum): computed once
    return _exit(cum, _softmax(cum, axis=1).max(axis=1), y, check_threshold(threshold))


def should_exit(logits: Any, steps: int, threshold: float) -> np.ndarray:
    """The rule of :func:`early_exit` for a model that has run ``steps`` (1-based) steps: True
    per sample when the running-mean softmax after that step is confident (> ``threshold``) or
    ``steps`` is the last one. ``logits`` (N, C, T) needs only columns ``< steps`` (later ones
    are ignored), so a controller that sees one step at a time decides exactly as the post-hoc
    analysis of the full run does."""
    a = _logits(logits)
    t = _check_t(steps, a.shape[-1])
    conf = running_probabilities(a)[:, :, t - 1].max(axis=1)
    return (conf > check_threshold(threshold)) | (t == a.shape[-1])


def early_exit_curve(logits: Any, labels: Any, thresholds: Any) -> EarlyExitCurve:
    """:func:`early_exit` for each threshold in ``thresholds`` (accuracy vs. mean steps)."""
    a = _logits(logits)
    y = _labels(labels, a.shape[0])
    ths = np.atleast_1d(_np(thresholds)).astype(np.float64)
    cum = cumulative_logits(a)
    conf = _softmax(cum, axis=1).max(axis=1)  # = running_probabilities(a), cum computed once
    res = [_exit(cum, conf, y, check_threshold(th)) for th in ths]
    return EarlyExitCurve(
        ths, np.array([r.mean_steps for r in res]), np.array([r.accuracy for r in res])
    )


def _final_probs(scores: Any, probs: bool) -> np.ndarray:
    """(N, C) probabilities from (N, C, T) logits (mean over T), (N, C) logits, or (N, C) probs."""
    s = _np(scores).astype(np.float64)
    if s.ndim == 3:
        if probs:
            raise ValueError("probs=True expects (N, C) probabilities, got a 3-D array")
        s = _logits(s).mean(axis=-1)
    elif s.ndim != 2 or 0 in s.shape:
        raise ValueError(f"expected logits (N, C, T) or (N, C), got shape {s.shape}")
    elif not probs:
        s = _softmax(s, axis=1)
    return s


def risk_coverage_curve(scores: Any, labels: Any, probs: bool = False) -> tuple[np.ndarray, ...]:
    r"""Risk-coverage curve with max softmax probability as confidence (Geifman et al. 2018).

    ``scores``: per-step logits (N, C, T) (the final mean over T is used), final logits (N, C),
    or probabilities (N, C) with ``probs=True``. Samples are sorted by confidence, most
    confident first; at coverage k/N, k = 1..N, the risk is the error rate among the k most
    confident. Tied confidences are handled by the expectation over random orderings within the
    tie (each tied sample counts as the tie group's mean error), so the result is order-free.
    Returns ``(coverage, risk)``, each (N,).
    """
    p = _final_probs(scores, probs)
    y = _labels(labels, p.shape[0])
    conf = p.max(axis=1)
    err = (p.argmax(axis=1) != y).astype(np.float64)
    order = np.argsort(-conf, kind="stable")
    conf, err = conf[order], err[order]
    _, start, inverse = np.unique(-conf, return_index=True, return_inverse=True)
    group_err = np.add.reduceat(err, start) / np.diff(np.append(start, len(err)))
    k = np.arange(1, len(err) + 1)
    return k / len(err), np.cumsum(group_err[inverse]) / k


def aurc(scores: Any, labels: Any, probs: bool = False) -> float:
    r"""Area under the risk-coverage curve (Geifman, Uziel, El-Yaniv, ICLR 2019, arXiv 1805.08206).

    .. math:: \mathrm{AURC} = \frac1N\sum_{k=1}^{N} \frac{\#\{\text{errors among the k most
        confident}\}}{k}

    with max softmax probability as confidence (see :func:`risk_coverage_curve` for inputs and
    ties). A fraction in [0, 1]; lower is better (papers often report it x1000).
    """
    return float(risk_coverage_curve(scores, labels, probs)[1].mean())


def per_class_accuracy(
    logits: Any,
    labels: Any,
    t: int = 1,
    num_classes: int | None = None,
    cumulative: bool = False,
) -> np.ndarray:
    """Accuracy per true class at step ``t`` (1-based): shape (num_classes,), NaN if absent.

    ``cumulative=False`` uses step t alone (``logits[..., t-1]``); ``True`` uses the running
    mean of the first t steps. ``num_classes`` defaults to C.
    """
    a = _logits(logits)
    y = _labels(labels, a.shape[0])
    t = _check_t(t, a.shape[-1])
    k = a.shape[1] if num_classes is None else int(num_classes)
    if y.min() < 0 or y.max() >= k:
        raise ValueError(
            f"labels must lie in [0, num_classes) = [0, {k}), got [{y.min()}, {y.max()}]"
        )
    src = cumulative_logits(a) if cumulative else a
    correct = (src[..., t - 1].argmax(axis=1) == y).astype(np.float64)
    count = np.bincount(y, minlength=k).astype(np.float64)
    hits = np.bincount(y, weights=correct, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, hits / count, np.nan)


def argmax_agreement(a: Any, b: Any) -> float:
    """Fraction of (sample, step) pairs where ``a`` and ``b`` pick the same class (axis 1).

    For Lava vs. PyTorch parity: arrays of equal shape (N, C, T) (or (N, C)).
    """
    x, y = _np(a), _np(b)
    if x.shape != y.shape or x.ndim < 2:
        raise ValueError(f"a and b must have the same shape (N, C, ...), got {x.shape}, {y.shape}")
    return float((x.argmax(axis=1) == y.argmax(axis=1)).mean())


def max_abs_diff(a: Any, b: Any) -> float:
    """``max |a - b|`` over all entries of two equal-shape arrays (Lava vs. PyTorch parity)."""
    x, y = _np(a).astype(np.float64), _np(b).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape, got {x.shape} and {y.shape}")
    return float(np.abs(x - y).max()) if x.size else 0.0
