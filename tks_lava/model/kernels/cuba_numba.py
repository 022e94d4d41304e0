"""SLAYER's leaky-integrator step, compiled for the CPU with numba (one loop per neuron).

lava-dl runs :func:`~lava.lib.dl.slayer.neuron.dynamics.leaky_integrator._li_dynamics_fwd` and
``_li_dynamics_bwd`` as Python loops over time, each step a handful of whole-tensor torch ops.
These kernels step tiles of neurons through time in the same fixed-point arithmetic, so every
output bit is the same (see :mod:`tks_lava.model.kernels.cuba_torch` for the rules, stated once):

* forward, per step: ``y = rtz(y * decay_int, 12) + int64(float32(w_scale) * x)``; output
  ``float32(y) / w_scale``; reset ``y = 0`` where ``float32(y) >= float32(threshold)``;
* backward: ``g[T-1] = go[T-1]``, ``g[n] = a * g[n+1] + go[n]`` in float32 (a multiply then an
  add, never fused), ``a = float32(1 - decay / 4096)``.

Rows are the state's elements in C order; the decay is one value or one per row (the caller
broadcasts it as torch would). numba wheels bundle LLVM, so no
compiler is needed at install or run time. Compiled code is cached on disk next to this file or
in numba's user cache when that is writable, and compiled in memory otherwise. The kernels release
the GIL; rows are split over ``torch.get_num_threads()`` threads (a pool of ours, safe to call
from several threads at once, unlike numba's own ``workqueue`` threading layer).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

try:
    import numba

    UNAVAILABLE = ""  #: why numba cannot be used here ("" when it can)
except ImportError as err:  # numba is a dependency; without it the torch loop runs on the CPU
    numba = None
    UNAVAILABLE = f"numba does not import ({err}); pip install 'numba>=0.68.1,<0.69'"
#: rows * steps below which one thread does the whole layer (thread hand-off costs ~10 us)
MIN_PARALLEL_WORK = 1 << 16
#: rows per time-major tile inside the kernels (fits L1 with 10-20 steps)
TILE = 256

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _jit(func: Callable[..., Any]) -> Callable[..., Any]:
    """``numba.njit(nogil=True)``, cached on disk where numba finds a writable cache folder."""
    try:
        return numba.njit(nogil=True, cache=True)(func)
    except RuntimeError:  # "cannot cache function ...: no locator available": read-only install
        return numba.njit(nogil=True, cache=False)(func)


def _forward_rows(x, decay_int, state, scale, inv, threshold, reset, out, start, stop):  # noqa: ANN001
    """Rows ``start:stop`` of the integrator (numba compiles it; the arguments are arrays).

    Rows go in tiles of :data:`TILE`, turned time-major in a small buffer so that the per-step
    loop runs over independent rows (vectorised) instead of along one row's dependency chain.
    ``inv`` = ``1 / scale`` when that is exact (a power of two), else 0 (divide).
    """
    k = decay_int.shape[0]
    steps = x.shape[1]
    y = np.empty(TILE, np.int64)
    d = np.empty(TILE, np.int64)
    xt = np.empty((steps, TILE), np.float32)
    ot = np.empty((steps, TILE), np.float32)
    for i0 in range(start, stop, TILE):
        nb = min(TILE, stop - i0)
        for j in range(nb):
            y[j] = state[i0 + j]
            d[j] = decay_int[(i0 + j) % k]
            for n in range(steps):
                xt[n, j] = x[i0 + j, n]
        for n in range(steps):
            for j in range(nb):
                p = y[j] * d[j]
                q = (p + ((p >> 63) & 4095)) >> 12  # shift right, rounding toward zero
                q += np.int64(scale * xt[n, j])
                qf = np.float32(q)
                ot[n, j] = qf * inv if inv != 0 else qf / scale
                y[j] = 0 if reset and qf >= threshold else q
        for j in range(nb):
            for n in range(steps):
                out[i0 + j, n] = ot[n, j]


def _backward_rows(grad_out, coef, grad_in, start, stop):  # noqa: ANN001
    """Rows ``start:stop`` of the reverse-time recurrence (float32 multiply, then add), in
    time-major tiles like :func:`_forward_rows`."""
    k = coef.shape[0]
    steps = grad_out.shape[1]
    a = np.empty(TILE, np.float32)
    g = np.empty((steps, TILE), np.float32)
    for i0 in range(start, stop, TILE):
        nb = min(TILE, stop - i0)
        for j in range(nb):
            a[j] = coef[(i0 + j) % k]
            for n in range(steps):
                g[n, j] = grad_out[i0 + j, n]
        for n in range(steps - 2, -1, -1):
            for j in range(nb):
                g[n, j] = a[j] * g[n + 1, j] + g[n, j]
        for j in range(nb):
            for n in range(steps):
                grad_in[i0 + j, n] = g[n, j]


if numba is not None:
    _forward_kernel = _jit(_forward_rows)
    _backward_kernel = _jit(_backward_rows)


def _split(rows: int, steps: int, run: Callable[[int, int], None]) -> None:
    """Call ``run(start, stop)`` over row chunks, one per torch intra-op thread."""
    global _pool, _pool_size
    threads = max(1, min(torch.get_num_threads(), os.cpu_count() or 1))
    if threads == 1 or rows * steps < MIN_PARALLEL_WORK or rows < threads:
        run(0, rows)
        return
    if _pool is None or _pool_size < threads:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tks-cuba")
        _pool_size = threads
    bounds = np.linspace(0, rows, threads + 1).astype(np.int64)
    futures = [
        _pool.submit(run, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    for future in futures:
        future.result()


def forward(
    x: torch.Tensor,
    decay_int: torch.Tensor,
    state_int: torch.Tensor,
    w_scale: float,
    threshold: float,
    reset: bool,
) -> torch.Tensor:
    """Integrator output for ``x`` (..., T) float32 on the CPU, same shape.

    ``decay_int`` int64 = ``4096 - decay``, one value or one per row; ``state_int`` int64, one
    per row; ``threshold``
    is the scaled threshold (``threshold * w_scale``), used only when ``reset``.
    """
    steps = x.shape[-1]
    rows = x.detach().reshape(-1, steps).contiguous().numpy()
    out = np.empty_like(rows)
    decay = decay_int.reshape(-1).contiguous().numpy()
    state = state_int.reshape(-1).contiguous().numpy()
    ws, th = np.float32(w_scale), np.float32(threshold)
    exact_inverse = float(w_scale) > 0 and np.frexp(float(w_scale))[0] == 0.5  # a power of two
    inv = np.float32(1.0 / float(w_scale)) if exact_inverse else np.float32(0.0)

    def run(start: int, stop: int) -> None:
        _forward_kernel(rows, decay, state, ws, inv, th, bool(reset), out, start, stop)

    _split(rows.shape[0], steps, run)
    return torch.from_numpy(out).reshape(x.shape)


def backward(grad_output: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Gradient at the integrator's input for ``grad_output`` (..., T) float32 on the CPU.

    ``coef`` float32 = ``1 - decay / 4096`` as torch computes it, one value or one per row.
    """
    steps = grad_output.shape[-1]
    rows = grad_output.detach().reshape(-1, steps).contiguous().numpy()
    grad_in = np.empty_like(rows)
    a = coef.detach().reshape(-1).to(torch.float32).contiguous().numpy()

    def run(start: int, stop: int) -> None:
        _backward_kernel(rows, a, grad_in, start, stop)

    _split(rows.shape[0], steps, run)
    return torch.from_numpy(grad_in).reshape(grad_output.shape)


def version() -> str:
    """numba's version, or why it is not there."""
    return f"numba {numba.__version__}" if numba is not None else UNAVAILABLE
