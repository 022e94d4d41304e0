"""Synaptic operations (SynOps): spike counts x exact fan-out, the energy proxy of a spiking run.

Every spike that enters a weighted layer is delivered to each synapse it drives: one SynOp per
synapse (one accumulate on Loihi). The SynOps of a layer at a step are therefore
``sum_i spikes_i * fanout_i`` over its input neurons ``i``, where the fan-out is exact:

* dense: every input drives all ``out`` neurons, ``fanout = out``;
* convolution (kernel k, stride s, padding p, dilation d): input pixel (y, x) is inside the
  receptive field of ``ny(y) * nx(x)`` output positions, each with ``out_channels / groups``
  channels, so ``fanout(y, x) = out_channels / groups * ny(y) * nx(x)`` (about
  ``out_channels * k^2 / s^2`` inside the image, fewer at the border: :func:`axis_fanout`);
* pooling (a per-channel sum): as a convolution with one output channel per input channel.

Counting is structural (a zero weight still counts). Used by the PyTorch benchmark counter
(``benchmarks/count_synops.py``) and by the Lava early-exit controller (:func:`lava_fanout`), which
counts the spikes the simulation actually produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def axis_taps(
    n_in: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """``(kernel, n_in)`` int64: how many output positions of a convolution read input position
    ``i`` through kernel tap ``j`` (0 or 1) along one axis; taps in cross-correlation order."""
    if min(n_in, kernel, stride, dilation) < 1 or padding < 0:
        raise ValueError(
            f"bad convolution geometry: n_in={n_in}, kernel={kernel}, stride={stride}, "
            f"padding={padding}, dilation={dilation}"
        )
    n_out = (n_in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    reads = np.zeros((kernel, n_in), dtype=np.int64)
    for o in range(max(n_out, 0)):
        for j in range(kernel):
            i = o * stride - padding + j * dilation
            if 0 <= i < n_in:
                reads[j, i] += 1
    return reads


def axis_fanout(
    n_in: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """For each of ``n_in`` input positions along one axis, how many output positions of a
    convolution read it (int64 array of shape (n_in,))."""
    return axis_taps(n_in, kernel, stride, padding, dilation).sum(axis=0)


def conv_fanout(
    in_hw: Sequence[int],
    out_per_group: int,
    kernel: Sequence[int],
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0),
    dilation: Sequence[int] = (1, 1),
) -> np.ndarray:
    """Synapses driven by one spike at each input pixel: float64 (H, W) map.

    ``out_per_group``: output channels each input channel connects to (``out / groups``; 1 for
    pooling).
    """
    geometry = (in_hw, kernel, stride, padding, dilation)
    ny, nx = (axis_fanout(*(int(g[a]) for g in geometry)) for a in (0, 1))
    return float(out_per_group) * np.outer(ny, nx).astype(np.float64)


def synaptic_ops(spikes: np.ndarray, fanout: float | np.ndarray) -> np.ndarray:
    """SynOps per sample and step: ``sum_i spikes[n, i..., t] * fanout[i...]``.

    ``spikes``: (N, *S, T) spike counts (0/1) of one layer's input neurons; ``fanout``: a scalar
    or an array broadcastable to ``S`` (e.g. (H, W) for S = (C, H, W)). Returns float64 (N, T).
    """
    s = np.asarray(spikes, dtype=np.float64)
    if s.ndim < 2:
        raise ValueError(f"spikes must be (N, ..., T), got shape {s.shape}")
    f = np.asarray(fanout, dtype=np.float64)
    inner = s.shape[1:-1]
    if f.ndim > len(inner) or (f.ndim and inner[len(inner) - f.ndim :] != f.shape):
        raise ValueError(f"fan-out of shape {f.shape} does not fit neurons of shape {inner}")
    n, t = s.shape[0], s.shape[-1]
    if f.ndim == 0:
        return s.reshape(n, -1, t).sum(axis=1) * float(f)
    lead = int(np.prod(inner[: len(inner) - f.ndim], dtype=np.int64))
    per_pos = s.reshape(n, lead, f.size, t).sum(axis=1)  # (N, positions, T)
    return np.einsum("npt,p->nt", per_pos, f.reshape(-1))


def is_diagonal(weight: np.ndarray, groups: int) -> bool:
    """True for a Lava conv weight ``(out, kx, ky, in)`` in which channel c feeds only channel c
    (how :func:`tks_lava.model.network.export_pool` writes a pool)."""
    c_out, _, _, c_in = weight.shape
    if groups != 1 or c_out != c_in or c_out < 2:
        return False
    off = weight.copy()
    off[np.arange(c_out), :, :, np.arange(c_in)] = 0
    return not off.any()


def lava_fanout(synapse: Any) -> float | np.ndarray:
    """Fan-out of the input neurons of a Lava ``Dense`` or ``Conv`` process.

    A diagonal conv (a pool exported as a conv) counts as the pool it computes: one synapse per
    nonzero kernel tap, as the PyTorch counter counts SLAYER's pool, not ``out`` channels of
    structural zeros per spike.

    Returns a scalar (dense) or an (X, Y) map in Lava's (X, Y, C) layout (conv). Geometry comes
    from the process's parameters (Lava's conv weight is ``(out, kx, ky, in / groups)``).
    """
    name = type(synapse).__name__
    p = synapse.proc_params
    if name == "Dense":
        return float(p["weights"].shape[0])
    if name == "Conv":
        w = np.asarray(p["weight"])  # Lava stores the flipped kernel: (out, kx, ky, in / groups)
        geometry = [np.broadcast_to(p[k], (2,)) for k in ("stride", "padding", "dilation")]
        if is_diagonal(w, int(p["groups"])):  # a pool exported as a conv: count the pool
            taps = (w[:, ::-1, ::-1, :] != 0).any(axis=(0, 3)).astype(np.int64)  # (kx, ky)
            vx, vy = (
                axis_taps(int(p["input_shape"][a]), w.shape[1 + a], *(int(g[a]) for g in geometry))
                for a in (0, 1)
            )
            return (vx.T @ taps @ vy).astype(np.float64)
        return conv_fanout(
            p["input_shape"][:2], w.shape[0] // int(p["groups"]), w.shape[1:3], *geometry
        )
    raise ValueError(f"cannot count SynOps of a Lava {name} process; Dense and Conv are supported")
