"""A NIR graph run outside Lava: by snnTorch (an independent simulator from PyPI) and by a
reference of NIR's equations here, in float64 or in Loihi's integer arithmetic.

All three take binary input spikes (N, C, H, W, T) and return per-step logits (N, classes, T)
aligned as tks_lava's (step t has seen input frames 0..t: no pipeline delay, see
:mod:`tks_lava.nir.export`). The reference separates the two things that can make another
simulator differ from Lava: the float recurrence (``fixed_point=False``) against the truncating
integer one (``fixed_point=True``, which must reproduce Lava's logits bit for bit: the graph
then holds everything Lava computes).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tks_lava.nir import params
from tks_lava.nir.graph import Layer, input_shape, read_layers
from tks_lava.nir.quantize import plan

#: Why snnTorch is missing, or "" when it imports (the ``[nir]`` extra installs it).
try:
    import snntorch  # noqa: F401

    SNNTORCH_MISSING = ""
except ImportError as _err:  # an optional extra
    SNNTORCH_MISSING = f"snnTorch is not installed ({_err}); pip install 'tks_lava[nir]'"


def for_snntorch(graph: Any) -> Any:
    """A copy of ``graph`` that snnTorch's importer runs as NIR means it.

    * A memoryless ``CubaLI`` readout (tau_syn = tau_mem = dt, w_in r = 1: the identity) is
      dropped: snnTorch has no mapping for ``CubaLI``.
    * A ``Flatten`` of its whole input gets negative dims: NIR's dims exclude the batch, and
      nirtorch passes them to ``torch.nn.Flatten`` on batched tensors (snnTorch's own exporter
      writes ``start_dim = 0``, which would flatten the batch too).
    """
    import nir

    nodes = dict(graph.nodes)
    edges = [tuple(e) for e in graph.edges]
    for name, node in graph.nodes.items():
        if type(node).__name__ == "Flatten" and node.input_type.get("input") is not None:
            rank = len(node.input_type["input"])
            if int(node.start_dim) in (0, -rank) and int(node.end_dim) in (-1, rank - 1):
                nodes[name] = nir.Flatten(input_type=node.input_type, start_dim=-rank, end_dim=-1)
        if type(node).__name__ != "CubaLI":
            continue
        dt = float((graph.metadata or {}).get("dt", params.DT))
        a, b = params.euler_factors(node.tau_syn, node.tau_mem, dt)
        gain = a * node.w_in * b * node.r
        if not (np.allclose(a, 1) and np.allclose(b, 1) and np.allclose(gain, 1)):
            raise ValueError(f"CubaLI {name!r} is not the identity; snnTorch cannot run it")
        before = [s for s, d in edges if d == name]
        after = [d for s, d in edges if s == name]
        edges = [e for e in edges if name not in e] + [(s, d) for s in before for d in after]
        del nodes[name]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata or {}))


def snntorch_logits(graph: Any, spikes: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Per-step logits of ``graph`` run by snnTorch's ``import_from_nir`` (float32; its own
    ``Synaptic`` neurons, dt 1e-4), hidden states reset before each batch."""
    if SNNTORCH_MISSING:
        raise ImportError(SNNTORCH_MISSING)
    import snntorch.utils
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
        net = import_from_nir(for_snntorch(graph)).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(spikes), batch):
            x = (spikes[start : start + batch] > 0).float()
            snntorch.utils.reset(net)
            steps = [net(x[..., t])[0] for t in range(x.shape[-1])]
            out.append(torch.stack(steps, -1))
    return torch.cat(out).numpy()


def snntorch_decays(graph: Any) -> list[tuple[float, float]]:
    """``(alpha, beta)`` of every snnTorch ``Synaptic`` neuron made from ``graph`` (the factors
    it keeps per step: Lava's are ``1 - iDecay / 4096`` and ``1 - vDecay / 4096``)."""
    if SNNTORCH_MISSING:
        raise ImportError(SNNTORCH_MISSING)
    import snntorch as snn
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):
        net = import_from_nir(for_snntorch(graph))
    found = [m for m in net.modules() if isinstance(m, snn.Synaptic)]
    return [(float(m.alpha.reshape(-1)[0]), float(m.beta.reshape(-1)[0])) for m in found]


# ----------------------------------------------------------------------------- reference
def _synaptic(layer: Layer, weight: Any, x: torch.Tensor) -> torch.Tensor:
    """The layer's synaptic input for spikes ``x`` (N, *in_shape) with ``weight``."""
    if layer.kind == "conv":
        return F.conv2d(x, weight, stride=layer.stride, padding=layer.padding)
    if layer.kind == "pool":
        k = layer.k
        e_h, e_w = x.shape[-2] % k, x.shape[-1] % k
        summed = F.avg_pool2d(F.pad(x, (0, e_w, 0, e_h)), k) * (k * k)
        return summed * weight
    return x.reshape(len(x), -1) @ weight.T


def _float_weights(layers: list[Layer]) -> list[Any]:
    """Effective weights (gain folded, one threshold per channel kept apart), float64."""
    out = []
    for layer in layers:
        if layer.kind == "flatten":
            out.append(None)
            continue
        w = np.asarray(layer.weight, np.float64)
        gain = np.asarray(layer.gain, np.float64)
        if layer.kind == "pool":
            out.append(torch.as_tensor(gain * float(w)).reshape(1, -1, 1, 1))
        else:
            out.append(torch.as_tensor(w * gain.reshape((-1,) + (1,) * (w.ndim - 1))))
    return out


def _step(state: dict[str, Any], z: torch.Tensor, fixed: bool) -> torch.Tensor:
    """One neuron step for synaptic input ``z``; returns the spikes (float64 0/1)."""
    u, v = state["u"], state["v"]
    if fixed:  # Loihi: integers, products truncated toward zero at 12 bits
        u = torch.trunc(u * state["keep_u"] / 4096) + z * params.WEIGHT_SCALE
        v = torch.trunc(v * state["keep_v"] / 4096) + u
    else:
        u = state["keep_u"] * u + z
        v = state["keep_v"] * v + u
    spikes = (v > state["threshold"]).to(v.dtype)
    state["u"], state["v"] = u, v * (1 - spikes)
    return spikes


def reference_logits(
    graph: Any, spikes: torch.Tensor, fixed_point: bool, dt: float | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per-step logits of NIR's Euler equations for ``graph``, and each hidden layer's spike
    count per (sample, step) summed over its neurons.

    ``fixed_point=False``: float64, the graph's own parameters (what a float simulator
    computes). ``True``: the parameters on Loihi's grids (:mod:`tks_lava.nir.quantize`) in
    Lava's integer arithmetic; the logits must equal Lava's.
    """
    step_dt = float((graph.metadata or {}).get("dt", params.DT)) if dt is None else dt
    layers = read_layers(graph, step_dt)
    p = plan(layers, input_shape(graph))
    if fixed_point:
        weights = [
            None if w is None else torch.as_tensor(np.rint(np.asarray(w) * 64), dtype=torch.float64)
            for w in p.weights
        ]
        weights = [_pool_shape(lay, w) for lay, w in zip(layers, weights, strict=True)]
    else:
        weights = _float_weights(layers)
    x = (spikes > 0).to(torch.float64)
    states = [_initial(lay, p, fixed_point) for lay in layers]
    logits, counts = [], [[] for lay in layers if lay.threshold is not None]
    for t in range(x.shape[-1]):
        s, hidden = x[..., t], 0
        for layer, w, state in zip(layers, weights, states, strict=True):
            if layer.kind == "flatten":
                s = s.reshape(len(s), -1)
            elif layer.kind == "readout":
                z = _synaptic(layer, w, s)
                s = z / params.WEIGHT_SCALE if fixed_point else z
            else:
                s = _step(state, _synaptic(layer, w, s), fixed_point)
                counts[hidden].append(s.reshape(len(s), -1).sum(1))
                hidden += 1
        logits.append(s)
    spike_counts = [torch.stack(c, -1).numpy() for c in counts]
    return torch.stack(logits, -1).numpy(), spike_counts


def _pool_shape(layer: Layer, w: torch.Tensor | None) -> torch.Tensor | None:
    return w.reshape(1, 1, 1, 1) if layer.kind == "pool" and w is not None else w


def _initial(layer: Layer, p: Any, fixed: bool) -> dict[str, Any]:
    """Zero state and the per-step constants of one hidden layer."""
    if layer.threshold is None:
        return {}
    shape = (-1,) + (1,) * (len(layer.out_shape) - 1)
    neuron = p.config.neuron
    if fixed:
        keep_u = 4096 - round(neuron["current_decay"] * 4096)
        keep_v = 4096 - round(neuron["voltage_decay"] * 4096)
        threshold = torch.tensor(round(neuron["threshold"] * 64) * 64.0)
    else:
        keep_u, keep_v = 1 - layer.a, 1 - layer.b
        threshold = torch.as_tensor(np.asarray(layer.threshold, np.float64)).reshape(shape)
    zero = torch.zeros((), dtype=torch.float64)
    return {"u": zero, "v": zero, "keep_u": keep_u, "keep_v": keep_v, "threshold": threshold}
