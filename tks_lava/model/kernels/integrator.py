"""The exact leaky integrator as a ``torch.autograd.Function``, and how CUBA neurons reach it.

A SLAYER CUBA neuron (``slayer.neuron.cuba.Neuron.dynamics``) does its bookkeeping (neuron shape,
per-batch state, decay clamping, optional norm, persistent state) and then calls the module
function ``leaky_integrator.dynamics`` twice: current (no reset), then voltage (reset at the
threshold). :func:`install` wraps that module function once; the wrapper calls SLAYER's own code
unless the call comes from an :class:`ExactCubaNeuron`, whose ``dynamics`` marks the calls it
makes (a context variable, so per thread) and otherwise runs SLAYER's method unchanged. Routing a
neuron = swapping its class to :class:`ExactCubaNeuron`; routing it back = swapping to SLAYER's
class. Parameters, buffers, ``state_dict``, export and ``isinstance`` checks are unchanged, and the
swapped class pickles by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from lava.lib.dl.slayer.neuron import cuba  # after tks_lava's own __init__ (its Lava fixes)
from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator

from tks_lava.model.kernels import cuba_numba, cuba_torch

#: backends of the exact integrator: "auto" = numba on the CPU, torch elsewhere
BACKENDS = ("auto", "numba", "torch")

_routed: ContextVar[bool] = ContextVar("tks_cuba_routed", default=False)
_backend: ContextVar[str] = ContextVar("tks_cuba_backend", default="auto")
_slayer_dynamics = leaky_integrator.dynamics


def backend_for(device: torch.device) -> str:
    """What "auto" picks on ``device``: "numba" on the CPU (where installed), else "torch"."""
    if device.type == "cpu" and not cuba_numba.UNAVAILABLE:
        return "numba"
    return "torch"


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force the exact integrator's backend in this thread (tests: the torch loop on the CPU)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    token = _backend.set(name)
    try:
        yield
    finally:
        _backend.reset(token)


def _per_row(values: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """One value, or ``values`` broadcast to the state's shape as torch broadcasts it."""
    if values.numel() == 1:
        return values.reshape(1)
    return torch.broadcast_to(values, shape)


def _grad_decay(
    grad_input: torch.Tensor, output: torch.Tensor, decay: torch.Tensor
) -> torch.Tensor:
    """The decay gradient with SLAYER's reduction: summed over batch and time, then per channel
    (or over everything for one shared decay), the same ops in the same order."""
    grad = grad_input[..., 1:] * output[..., :-1]
    if torch.numel(decay) == 1:
        return torch.sum(grad.flatten(), dim=0, keepdim=True)
    grad = torch.sum(grad, dim=[0, -1])
    if grad.dim() != 1:
        grad = torch.sum(grad.reshape(grad.shape[0], -1), dim=1)
    return grad


class LeakyIntegrator(torch.autograd.Function):
    """``_li_dynamics_fwd`` / ``_li_dynamics_bwd`` bit for bit, compiled (numba) or as a torch
    loop. Arguments as SLAYER's ``_LIDynamics`` plus the backend ("auto", "numba", "torch")."""

    @staticmethod
    def forward(
        ctx: Any,
        input: torch.Tensor,
        decay: torch.Tensor,
        state: torch.Tensor,
        threshold: float,
        w_scale: int,
        backend: str = "auto",
    ) -> torch.Tensor:
        backend = backend_for(input.device) if backend == "auto" else backend
        if backend == "numba" and (input.device.type != "cpu" or cuba_numba.UNAVAILABLE):
            raise ValueError(
                f"the numba integrator runs on the CPU where numba imports (input on "
                f"{input.device}; {cuba_numba.UNAVAILABLE or 'numba ok'}); use backend 'torch'"
            )
        shape = input.shape[:-1]
        decay_int = _per_row((1 << 12) - decay.detach().to(torch.int64), shape)
        state_int = torch.broadcast_to((state * w_scale).detach().to(torch.int64), shape)
        scaled = threshold * w_scale
        kernel = cuba_numba if backend == "numba" else cuba_torch
        output = kernel.forward(input, decay_int, state_int, w_scale, float(scaled), scaled > 0)
        ctx.backend = backend
        ctx.save_for_backward(decay, output if ctx.needs_input_grad[1] else None)
        return output

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        decay, output = ctx.saved_tensors
        coef = _per_row(1 - decay / (1 << 12), grad_output.shape[:-1])
        kernel = cuba_numba if ctx.backend == "numba" else cuba_torch
        grad_input = kernel.backward(grad_output, coef)
        grad_decay = _grad_decay(grad_input, output, decay) if ctx.needs_input_grad[1] else None
        return grad_input, grad_decay, None, None, None, None


def exact_dynamics(
    input: torch.Tensor,
    decay: torch.Tensor,
    state: torch.Tensor,
    w_scale: int,
    threshold: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """``leaky_integrator.dynamics`` with the exact integrator (same arguments and defaults)."""
    if threshold is None:
        threshold = -1  # SLAYER's "no reset"
    if torch.numel(state) == 1:
        state = state * torch.ones(input.shape[:-1], device=input.device)
    return LeakyIntegrator.apply(input, decay, state, threshold, w_scale, backend)


def _dispatch(input, decay, state, w_scale, threshold=None, debug=False):  # noqa: ANN001, ANN202
    """Stands in for ``leaky_integrator.dynamics``: the exact integrator for calls made by an
    :class:`ExactCubaNeuron`, SLAYER's own for everything else (and for what we do not cover:
    debug mode, dtypes other than float32, a per-neuron threshold tensor)."""
    plain = threshold is None or not torch.is_tensor(threshold) or threshold.numel() == 1
    if not _routed.get() or debug or input.dtype != torch.float32 or not plain:
        return _slayer_dynamics(input, decay, state, w_scale, threshold, debug)
    if torch.is_tensor(threshold):
        threshold = float(threshold)
    return exact_dynamics(input, decay, state, w_scale, threshold, _backend.get())


def install() -> None:
    """Put :func:`_dispatch` in place of ``leaky_integrator.dynamics`` (once; transparent for
    every neuron that is not an :class:`ExactCubaNeuron`)."""
    if leaky_integrator.dynamics is not _dispatch:
        leaky_integrator.dynamics = _dispatch


class ExactCubaNeuron(cuba.Neuron):
    """SLAYER's CUBA neuron whose two integrator calls run the exact kernels."""

    def dynamics(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        install()
        token = _routed.set(True)
        try:
            return super().dynamics(input)
        finally:
            _routed.reset(token)


def route(model: torch.nn.Module, exact: bool) -> int:
    """Swap every CUBA neuron of ``model`` to :class:`ExactCubaNeuron` (``exact``) or back to
    SLAYER's class; returns how many neurons it found. Subclasses of SLAYER's neuron made by
    someone else are left alone (their own ``dynamics`` may differ)."""
    count = 0
    for module in model.modules():
        if type(module) in (cuba.Neuron, ExactCubaNeuron):
            module.__class__ = ExactCubaNeuron if exact else cuba.Neuron
            count += 1
    return count


def routed_kernels(model: torch.nn.Module) -> str:
    """ "exact" if every CUBA neuron of ``model`` is routed, "slayer" if none is, else "mixed"."""
    kinds = {type(m) is ExactCubaNeuron for m in model.modules() if isinstance(m, cuba.Neuron)}
    if kinds == {True}:
        return "exact"
    return "slayer" if kinds <= {False} else "mixed"
