"""Blocks read from a NIR graph -> a tks_lava model config and weights on Loihi's grids.

Every hidden layer's input gain (``a w_in b r``) is folded into its weights, and every layer's
threshold is brought to one shared threshold by scaling its weights by ``shared / own``: in real
arithmetic both leave every spike where it was. The shared threshold is the graph's own when all
layers agree and their weights fit the 8-bit grid, else the largest that fits
(:func:`tks_lava.nir.params.fitting_threshold`). Then decays round to k/4096, weights to steps
of 1/32 in [-4, 254/64] and the threshold to k/64. :class:`Report` says how far each moved;
``exact=True`` refuses any move beyond float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tks_lava.model.architectures import DEFAULT_NEURON, LayerSpec, ModelConfig
from tks_lava.nir import params
from tks_lava.nir.graph import Layer, NirImportError

#: A change below this many grid steps is float rounding of an exactly representable value.
EXACT_STEPS = 1e-3


@dataclass
class Report:
    """What quantisation changed: one line per change, and whether anything really moved."""

    lines: list[str] = field(default_factory=list)
    exact: bool = True
    max_weight_change: float = 0.0  # in weight-grid steps (1/32)

    def add(self, line: str, moved: bool) -> None:
        self.lines.append(("changed: " if moved else "exact:   ") + line)
        self.exact = self.exact and not moved

    def text(self) -> str:
        head = (
            "every parameter is on Loihi's grids (exact)"
            if self.exact
            else f"quantised for Loihi: largest weight change {self.max_weight_change:.3g} "
            f"grid steps (1/32)"
        )
        return "\n".join([head, *(f"  {line}" for line in self.lines)])


@dataclass
class Plan:
    """A model config and, per block, its weights in real units on SLAYER's grid (None for
    flatten), ready for :func:`tks_lava.nir.convert.build_model`."""

    config: ModelConfig
    weights: list[np.ndarray | None]
    report: Report
    logit_scale: float = 1.0


def plan(
    layers: list[Layer],
    in_shape: tuple[int, int, int],
    neuron_extra: dict[str, Any] | None = None,
    exact: bool = False,
) -> Plan:
    """The :class:`Plan` of ``layers`` (from :func:`tks_lava.nir.graph.read_layers`)."""
    hidden = [lay for lay in layers if lay.kind in ("conv", "pool", "dense")]
    if not hidden:
        raise NirImportError("the graph has no spiking layer before its readout")
    report = Report()
    neuron = _shared_neuron(hidden, report)
    theta = _shared_threshold(hidden, report)
    neuron["threshold"] = theta
    extra = neuron_extra or {}
    for key in ("tau_grad", "scale_grad"):
        neuron[key] = extra.get(key, DEFAULT_NEURON[key])
    neuron["requires_grad"] = False
    weights, specs = [], []
    for layer in layers[:-1]:
        specs.append(_spec(layer))
        weights.append(None if layer.kind == "flatten" else _hidden_weights(layer, theta, report))
    readout = layers[-1]
    w, scale = _readout_weights(readout, report)
    weights.append(w)
    for layer in layers:
        for note in layer.notes:
            report.lines.append(f"note:    {note}")
    config = ModelConfig(
        name="nir_import",
        input_shape=tuple(in_shape),
        num_classes=int(readout.out_shape[0]),
        layers=tuple(specs),
        neuron=neuron,
        weight_scale=1.0,
        weight_norm=False,
    )
    if exact and not report.exact:
        raise NirImportError(
            "the graph is not exactly representable in Loihi's fixed point "
            "(exact=True):\n" + report.text()
        )
    return Plan(config, weights, report, logit_scale=scale)


def _spec(layer: Layer) -> LayerSpec:
    if layer.kind == "conv":
        return LayerSpec(
            "conv", out=layer.out_shape[0], k=layer.k, stride=layer.stride, padding=layer.padding
        )
    if layer.kind == "pool":
        return LayerSpec("pool", k=layer.k, stride=layer.k)
    if layer.kind == "dense":
        return LayerSpec("dense", out=layer.out_shape[0])
    return LayerSpec("flatten")


def _shared_neuron(hidden: list[Layer], report: Report) -> dict[str, Any]:
    """One pair of integer decays for every hidden layer (tks_lava's config has one neuron)."""
    decays = {}
    for layer in hidden:
        try:
            pair = (params.quantize_decay(layer.a), params.quantize_decay(layer.b))
        except ValueError as err:
            raise NirImportError(f"NIR node {layer.nodes[-1]!r}: {err}") from None
        decays.setdefault(pair, layer.nodes[-1])
        moved = max(abs(layer.a * 4096 - pair[0]), abs(layer.b * 4096 - pair[1]))
        if moved > EXACT_STEPS:
            report.add(
                f"{layer.nodes[-1]}: decays dt/tau ({layer.a:.6g}, {layer.b:.6g}) -> "
                f"({pair[0]}/4096, {pair[1]}/4096)",
                True,
            )
    if len(decays) > 1:
        seen = ", ".join(f"{node}: iDecay {i}, vDecay {v}" for (i, v), node in decays.items())
        raise NirImportError(
            f"hidden layers use different decays ({seen}); tks_lava's model "
            "config has one hidden neuron, so every hidden layer needs the same"
        )
    ((i_decay, v_decay),) = decays
    return {
        "current_decay": i_decay / params.DECAY_SCALE,
        "voltage_decay": v_decay / params.DECAY_SCALE,
    }


def _effective(layer: Layer) -> np.ndarray:
    """Weights times the per-channel gain (rows = output channels; a pool: one value per
    channel)."""
    w = np.asarray(layer.weight, np.float64)
    gain = np.asarray(layer.gain, np.float64)
    if layer.kind == "pool":
        return gain * float(w)
    return w * gain.reshape((-1,) + (1,) * (w.ndim - 1))


def _peak(layer: Layer) -> np.ndarray:
    eff = np.abs(_effective(layer))
    return eff.reshape(eff.shape[0], -1).max(axis=1)


def _shared_threshold(hidden: list[Layer], report: Report) -> float:
    """The graph's threshold when all agree, sit on the 1/64 grid and leave every weight on
    its grid; else the largest that fits every layer (the finest weights)."""
    thresholds = np.concatenate([lay.threshold for lay in hidden])
    peaks = np.concatenate([_peak(lay) for lay in hidden])
    if np.any(thresholds <= 0):
        raise NirImportError("a v_threshold <= 0 fires without input; Loihi thresholds are > 0")
    first = float(thresholds[0])
    mant = first * params.THRESHOLD_SCALE
    agree = np.allclose(thresholds, first, rtol=1e-9, atol=0)
    on_grid = abs(mant - round(mant)) < 1e-6 * max(1.0, mant)
    if agree and on_grid and all(_representable(_effective(lay)) for lay in hidden):
        params.threshold_mant(first)
        return round(mant) / params.THRESHOLD_SCALE
    theta = params.fitting_threshold(thresholds, peaks)
    report.add(
        f"thresholds {thresholds.min():.6g}..{thresholds.max():.6g} -> one shared threshold "
        f"{theta:g}, each layer's weights scaled by shared / own threshold (same spikes in real "
        "arithmetic, finest weight grid)",
        True,
    )
    return theta


def _representable(w: np.ndarray) -> bool:
    """Every value already on the weight grid (up to float rounding)."""
    q = params.quantize_weights(w)
    return bool(np.all(np.abs(q - w) <= EXACT_STEPS * params.WEIGHT_STEP))


def _on_grid(layer: Layer, eff: np.ndarray, report: Report) -> np.ndarray:
    q = params.quantize_weights(eff)
    steps = float(np.abs(q - eff).max() / params.WEIGHT_STEP) if eff.size else 0.0
    name = "/".join(layer.nodes) or "identity readout"
    moved = steps > EXACT_STEPS
    report.max_weight_change = max(report.max_weight_change, steps if moved else 0.0)
    if moved:
        rel = float(np.abs(q - eff).max() / max(np.abs(eff).max(), 1e-300))
        report.add(
            f"{name}: weights moved by up to {steps:.3g} grid steps ({100 * rel:.3g}% "
            "of the largest)",
            True,
        )
    if np.any(eff != 0) and not np.any(q != 0):
        raise NirImportError(
            f"NIR node {layer.nodes[0]!r}: every weight rounds to 0 on the 1/32 "
            "grid; scale the weights up (and the thresholds with them)"
        )
    return q


def _hidden_weights(layer: Layer, theta: float, report: Report) -> np.ndarray:
    eff = _effective(layer)
    scale = theta / np.asarray(layer.threshold, np.float64)
    if layer.kind == "pool":
        per_channel = eff * scale
        if np.ptp(per_channel) > 1e-12 * max(1.0, float(np.abs(per_channel).max())):
            raise NirImportError(
                f"pool {layer.nodes[0]!r}: its channels need different "
                "weights; SLAYER's pool has one weight for all channels"
            )
        return _on_grid(layer, np.asarray(per_channel[0]), report)
    return _on_grid(layer, eff * scale.reshape((-1,) + (1,) * (eff.ndim - 1)), report)


def _readout_weights(layer: Layer, report: Report) -> tuple[np.ndarray, float]:
    """Readout weights on the grid; unless they are on it already, scaled by the power of two
    that uses the grid best (the logits scale with them: argmax unchanged)."""
    eff = _effective(layer)
    peak = float(np.abs(eff).max()) if eff.size else 0.0
    scale = 1.0
    if peak > 0 and not _representable(eff):
        scale = 2.0 ** np.floor(np.log2(params.WEIGHT_MAX / peak))
    if scale != 1.0:
        report.add(
            f"readout: weights and logits scaled by {scale:g} to use the 8-bit grid (argmax "
            "unchanged, softmax confidence scales)",
            True,
        )
    return _on_grid(layer, eff * scale, report), scale
