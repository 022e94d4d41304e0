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
* **Pipeline latency.** With ``delay_shift=True`` (needed for Lava bit-exactness) each spiking
  block delays its output by one step, like a Loihi core. :meth:`SpikingNet.forward` appends
  ``latency`` empty frames to the input and drops the first ``latency`` outputs, so step t of
  the returned logits has seen exactly the input frames 0..t. Deployment reads Lava's outputs
  with the same offset (see :mod:`tks_lava.deploy`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tks_lava  # noqa: F401  (Lava Python 3.11 fix before lava.lib.dl imports)

#: Hidden-layer CUBA neurons: the parameters of lava-dl's N-MNIST SLAYER tutorial. The spec's
#: reference-LIF equivalent (current_decay 1, voltage_decay 0.5, threshold 1) trained far worse
#: with SLAYER's surrogate here: 38% vs 82% test accuracy after 2 epochs on 1,536 ndigits samples
#: (same seed, lr, budget), so the tutorial values are the default and the LIF is an option.
DEFAULT_NEURON = {
    "threshold": 1.25,
    "current_decay": 0.25,
    "voltage_decay": 0.03,
    "tau_grad": 0.03,
    "scale_grad": 3.0,
    "requires_grad": False,
}
REFERENCE_LIF_NEURON = {
    "threshold": 1.0,
    "current_decay": 1.0,
    "voltage_decay": 0.5,
    "tau_grad": 0.5,
    "scale_grad": 1.0,
    "requires_grad": False,
}
#: Hidden-neuron presets by name (``TrainConfig.neuron``): ``cuba`` = lava-dl's tutorial values
#: (the default), ``lif`` = the spec's reference LIF (tau = 2: voltage halves each step).
NEURON_PRESETS = {"cuba": DEFAULT_NEURON, "lif": REFERENCE_LIF_NEURON}
#: Readout: no memory, so each step's voltage is that step's synaptic input.
READOUT_NEURON = {"threshold": 1.0, "current_decay": 1.0, "voltage_decay": 1.0}


#: Layer kinds a :class:`LayerSpec` may name; every one of them exports to NetX and runs in
#: Lava bit-exactly (``pool`` as a fixed-weight diagonal conv, see :func:`export_pool`).
LAYER_KINDS = ("conv", "pool", "flatten", "dense")


class ArchitectureError(ValueError):
    """An architecture that cannot be built or deployed; the message names the layer and why."""


def unsupported_kind(kind: Any, where: str) -> ArchitectureError:
    """The error for a layer kind outside :data:`LAYER_KINDS`."""
    return ArchitectureError(
        f"{where}: layer kind {kind!r} cannot be deployed to Lava; "
        f"supported kinds: {', '.join(LAYER_KINDS)}"
    )


@dataclass(frozen=True)
class LayerSpec:
    """One block: ``kind`` in :data:`LAYER_KINDS`; conv/dense ``out``; conv/pool ``k``.

    A pool is SLAYER's sum pooling, which is per-channel only when it does not overlap:
    ``stride`` must equal ``k`` and ``padding`` must be 0 (checked at build time).
    """

    kind: str
    out: int = 0
    k: int = 3
    stride: int = 1
    padding: int = 0

    @classmethod
    def from_dict(cls, d: Any, where: str = "layer") -> LayerSpec:
        """A checked LayerSpec from its JSON form; unknown keys and wrong types are refused."""
        if not isinstance(d, dict):
            raise ArchitectureError(f'{where}: expected an object like {{"kind": "conv", ...}}')
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ArchitectureError(
                f"{where}: unknown key(s) {', '.join(unknown)}; a layer has {', '.join(names)}"
            )
        if d.get("kind") not in LAYER_KINDS:
            raise unsupported_kind(d.get("kind"), where)
        for key in names[1:]:
            if key in d and (not isinstance(d[key], int) or isinstance(d[key], bool)):
                raise ArchitectureError(f"{where}: {key} must be an integer, got {d[key]!r}")
        return cls(**d)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; stored in checkpoints and model cards."""

    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    layers: tuple[LayerSpec, ...]
    neuron: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NEURON))
    weight_scale: float = 2.0
    weight_norm: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "model config") -> ModelConfig:
        """A checked config from its JSON form (cards, checkpoints, ``--arch-file``)."""
        if not isinstance(d, dict):
            raise ArchitectureError(f"{where}: expected a JSON object, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        missing = [k for k in ("name", "input_shape", "num_classes", "layers") if k not in d]
        if unknown or missing:
            raise ArchitectureError(
                f"{where}: "
                + (f"unknown key(s) {', '.join(unknown)}; " if unknown else "")
                + (f"missing key(s) {', '.join(missing)}; " if missing else "")
                + f"a model config has {', '.join(names)}"
            )
        d = dict(d)
        _check_type(d, "name", str, where)
        _check_type(d, "num_classes", int, where)
        _check_type(d, "layers", list | tuple, where)
        _check_type(d, "neuron", dict, where)
        _check_type(d, "weight_scale", int | float, where)
        _check_type(d, "weight_norm", bool, where)
        shape = d["input_shape"]
        if (
            not isinstance(shape, list | tuple)
            or len(shape) != 3
            or not all(isinstance(v, int) and v > 0 for v in shape)
        ):
            raise ArchitectureError(f"{where}: input_shape must be three positive ints (C, H, W)")
        d["input_shape"] = tuple(shape)
        d["layers"] = tuple(
            LayerSpec.from_dict(layer, f"{where}: layer {i}") for i, layer in enumerate(d["layers"])
        )
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _check_type(d: dict[str, Any], key: str, kind: Any, where: str) -> None:
    value = d.get(key)
    if key in d and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ArchitectureError(f"{where}: {key} has the wrong type ({value!r})")


def _conv(out: int, stride: int = 1) -> LayerSpec:
    return LayerSpec("conv", out=out, k=3, stride=stride, padding=1)


ARCHITECTURES: dict[str, tuple[LayerSpec, ...]] = {
    # CPU-friendly default for the offline dataset (34x34 -> 17 -> 9): ~3k neurons, fast in Lava.
    "small_snn": (
        _conv(16, 2),
        _conv(32, 2),
        LayerSpec("flatten"),
        LayerSpec("dense", out=128),
    ),
    # VGG-SNN of TET/TKS for 48x48 event data (the method spec), BatchNorm -> weight norm.
    "vgg_snn": (
        _conv(64),
        _conv(128),
        LayerSpec("pool", k=2, stride=2),
        _conv(256),
        _conv(256),
        LayerSpec("pool", k=2, stride=2),
        _conv(512),
        _conv(512),
        LayerSpec("pool", k=2, stride=2),
        _conv(512),
        _conv(512),
        LayerSpec("pool", k=2, stride=2),
        LayerSpec("flatten"),
    ),
    # Tests only: one strided conv 2->4, flatten, dense 16 (trains in a second on CPU).
    "tiny_snn": (
        _conv(4, 2),
        LayerSpec("flatten"),
        LayerSpec("dense", out=16),
    ),
}


def load_arch_file(path: str | Path) -> dict[str, Any]:
    """A user architecture in ModelConfig's JSON form (``name``, ``layers``, optionally
    ``neuron``, ``weight_scale``, ``weight_norm``; ``input_shape``/``num_classes`` if given must
    match the data). Checked by :meth:`ModelConfig.from_dict` when the config is made."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArchitectureError(f"{path}: cannot read architecture file ({err})") from err
    if not isinstance(spec, dict) or "layers" not in spec:
        raise ArchitectureError(
            f"{path}: an architecture file is a JSON object with 'layers' (and 'name'), e.g. "
            '{"name": "mynet", "layers": [{"kind": "conv", "out": 16, "k": 3, "padding": 1}, '
            '{"kind": "pool", "k": 2, "stride": 2}, {"kind": "flatten"}]}'
        )
    return {"name": path.stem, **spec}


def make_config(
    arch: str | dict[str, Any],
    input_shape: Sequence[int],
    num_classes: int,
    **overrides: Any,
) -> ModelConfig:
    """Config for a registered architecture name or a user spec (see :func:`load_arch_file`).

    Both go through :meth:`ModelConfig.from_dict`, so registry and user architectures are
    checked the same way. A spec's own ``input_shape``/``num_classes`` must match the data.
    """
    if isinstance(arch, str):
        if arch not in ARCHITECTURES:
            raise ArchitectureError(
                f"unknown model {arch!r}; choose one of {sorted(ARCHITECTURES)} "
                "or describe your own with --arch-file"
            )
        spec: dict[str, Any] = {
            "name": arch,
            "layers": [dataclasses.asdict(layer) for layer in ARCHITECTURES[arch]],
        }
    else:
        spec = dict(arch)
    shape = [int(v) for v in input_shape]
    for key, value in (("input_shape", shape), ("num_classes", int(num_classes))):
        given = spec.get(key)
        if isinstance(given, list | tuple):
            given = list(given)
        if given is not None and given != value:
            raise ArchitectureError(
                f"architecture {spec.get('name')!r} was written for {key} {spec[key]}, "
                f"but the data gives {value}; remove the key or use matching data"
            )
    spec.update(input_shape=shape, num_classes=int(num_classes), **overrides)
    return ModelConfig.from_dict(spec, f"architecture {spec.get('name')!r}")


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
                    config.neuron, shape[0], spec.out, spec.k, stride=spec.stride,
                    padding=spec.padding, delay_shift=True, **common,
                )  # fmt: skip
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
        """Per-step logits aligned to the input: step t has seen input frames 0..t."""
        expected = self.config.input_shape
        if x.dim() != 5 or tuple(x.shape[1:4]) != tuple(expected):
            raise ValueError(
                f"expected input (N, C, H, W, T) with (C, H, W) = {tuple(expected)}, "
                f"got {tuple(x.shape)}; check the dataset's frame size against the model"
            )
        t = x.shape[-1]
        x = encode_spikes(x)
        if self.latency:
            x = torch.nn.functional.pad(x, (0, self.latency))
        return self.forward_raw(x)[..., self.latency : self.latency + t]

    def export_hdf5(self, path: str) -> None:
        """Write the network in lava-dl NetX HDF5 format (``layer/<i>`` groups)."""
        import h5py

        # A forward refreshes each synapse's weight from weight norm's g and v (only a forward
        # recomputes it, and export reads ``weight``); it also sets SLAYER's neuron shapes.
        device = next(self.parameters()).device
        with torch.no_grad():
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
