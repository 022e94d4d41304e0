"""SLAYER CUBA networks that export to NetX and stay bit-exact in Lava, with a per-step readout.

Every network is a stack of ``slayer.block.cuba`` blocks built from a :class:`ModelConfig`
(saved with every checkpoint so the network can be rebuilt), ending in a real-valued readout
``block.cuba.Affine(dynamics=True)`` whose neuron never spikes: Lava reads its membrane voltage.

Two conventions are fixed here and shared by training and deployment:

* **Readout = that step's output.** The head has ``current_decay = voltage_decay = 1`` (full
  decay, no memory), so the logit at step t is ``W s_t`` of the last hidden layer's spikes at t:
  the TKS "sub-model" output o_t. Temporal aggregation (running mean) happens in the metrics.
* **Binary input spikes.** A pixel spikes in a time bin if it saw at least one event of that
  polarity (:func:`encode_spikes`). Loihi's input is binary unless graded spikes are set up;
  the reference trains on raw counts, a documented difference.
* **Pipeline latency.** With ``delay_shift=True`` (needed for Lava bit-exactness, and what
  :meth:`SpikingNet.export_hdf5` writes) each spiking block delays its output by one step, like a
  Loihi core, so the readout sees input frame t at step t + ``latency``. Deployment reads Lava's
  outputs with that offset (see :mod:`tks_lava.deploy.window`). In a feed-forward net starting
  from zero state the shift only relabels time, so :meth:`SpikingNet.forward` (training,
  evaluation) switches the shifts off for the call and steps each layer T times: its logits are
  ``torch.equal`` to :meth:`SpikingNet.forward_padded`, which keeps the shifts, appends
  ``latency`` empty frames and drops the first ``latency`` outputs (T + latency steps a layer).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

import tks_lava  # noqa: F401  (Lava Python 3.11 fix before lava.lib.dl imports)
from tks_lava.model.architectures import (  # noqa: F401  (re-exported: the model's vocabulary)
    ARCHITECTURES,
    DEFAULT_NEURON,
    LAYER_KINDS,
    NEURON_PRESETS,
    READOUT_NEURON,
    REFERENCE_LIF_NEURON,
    ArchitectureError,
    LayerSpec,
    ModelConfig,
    load_arch_file,
    make_config,
    unsupported_kind,
)


def encode_spikes(frames: torch.Tensor) -> torch.Tensor:
    """Event-count frames -> binary spikes (1 where the bin saw any event), same dtype."""
    return (frames > 0).to(frames.dtype)


class SpikingNet(torch.nn.Module):
    """SLAYER CUBA blocks + real-valued per-step readout; input (N, C, H, W, T)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        from lava.lib.dl import slayer

        self.config = config
        cuba = slayer.block.cuba
        common = {"weight_scale": config.weight_scale, "weight_norm": config.weight_norm}
        blocks: list[torch.nn.Module] = []
        #: (C, H, W) entering each block, from a dry forward (the blocks' own shape arithmetic)
        self.block_inputs: list[tuple[int, ...]] = []
        shape: tuple[int, ...] = tuple(config.input_shape)
        specs = list(enumerate(config.layers)) + [(len(config.layers), None)]
        for i, spec in specs:
            where = f"{config.name}: layer {i} ({spec.kind if spec else 'readout'})"
            n_in = math.prod(shape)
            if spec is None:
                block = cuba.Affine(
                    READOUT_NEURON, n_in, config.num_classes, dynamics=True, **common
                )
            elif spec.kind == "conv":
                if len(shape) != 3:
                    raise ArchitectureError(f"{where}: needs a (C, H, W) input, got {shape}")
                block = cuba.Conv(
                    config.neuron,
                    shape[0],
                    spec.out,
                    spec.k,
                    stride=spec.stride,
                    padding=spec.padding,
                    delay_shift=True,
                    **common,
                )
            elif spec.kind == "pool":
                check_pool(spec, shape, where)
                block = cuba.Pool(config.neuron, spec.k, stride=spec.stride, delay_shift=True)
            elif spec.kind == "flatten":
                block = cuba.Flatten()
            elif spec.kind == "dense":
                if len(shape) != 1:
                    raise ArchitectureError(
                        f"{where}: a dense layer needs a flat input; put a flatten layer before it"
                    )
                block = cuba.Dense(config.neuron, n_in, spec.out, delay_shift=True, **common)
            else:
                raise unsupported_kind(spec.kind, where)
            self.block_inputs.append(shape)
            shape = _dry_shape(block, shape, where)
            blocks.append(block)
        self.blocks = torch.nn.ModuleList(blocks)
        #: steps before input frame 0 reaches the readout (one per delay-shifted block)
        self.latency = sum(bool(getattr(b, "delay_shift", False)) for b in self.blocks)

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Readout at every simulation step, without latency alignment: (N, classes, T)."""
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step logits aligned to the input: step t has seen input frames 0..t.

        Runs without the blocks' one-step delay shifts (each layer steps T times, not
        T + ``latency``); the logits are ``torch.equal`` to :meth:`forward_padded`'s.
        """
        x = self._encoded(x)
        with self.delay_shifts_off():
            return self.forward_raw(x)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` as Lava computes it: delay shifts on, ``latency`` empty frames
        appended, the first ``latency`` outputs dropped (the reference the fast path must match)."""
        t = x.shape[-1]
        x = self._encoded(x)
        if self.latency:
            x = torch.nn.functional.pad(x, (0, self.latency))
        return self.forward_raw(x)[..., self.latency : self.latency + t]

    def _encoded(self, x: torch.Tensor) -> torch.Tensor:
        """Check an (N, C, H, W, T) input against the model and encode it as binary spikes."""
        expected = self.config.input_shape
        if x.dim() != 5 or tuple(x.shape[1:4]) != tuple(expected):
            raise ValueError(
                f"expected input (N, C, H, W, T) with (C, H, W) = {tuple(expected)}, "
                f"got {tuple(x.shape)}; check the dataset's frame size against the model"
            )
        return encode_spikes(x)

    @contextmanager
    def delay_shifts_off(self) -> Iterator[None]:
        """Switch every block's ``delay_shift`` off inside the ``with``, restore it after (also on
        error), so export and Lava still see ``delay_shift=True``."""
        shifted = [b for b in self.blocks if getattr(b, "delay_shift", False)]
        for block in shifted:
            block.delay_shift = False
        try:
            yield
        finally:
            for block in shifted:
                block.delay_shift = True

    def export_hdf5(self, path: str) -> None:
        """Write the network in lava-dl NetX HDF5 format (``layer/<i>`` groups)."""
        import h5py

        # A forward refreshes each synapse's weight from weight norm's g and v (only a forward
        # recomputes it, and export reads ``weight``); it also sets SLAYER's neuron shapes. The
        # delay shifts stay off in it: on a GPU they need SLAYER's JIT-compiled shift kernel.
        device = next(self.parameters()).device
        with torch.no_grad(), self.delay_shifts_off():
            self.forward_raw(torch.zeros(1, *self.config.input_shape, 1, device=device))
        with h5py.File(path, "w") as h:
            layers = h.create_group("layer")
            for i, (block, spec) in enumerate(zip(self.blocks, self.block_specs, strict=True)):
                group = layers.create_group(f"{i}")
                if spec is not None and spec.kind == "pool":
                    export_pool(block, group, self.block_inputs[i])
                else:
                    block.export_hdf5(group)

    @property
    def block_specs(self) -> list[LayerSpec | None]:
        """The LayerSpec of each block (None for the readout)."""
        return [*self.config.layers, None]


def export_pool(block: torch.nn.Module, group: Any, in_shape: tuple[int, ...]) -> None:
    """Write a SLAYER ``cuba.Pool`` block as the NetX ``conv`` layer that computes it exactly.

    NetX has no pool layer. SLAYER's pool sums each channel's k x k window with one fixed,
    8-bit-quantised weight, after padding the *end* of each spatial axis by ``size % k``
    zeros. Lava's ``Conv`` pads both sides, so the pool becomes a conv with padding
    ``e = size % k`` and a (k + e)-wide kernel whose first ``e`` rows/columns are zero: window i
    then covers exactly ``[k*i, k*i + k)`` and the output size is SLAYER's. Channel c only
    feeds channel c (a diagonal kernel, ``groups = 1``): a depthwise conv (``groups = C``) would
    be smaller, but Lava's Conv model stores ``groups`` as int8, so 128 or more groups wrap
    (512 becomes 0) and only networks under 128 channels would run. Its neuron is the block's
    CUBA neuron; one layer = one step of delay, as in SLAYER (``delay_shift``).
    """
    syn = block.synapse
    c, h, w = in_shape
    k_h, k_w = (int(v) for v in syn.kernel_size[:2])
    e_h, e_w = h % k_h, w % k_w
    tap = syn.pre_hook_fx(syn.weight, descale=True).reshape(k_h, k_w).cpu().numpy()
    kernel = np.zeros((c, c, k_h + e_h, k_w + e_w), dtype=tap.dtype)
    kernel[np.arange(c), np.arange(c), e_h:, e_w:] = tap
    group.create_dataset("type", (1,), "S10", [b"conv"])
    group.create_dataset("shape", data=np.array(block.neuron.shape))
    group.create_dataset("inChannels", data=c)
    group.create_dataset("outChannels", data=c)
    group.create_dataset("kernelSize", data=np.array(kernel.shape[2:]))
    group.create_dataset("stride", data=np.array([int(v) for v in syn.stride[:2]]))
    group.create_dataset("padding", data=np.array([e_h, e_w]))
    group.create_dataset("dilation", data=np.array([1, 1]))
    group.create_dataset("groups", data=1)
    group.create_dataset("weight", data=kernel)
    for key, value in block.neuron.device_params.items():
        group.create_dataset(f"neuron/{key}", data=value)


def check_pool(spec: LayerSpec, shape: tuple[int, ...], where: str) -> None:
    """Refuse pools that SLAYER does not compute per channel (it pools over the C*H axis,
    padding only the end of each spatial axis by ``size % k``)."""
    if len(shape) != 3:
        raise ArchitectureError(f"{where}: needs a (C, H, W) input, got {shape}")
    if spec.stride != spec.k or spec.padding != 0:
        raise ArchitectureError(
            f"{where}: pooling must not overlap (stride == k, padding 0), got k={spec.k} "
            f"stride={spec.stride} padding={spec.padding}: SLAYER's Pool block mixes channels "
            "otherwise"
        )
    for axis, size in zip("HW", shape[1:], strict=True):
        padded = size + size % spec.k
        if size < spec.k or padded % spec.k:
            raise ArchitectureError(
                f"{where}: input {axis} = {size} cannot be pooled by k={spec.k} "
                f"({'pools to zero' if size < spec.k else 'not a multiple after SLAYER pads it'}"
                "); use a larger input or fewer pools"
            )


def _dry_shape(block: torch.nn.Module, shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """Output shape of ``block`` for one zero frame of ``shape`` (and set SLAYER's neuron shape)."""
    x = torch.zeros(1, *shape, 1)
    try:
        with torch.no_grad():
            y = block(x)
    except RuntimeError as err:
        raise ArchitectureError(f"{where}: input {shape} does not fit ({err})") from err
    out = tuple(int(v) for v in y.shape[1:-1])
    if min(out) < 1:
        raise ArchitectureError(f"{where}: input {shape} gives an empty output {out}")
    return out


def build_model(config: ModelConfig) -> SpikingNet:
    return SpikingNet(config)
