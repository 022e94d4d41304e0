"""Synaptic operations (SynOps) per sample and step: spike counts x fan-out, an energy proxy.

Every spike that enters a weighted layer is delivered to each synapse it drives: one SynOp per
synapse (one accumulate on Loihi). The SynOps of a layer at a step are therefore
``sum_i spikes_i * fanout_i`` over its input neurons ``i``, where the fan-out is exact:

* dense: every input drives all ``out`` neurons, ``fanout = out``;
* convolution (kernel k, stride s, padding p, dilation d): input pixel (y, x) is inside the
  receptive field of ``ny(y) * nx(x)`` output positions, each with ``out_channels / groups``
  channels, so ``fanout(y, x) = out_channels / groups * ny(y) * nx(x)`` (about
  ``out_channels * k^2 / s^2`` inside the image, fewer at the border: :func:`axis_fanout`);
* pooling (SLAYER's ``Pool`` synapse, applied per channel): as a convolution with one output
  channel per input channel.

Counting is structural (a zero weight still counts). The input layer's spikes (the binary
event frames) times the first layer's fan-out are included, and so is the readout layer (real
accumulates, even though the readout itself never spikes).

Time alignment: with ``delay_shift`` every spiking block delays its output by one step, so the
input of the ``k``-th weighted block at raw column ``j`` belongs to input frame ``j - d_k``,
where ``d_k`` is the number of delay-shifted blocks before it. :func:`align_steps` shifts each
layer's counts so that step ``t`` holds the SynOps caused by input frame ``t``; the work the
pipeline does after the last reported step (it reaches no reported logit) is dropped.
``cumulative`` SynOps up to ``t`` are what a sample costs when it exits at ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- pure functions


def axis_fanout(
    n_in: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """For each of ``n_in`` input positions along one axis, how many output positions of a
    convolution read it (int64 array of shape (n_in,))."""
    if min(n_in, kernel, stride, dilation) < 1 or padding < 0:
        raise ValueError(
            f"bad convolution geometry: n_in={n_in}, kernel={kernel}, stride={stride}, "
            f"padding={padding}, dilation={dilation}"
        )
    n_out = (n_in + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    counts = np.zeros(n_in, dtype=np.int64)
    for o in range(max(n_out, 0)):
        for j in range(kernel):
            i = o * stride - padding + j * dilation
            if 0 <= i < n_in:
                counts[i] += 1
    return counts


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


def align_steps(per_step: np.ndarray, offset: int, timesteps: int) -> np.ndarray:
    """Raw columns ``[offset, offset + timesteps)`` of (N, T_raw) counts, zero-padded: the counts
    caused by input frames ``0 .. timesteps - 1`` of a layer ``offset`` delay steps deep."""
    a = np.asarray(per_step, dtype=np.float64)
    out = np.zeros((a.shape[0], timesteps), dtype=np.float64)
    part = a[:, offset : offset + timesteps]
    out[:, : part.shape[1]] = part
    return out


def ops_at_exit(per_step: np.ndarray, exit_steps: np.ndarray) -> np.ndarray:
    """SynOps each sample spends when it stops after ``exit_steps[n]`` (1-based) steps:
    ``cumsum(per_step[n])[exit_steps[n] - 1]``, shape (N,)."""
    cum = np.cumsum(np.asarray(per_step, dtype=np.float64), axis=1)
    e = np.asarray(exit_steps, dtype=np.int64)
    if e.shape != (cum.shape[0],) or (e.size and (e.min() < 1 or e.max() > cum.shape[1])):
        raise ValueError(f"exit_steps must be (N,) = ({cum.shape[0]},) in [1, {cum.shape[1]}]")
    return cum[np.arange(cum.shape[0]), e - 1]


# ----------------------------------------------------------------------------- SLAYER models


def block_fanout(block: Any, in_shape: Sequence[int]) -> float | np.ndarray:
    """Fan-out of the input neurons of a SLAYER block with a ``synapse``.

    ``in_shape``: the block's input shape without batch and time, e.g. (C, H, W) or (F,).
    Returns a scalar (dense) or an (H, W) map (conv, pool). Geometry comes from the synapse
    weight (``(out, in/groups, kh, kw, 1)``) and its stride/padding/dilation.
    """
    from lava.lib.dl import slayer

    syn = block.synapse
    w = tuple(syn.weight.shape)
    if isinstance(syn, slayer.synapse.Dense):
        return float(w[0])
    if len(in_shape) != 3:
        raise ValueError(f"{type(syn).__name__}: expected a (C, H, W) input, got {in_shape}")
    per_group = 1 if isinstance(syn, slayer.synapse.Pool) else w[0] // int(syn.groups)
    return conv_fanout(
        in_shape[1:], per_group, w[2:4], syn.stride[:2], syn.padding[:2], syn.dilation[:2]
    )


class SynOpsCounter:
    """Forward pre-hooks on every weighted block of a :class:`tks_lava.models.SpikingNet`.

    Use as a context manager around forward passes; every pass adds its per-layer, per-sample,
    per-step SynOps and input spike counts (aligned to input frames, see module docstring)::

        with SynOpsCounter(model, timesteps=T) as counter:
            logits = model(frames)
        counter.per_layer  # {layer name: (N, T) SynOps}
    """

    def __init__(self, model: Any, timesteps: int) -> None:
        self.model = model
        self.timesteps = int(timesteps)
        self.handles: list[Any] = []
        self.ops: dict[str, list[np.ndarray]] = {}
        self.spikes: dict[str, list[np.ndarray]] = {}
        self._fanouts: dict[tuple, Any] = {}

    def layer_names(self) -> list[str]:
        return [name for name, _, _ in self._weighted()]

    def _weighted(self) -> list[tuple[str, Any, int]]:
        out, delay = [], 0
        for i, block in enumerate(self.model.blocks):
            if getattr(block, "synapse", None) is not None:
                out.append((f"{i}:{type(block).__name__.lower()}", block, delay))
            delay += bool(getattr(block, "delay_shift", False))
        return out

    def __enter__(self) -> SynOpsCounter:
        for name, block, delay in self._weighted():
            self.ops[name], self.spikes[name] = [], []
            self.handles.append(block.register_forward_pre_hook(self._hook(name, block, delay)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, name: str, block: Any, delay: int):  # noqa: ANN202 - torch hook
        def hook(module: Any, args: tuple) -> None:
            x = args[0].detach().cpu().numpy()
            key = (name, x.shape[1:-1])
            if key not in self._fanouts:
                self._fanouts[key] = block_fanout(block, x.shape[1:-1])
            ops = synaptic_ops(x, self._fanouts[key])
            spikes = x.reshape(x.shape[0], -1, x.shape[-1]).sum(axis=1)
            self.ops[name].append(align_steps(ops, delay, self.timesteps))
            self.spikes[name].append(align_steps(spikes, delay, self.timesteps))

        return hook

    @property
    def per_layer(self) -> dict[str, np.ndarray]:
        """SynOps (N, T) per weighted layer, over every sample seen."""
        return {k: np.concatenate(v) for k, v in self.ops.items() if v}

    @property
    def input_spikes(self) -> dict[str, np.ndarray]:
        """Spikes (N, T) entering each weighted layer (layer 0: the binary input frames)."""
        return {k: np.concatenate(v) for k, v in self.spikes.items() if v}

    def total(self) -> np.ndarray:
        """SynOps (N, T) of the whole network."""
        return sum(self.per_layer.values())
