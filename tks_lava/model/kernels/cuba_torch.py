"""SLAYER's leaky-integrator step as a time loop of whole-tensor integer ops, on any device.

The fixed-point rules of lava-dl's CPU loop (``leaky_integrator._li_dynamics_fwd``, called twice
per CUBA neuron: current with no reset, then voltage with the spike reset), which both exact
kernels reproduce bit for bit and which Lava computes too:

* the state is an int64 ``y`` scaled by ``w_scale`` (4096 for CUBA), starting at
  ``int64(state * w_scale)``;
* per step ``y = rtz(y * (4096 - decay), 12) + int64(float32(w_scale) * x[t])``, where ``rtz``
  shifts right rounding toward zero, ``decay`` is the quantised decay truncated to an integer, and
  the float32 product is truncated toward zero;
* the output is ``float32(y) / w_scale`` (the value before reset), float32;
* reset (voltage only, when ``threshold * w_scale > 0``): ``y = 0`` where ``float32(y) >=
  float32(threshold * w_scale)`` - torch compares an int64 tensor with a Python float in float32,
  so ties and states past 2**24 round as they do there;
* backward ignores the reset: ``g[T-1] = go[T-1]``, ``g[n] = a * g[n+1] + go[n]`` with ``a =
  1 - decay / 4096`` in float32, a multiply then an add.

SLAYER's CUDA kernel differs (int32 state, ``v >= int(threshold)``): Lava matches the CPU rules,
so on a GPU this loop is the exact path. ``decay``/``coef``/``state`` broadcast against the
state's shape as torch broadcasts them.
"""

from __future__ import annotations

import torch


def forward(
    x: torch.Tensor,
    decay_int: torch.Tensor,
    state_int: torch.Tensor,
    w_scale: float,
    threshold: float,
    reset: bool,
) -> torch.Tensor:
    """Integrator output for ``x`` (..., T) float32, same shape and device (see module doc)."""
    xt = x.detach().movedim(-1, 0).contiguous()
    out = torch.empty_like(xt)
    y = state_int.to(device=x.device, dtype=torch.int64).expand(xt.shape[1:])
    decay = decay_int.to(device=x.device, dtype=torch.int64)
    th = torch.tensor(threshold, dtype=torch.float32, device=x.device)
    for n in range(xt.shape[0]):
        y = torch.div(y * decay, 4096, rounding_mode="trunc") + (xt[n] * w_scale).to(torch.int64)
        yf = y.to(torch.float32)
        torch.div(yf, w_scale, out=out[n])
        if reset:
            y = y.masked_fill(yf >= th, 0)
    return out.movedim(0, -1).contiguous()


def backward(grad_output: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Gradient at the integrator's input for ``grad_output`` (..., T) float32 (see module doc)."""
    gt = grad_output.detach().movedim(-1, 0).contiguous()
    grad_in = torch.empty_like(gt)
    a = coef.to(device=gt.device, dtype=torch.float32)
    g = gt[-1]
    grad_in[-1] = g
    for n in range(gt.shape[0] - 2, -1, -1):
        g = a * g + gt[n]
        grad_in[n] = g
    return grad_in.movedim(0, -1).contiguous()
