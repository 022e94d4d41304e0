"""SynOps of a PyTorch (SLAYER) model per sample and step, aligned to input frames.

The counting rule (spikes x exact fan-out) and the fan-out geometry are in
:mod:`tks_lava.metrics.synops`; this module hooks a
:class:`~tks_lava.model.network.SpikingNet` and aligns the
counts in time.

Time alignment: with ``delay_shift`` on (:meth:`SpikingNet.forward_padded`, and Lava) every
spiking block delays its output by one step, so the input of the ``k``-th weighted block at raw
column ``j`` belongs to input frame ``j - d_k``, where ``d_k`` is the number of delay-shifted
blocks before it; :meth:`SpikingNet.forward` switches the shifts off for the call, so there
``d_k = 0``. ``d_k`` is read when the hook fires, so both forwards count alike.
:func:`align_steps` shifts each layer's counts so that step ``t`` holds the SynOps caused by
input frame ``t``; the work the pipeline does after the last reported step (it reaches no
reported logit) is dropped.
``cumulative`` SynOps up to ``t`` are what a sample costs when it exits at ``t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tks_lava.metrics.synops import conv_fanout, synaptic_ops

# ----------------------------------------------------------------------------- time alignment


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
    geometry = (w[2:4], syn.stride[:2], syn.padding[:2], syn.dilation[:2])
    if isinstance(syn, slayer.synapse.Pool):
        # SLAYER's Pool appends size % k zero rows/columns before pooling: the last window of
        # an odd-sized input reads its last row too
        h, w_ = in_shape[1:]
        padded = (h + h % w[2], w_ + w_ % w[3])
        return conv_fanout(padded, 1, *geometry)[:h, :w_]
    return conv_fanout(in_shape[1:], w[0] // int(syn.groups), *geometry)


class SynOpsCounter:
    """Forward pre-hooks on every weighted block of a :class:`tks_lava.model.network.SpikingNet`.

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
        """(name, block, index in ``model.blocks``) of every weighted block."""
        return [
            (f"{i}:{type(block).__name__.lower()}", block, i)
            for i, block in enumerate(self.model.blocks)
            if getattr(block, "synapse", None) is not None
        ]

    def _delay(self, index: int) -> int:
        """Delay-shifted blocks before block ``index`` now (0 inside ``SpikingNet.forward``)."""
        return sum(bool(getattr(b, "delay_shift", False)) for b in self.model.blocks[:index])

    def __enter__(self) -> SynOpsCounter:
        for name, block, index in self._weighted():
            self.ops[name], self.spikes[name] = [], []
            self.handles.append(block.register_forward_pre_hook(self._hook(name, block, index)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, name: str, block: Any, index: int):  # noqa: ANN202 - torch hook
        def hook(module: Any, args: tuple) -> None:
            delay = self._delay(index)
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
