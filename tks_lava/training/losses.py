"""Training losses on per-step SNN outputs: TKS and the baselines it is compared with.

Every loss is a pure function of per-step logits ``logits`` of shape ``(N, C, T)`` (SLAYER's
time-last layout: batch, classes, time) and integer targets ``target`` of shape ``(N,)``, and
returns a scalar tensor. The math of each loss is written once, in its docstring; the method
definitions follow ``docs/tks-method.md`` (reference behaviour of Brain-Cog-Lab/TKS).

``make_loss(method, **hparams)`` selects a loss by its CLI name (see ``LOSSES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "LOSSES",
    "LossFn",
    "TKSTerms",
    "label_smoothing_loss",
    "lam_schedule",
    "make_loss",
    "mean_ce_loss",
    "tet_loss",
    "tks_components",
    "tks_loss",
]

TEACHER_REDUCE = ("sum", "mean")
NO_TEACHER = ("uniform", "skip")


def _check_inputs(logits: torch.Tensor, target: torch.Tensor) -> None:
    """Raise a ValueError/TypeError naming the problem if ``logits``/``target`` are malformed."""
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(
            f"logits and target must be torch tensors, got {type(logits).__name__} and "
            f"{type(target).__name__}"
        )
    if logits.dim() != 3:
        raise ValueError(
            f"logits must be 3-D (N, C, T) = (batch, classes, time), got shape "
            f"{tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    n, c, t = logits.shape
    if target.shape != (n,):
        raise ValueError(
            f"target must have shape (N,) = ({n},) to match logits of shape (N, C, T) = "
            f"{(n, c, t)}, got {tuple(target.shape)}"
        )
    if target.dtype == torch.bool or target.is_floating_point() or target.is_complex():
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if n == 0 or c == 0 or t == 0:
        raise ValueError(f"logits must be non-empty, got shape {(n, c, t)}")
    lo, hi = int(target.min()), int(target.max())
    if lo < 0 or hi >= c:
        raise ValueError(f"target values must lie in [0, C) = [0, {c}), got range [{lo}, {hi}]")


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def _check_tks_options(temperature: float, teacher_reduce: str, no_teacher: str) -> None:
    if not float(temperature) > 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if teacher_reduce not in TEACHER_REDUCE:
        raise ValueError(f"teacher_reduce must be one of {TEACHER_REDUCE}, got {teacher_reduce!r}")
    if no_teacher not in NO_TEACHER:
        raise ValueError(f"no_teacher must be one of {NO_TEACHER}, got {no_teacher!r}")


def mean_ce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Baseline: cross-entropy of the time-averaged output.

    .. math::
        L = \mathrm{mean}_n\, \mathrm{CE}(\bar o_n, y_n),\quad \bar o_n = \frac1T\sum_t o_{n,t}
    """
    _check_inputs(logits, target)
    return F.cross_entropy(logits.mean(dim=-1), target)


def tet_loss(logits: torch.Tensor, target: torch.Tensor, mse_weight: float = 1e-3) -> torch.Tensor:
    r"""TET loss: every step is fitted to the label, plus an MSE pull of the outputs towards 1.

    .. math::
        L = (1-w)\,\frac1T\sum_t \mathrm{mean}_n \mathrm{CE}(o_{n,t}, y_n)
            + w\, \mathrm{mean}_{n,c,t} (o_{n,c,t} - \phi)^2,\quad \phi = 1

    with ``w = mse_weight`` (the TET paper's lambda; named apart from TKS's ``lam``).

    Deng et al., "Temporal Efficient Training of Spiking Neural Network via Gradient
    Re-weighting", ICLR 2022 (https://openreview.net/forum?id=_XNtisL32jv).
    """
    _check_inputs(logits, target)
    _check_unit("mse_weight", mse_weight)
    n, _, t = logits.shape
    per_step_ce = F.cross_entropy(logits, target[:, None].expand(n, t))  # mean over n and t
    mse = F.mse_loss(logits, torch.ones_like(logits))
    return (1.0 - mse_weight) * per_step_ce + mse_weight * mse


def label_smoothing_loss(
    logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1
) -> torch.Tensor:
    r"""Cross-entropy of the time-averaged output against labels smoothed with ``s``.

    With :math:`p = \mathrm{softmax}(\bar o_n)`:

    .. math:: L = \mathrm{mean}_n\big[(1-s)(-\log p_{y_n}) + s\,\tfrac1C\sum_c -\log p_c\big]

    Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016 (arXiv 1512.00567).
    """
    _check_inputs(logits, target)
    _check_unit("smoothing", smoothing)
    return F.cross_entropy(logits.mean(dim=-1), target, label_smoothing=float(smoothing))


class TKSTerms(NamedTuple):
    """Breakdown of the TKS loss, for logging.

    Parameters:
        loss: ``(1 - lam) * ce + lam * tks`` (differentiable).
        ce: label term ``CE(mean_logits, target)`` (differentiable).
        tks: temporal self-distillation term ``L_tks`` (differentiable).
        teacher_frac: fraction of samples with at least one correct step (a float, no grad).
    """

    loss: torch.Tensor
    ce: torch.Tensor
    tks: torch.Tensor
    teacher_frac: float


def tks_components(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float,
    lam: float,
    teacher_reduce: str = "sum",
    detach_teacher: bool = False,
    no_teacher: str = "uniform",
    tau2: bool = True,
) -> TKSTerms:
    r"""Temporal Knowledge Sharing loss with its parts; see :func:`tks_loss` for the math."""
    _check_inputs(logits, target)
    _check_unit("lam", lam)
    _check_tks_options(temperature, teacher_reduce, no_teacher)
    tau = float(temperature)
    scale = tau**2 if tau2 else 1.0

    ce = F.cross_entropy(logits.mean(dim=-1), target)

    with torch.no_grad():
        mask = (logits.argmax(dim=1) == target[:, None]).to(logits.dtype)  # (N, T)
        count = mask.sum(dim=1)  # (N,) number of correct steps
    z = (logits * mask[:, None, :]).sum(dim=-1)  # (N, C); 0 -> uniform teacher
    if teacher_reduce == "mean":
        z = z / count.clamp(min=1.0)[:, None]
    if detach_teacher:
        z = z.detach()
    q = F.softmax(z / tau, dim=1)  # (N, C)
    soft_ce = -(q[:, :, None] * F.log_softmax(logits, dim=1)).sum(dim=1)  # (N, T)
    per_sample = soft_ce.mean(dim=1)  # mean over t: (N,)
    has_teacher = count > 0
    if no_teacher == "uniform":
        tks = scale * per_sample.mean()
    else:  # "skip": mean over the samples that have a teacher only; 0 if there are none
        w = has_teacher.to(logits.dtype)
        tks = scale * (per_sample * w).sum() / w.sum().clamp(min=1.0)
    loss = (1.0 - lam) * ce + lam * tks
    return TKSTerms(loss, ce, tks, float(has_teacher.float().mean()))


def tks_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float,
    lam: float,
    teacher_reduce: str = "sum",
    detach_teacher: bool = False,
    no_teacher: str = "uniform",
    tau2: bool = True,
) -> torch.Tensor:
    r"""Temporal Knowledge Sharing (TKS) loss: every step distils from the steps that are right.

    Reference definition (``docs/tks-method.md``; Dong, Zhao, Zeng, "Temporal Knowledge Sharing
    enable Spiking Neural Network Learning from Past and Future", IEEE Trans. AI 2024,
    arXiv 2304.06540; code Brain-Cog-Lab/TKS). With :math:`o_{n,t}\in\mathbb R^C`,
    :math:`\bar o_n = \frac1T\sum_t o_{n,t}` and temperature :math:`\tau`:

    .. math::
        m_{n,t} &= [\arg\max_c o_{n,c,t} = y_n] \\
        z_n &= \textstyle\sum_t m_{n,t}\, o_{n,t}
            \quad(\text{all-zero, i.e. a uniform teacher, if no step is correct}) \\
        q_n &= \mathrm{softmax}(z_n / \tau) \\
        L_{tks} &= \tau^2\, \frac1T\sum_t \mathrm{mean}_n
            \textstyle\sum_c -q_{n,c}\, \log\mathrm{softmax}(o_{n,t})_c \\
        L &= (1-\lambda)\, \mathrm{mean}_n \mathrm{CE}(\bar o_n, y_n) + \lambda\, L_{tks}

    The student is not divided by :math:`\tau`, every step (correct ones included) is a student,
    and gradient flows into the teacher :math:`z_n` (the mask itself is discrete).
    Ties in the argmax go to the lowest class index (``torch.argmax``).

    Parameters:
        temperature: :math:`\tau > 0` (paper: 5 on event data, 3 on static images).
        lam: :math:`\lambda \in [0, 1]`, usually ``lam_schedule(epoch, epochs, lam_max)``.
        teacher_reduce: ``'sum'`` (reference) or ``'mean'``: :math:`z_n` divided by the number
            of correct steps (still 0 when there is none).
        detach_teacher: ``False`` (reference) or ``True``: no gradient through :math:`z_n`.
        no_teacher: ``'uniform'`` (reference): samples with no correct step are fitted to the
            uniform teacher, and ``mean_n`` is over all N samples. ``'skip'``: those samples
            get only the label term; ``mean_n`` in :math:`L_{tks}` is over the samples with at
            least one correct step, and :math:`L_{tks} = 0` if there is none in the batch (the
            label term is always the mean over all N).
        tau2: ``True`` (reference): :math:`L_{tks}` carries the factor :math:`\tau^2`;
            ``False``: the factor is 1 (the term is the plain soft cross-entropy).
    """
    return tks_components(
        logits,
        target,
        temperature=temperature,
        lam=lam,
        teacher_reduce=teacher_reduce,
        detach_teacher=detach_teacher,
        no_teacher=no_teacher,
        tau2=tau2,
    ).loss


def lam_schedule(epoch: int, epochs: int, lam_max: float) -> float:
    r"""Linear TKS weight ramp :math:`\lambda(e) = \lambda_{max}\, e / E` for e = 0 .. E-1.

    Starts at 0 and reaches :math:`\lambda_{max}(E-1)/E` in the last epoch (reference code).
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not 0 <= epoch < epochs:
        raise ValueError(f"epoch must lie in [0, epochs) = [0, {epochs}), got {epoch}")
    _check_unit("lam_max", lam_max)
    return float(lam_max) * epoch / epochs


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "baseline": mean_ce_loss,
    "tet": tet_loss,
    "ls": label_smoothing_loss,
    "tks": tks_loss,
}
"""CLI method name -> loss function. Hyper-parameters are each function's keyword arguments."""

_HPARAMS: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "tet": ("mse_weight",),
    "ls": ("smoothing",),
    "tks": ("temperature", "lam", "teacher_reduce", "detach_teacher", "no_teacher", "tau2"),
}


@dataclass(frozen=True)
class LossFn:
    """A loss chosen by name with fixed hyper-parameters; call as ``fn(logits, target, lam=...)``.

    ``lam`` at call time is the epoch-dependent TKS weight (from :func:`lam_schedule`). Only
    ``'tks'`` uses it (``uses_lam``); the other methods accept and ignore it, so a trainer can
    always pass it. For ``'tks'`` a call-time ``lam`` overrides a ``lam`` given to
    :func:`make_loss`; one of the two is required. TET's own fixed weight is ``mse_weight``.
    """

    method: str
    hparams: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_lam(self) -> bool:
        return self.method == "tks"

    def __call__(
        self, logits: torch.Tensor, target: torch.Tensor, lam: float | None = None
    ) -> torch.Tensor:
        fn = LOSSES[self.method]
        if not self.uses_lam:
            return fn(logits, target, **self.hparams)
        kw = dict(self.hparams)
        if lam is not None:
            kw["lam"] = lam
        if "lam" not in kw:
            raise ValueError("method 'tks' needs lam: pass loss_fn(logits, target, lam=...)")
        return fn(logits, target, **kw)

    def terms(
        self, logits: torch.Tensor, target: torch.Tensor, lam: float | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss and its logged parts (TKS: ``ce``, ``tks``, ``teacher_frac``; others none)."""
        if not self.uses_lam:
            return self(logits, target, lam), {}
        kw = {**self.hparams, **({"lam": lam} if lam is not None else {})}
        t = tks_components(logits, target, **kw)
        return t.loss, {"ce": t.ce.item(), "tks": t.tks.item(), "teacher_frac": t.teacher_frac}


def make_loss(method: str, **hparams: Any) -> LossFn:
    """Select a loss by CLI name (``'baseline'``, ``'tet'``, ``'ls'``, ``'tks'``).

    ``hparams`` are the chosen function's keyword arguments (``tet``: ``mse_weight``; ``ls``:
    ``smoothing``; ``tks``: ``temperature`` (required), ``lam``, ``teacher_reduce``,
    ``detach_teacher``, ``no_teacher``, ``tau2``); unknown names raise a TypeError here, not
    mid-training.
    Example: ``loss_fn = make_loss('tks', temperature=5.0)`` then
    ``loss_fn(logits, target, lam=lam_schedule(epoch, epochs, 0.3))``.
    """
    if method not in LOSSES:
        raise ValueError(f"unknown loss method {method!r}; expected one of {sorted(LOSSES)}")
    unknown = set(hparams) - set(_HPARAMS[method])
    if unknown:
        raise TypeError(
            f"unknown hyper-parameter(s) {sorted(unknown)} for method {method!r}; "
            f"expected a subset of {list(_HPARAMS[method])}"
        )
    if method == "tks":
        if "temperature" not in hparams:
            raise TypeError("method 'tks' needs temperature=...")
        _check_tks_options(
            hparams["temperature"],
            hparams.get("teacher_reduce", "sum"),
            hparams.get("no_teacher", "uniform"),
        )
    if "lam" in hparams:
        _check_unit("lam", hparams["lam"])
    if "smoothing" in hparams:
        _check_unit("smoothing", hparams["smoothing"])
    return LossFn(method, dict(hparams))
