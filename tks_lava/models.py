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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
#: Readout: no memory, so each step's voltage is that step's synaptic input.
READOUT_NEURON = {"threshold": 1.0, "current_decay": 1.0, "voltage_decay": 1.0}


@dataclass(frozen=True)
class LayerSpec:
    """One block: ``kind`` in {conv, pool, flatten, dense}; conv/dense ``out``; conv/pool ``k``."""

    kind: str
    out: int = 0
    k: int = 3
    stride: int = 1
    padding: int = 0


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
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        d["layers"] = tuple(LayerSpec(**layer) for layer in d["layers"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


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


def make_config(
    name: str, input_shape: Sequence[int], num_classes: int, **overrides: Any
) -> ModelConfig:
    """Config for a named architecture; unknown names list the known ones."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(ARCHITECTURES)}")
    return ModelConfig(
        name=name,
        input_shape=tuple(int(v) for v in input_shape),
        num_classes=int(num_classes),
        layers=ARCHITECTURES[name],
        **overrides,
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
        c, h, w = config.input_shape
        blocks: list[torch.nn.Module] = []
        flat = None
        for spec in config.layers:
            if spec.kind == "conv":
                blocks.append(
                    cuba.Conv(
                        config.neuron, c, spec.out, spec.k, stride=spec.stride,
                        padding=spec.padding, delay_shift=True, **common,
                    )
                )  # fmt: skip
                c = spec.out
                h = (h + 2 * spec.padding - spec.k) // spec.stride + 1
                w = (w + 2 * spec.padding - spec.k) // spec.stride + 1
            elif spec.kind == "pool":
                blocks.append(
                    cuba.Pool(config.neuron, spec.k, stride=spec.stride, delay_shift=True)
                )
                h, w = (h - spec.k) // spec.stride + 1, (w - spec.k) // spec.stride + 1
            elif spec.kind == "flatten":
                blocks.append(cuba.Flatten())
                flat = c * h * w
            elif spec.kind == "dense":
                n_in = flat if flat is not None else c * h * w
                blocks.append(cuba.Dense(config.neuron, n_in, spec.out, delay_shift=True, **common))
                flat = spec.out
            else:
                raise ValueError(f"unknown layer kind {spec.kind!r} in {config.name}")
        n_in = flat if flat is not None else c * h * w
        blocks.append(
            cuba.Affine(READOUT_NEURON, n_in, config.num_classes, dynamics=True, **common)
        )
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

        # SLAYER sets each neuron's shape on its first forward pass; export needs it.
        device = next(self.parameters()).device
        with torch.no_grad():
            self.forward_raw(torch.zeros(1, *self.config.input_shape, 1, device=device))
        with h5py.File(path, "w") as h:
            layers = h.create_group("layer")
            for i, block in enumerate(b for b in self.blocks if hasattr(b, "export_hdf5")):
                block.export_hdf5(layers.create_group(f"{i}"))


def build_model(config: ModelConfig) -> SpikingNet:
    return SpikingNet(config)
