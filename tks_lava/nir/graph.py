"""Read a NIR graph as a chain of tks_lava blocks, in real units, before any quantisation.

The graph must be one chain from its ``Input`` to its ``Output``. Each block is a synapse node
(``Conv2d``, ``Linear``/``Affine``, ``SumPool2d``/``AvgPool2d``) followed by a neuron node, or a
``Flatten``:

* spiking neurons: ``CubaLIF``; ``LIF`` (no synaptic current: CUBA with current decay 1);
  ``IF`` (no leak: voltage decay 0);
* the readout (last block): ``CubaLI``/``LI`` that keep no memory from step to step
  (``tau = dt``), or no neuron at all: its value is the logit. A graph that ends in spiking
  neurons is read out through an identity readout (logit = spike).

What does not fit gets :class:`NirImportError` naming the node and its type: recurrent edges
and subgraphs, branches, a neuron without a synapse before it, ``Delay``, non-zero biases, leak
or reset voltages, grouped or dilated convolutions, pools that overlap or drop edge pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tks_lava.nir.params import euler_factors

SYNAPSES = ("Conv2d", "Linear", "Affine", "SumPool2d", "AvgPool2d")
SPIKING = ("CubaLIF", "LIF", "IF")
READOUTS = ("CubaLI", "LI")


class NirImportError(ValueError):
    """A NIR graph that tks_lava cannot run; the message names the node, its type and why."""


@dataclass
class Layer:
    """One block read from the graph, in real units (before the Loihi grids).

    ``weight``: conv (out, in, k, k), dense/readout (out, in), pool: the one tap (0-d).
    ``a``, ``b``: fractions of current and voltage decayed per step (one per block).
    ``gain``: per output channel, the factor between the synapse output and Lava's ``u``
    (``a w_in b r``); ``threshold``: per output channel (None for flatten and readout).
    """

    kind: str
    nodes: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight: np.ndarray | None = None
    k: int = 0
    stride: int = 1
    padding: int = 0
    a: float = 1.0
    b: float = 1.0
    gain: np.ndarray | None = None
    threshold: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def _type(node: Any) -> str:
    return type(node).__name__


def _fail(name: str, node: Any, why: str) -> NirImportError:
    return NirImportError(f"NIR node {name!r} ({_type(node)}): {why}")


def chain(graph: Any) -> list[tuple[str, Any]]:
    """The nodes from the graph's Input to its Output, in order (both excluded)."""
    nodes, edges = graph.nodes, [tuple(e) for e in graph.edges]
    for name, node in nodes.items():
        if _type(node) == "NIRGraph":
            raise _fail(
                name,
                node,
                "a subgraph (recurrent layers are exported as subgraphs); "
                "tks_lava builds feed-forward chains only",
            )
    inputs = [n for n, v in nodes.items() if _type(v) == "Input"]
    outputs = [n for n, v in nodes.items() if _type(v) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirImportError(
            f"the graph needs one Input and one Output node, found inputs {inputs}, outputs "
            f"{outputs}"
        )
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for src, dst in edges:
        succ[src].append(dst)
    order, seen, here = [], {inputs[0]}, inputs[0]
    while here != outputs[0]:
        nxt = succ[here]
        back = [n for n in nxt if n in seen]
        if back:
            raise _fail(
                here,
                nodes[here],
                f"recurrent edge {here!r} -> {back[0]!r}; tks_lava "
                "builds feed-forward networks only",
            )
        if len(nxt) != 1:
            raise _fail(
                here,
                nodes[here],
                f"{len(nxt)} outgoing edges {nxt}; tks_lava needs one chain from Input to Output",
            )
        here = nxt[0]
        seen.add(here)
        order.append(here)
    stray = sorted(set(nodes) - seen)
    if stray:
        raise NirImportError(f"NIR nodes {stray} are not on the chain from Input to Output")
    return [(n, nodes[n]) for n in order[:-1]]


def input_shape(graph: Any) -> tuple[int, int, int]:
    """(C, H, W) of the graph's Input (a leading batch dimension of 1 is dropped)."""
    name, node = next((n, v) for n, v in graph.nodes.items() if _type(v) == "Input")
    shape = tuple(int(v) for v in np.asarray(node.input_type["input"]).reshape(-1))
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3:
        raise _fail(name, node, f"input shape {shape}; tks_lava runs (C, H, W) frames")
    return shape  # type: ignore[return-value]


def read_layers(graph: Any, dt: float) -> list[Layer]:
    """The blocks of ``graph`` (see the module docstring), with ``dt`` seconds per step."""
    seq = chain(graph)
    shape: tuple[int, ...] = input_shape(graph)
    layers: list[Layer] = []
    i = 0
    while i < len(seq):
        name, node = seq[i]
        kind = _type(node)
        if kind == "Flatten":
            flat = (int(np.prod(shape)),)
            layers.append(Layer("flatten", (name,), shape, flat))
            shape, i = flat, i + 1
            continue
        if kind in SPIKING + READOUTS:
            raise _fail(
                name,
                node,
                "a neuron without a synapse before it (tks_lava blocks are "
                "a Conv2d, Linear, Affine or pool node followed by their neurons)",
            )
        if kind not in SYNAPSES:
            raise _fail(
                name,
                node,
                f"no tks_lava block for this node type; supported: "
                f"{', '.join(SYNAPSES + SPIKING + READOUTS)} and Flatten",
            )
        layer = _synapse(name, node, shape)
        follower = seq[i + 1] if i + 1 < len(seq) else None
        if follower is not None and _type(follower[1]) in SPIKING:
            _spiking(layer, *follower, dt)
            i += 2
        elif follower is None or _type(follower[1]) in READOUTS:
            _readout(layer, follower, dt)
            i += 2
            if i < len(seq):
                raise _fail(*seq[i], "follows the readout; the readout must be the last block")
        else:
            raise _fail(
                *follower,
                f"follows synapse {name!r}; a synapse must be followed by "
                f"a neuron ({', '.join(SPIKING + READOUTS)})",
            )
        layers.append(layer)
        shape = layer.out_shape
    if layers and layers[-1].kind not in ("readout",):
        layers.append(_identity_readout(layers[-1]))
    return layers


def _identity_readout(last: Layer) -> Layer:
    """A readout whose logit c is the spike of neuron c of a graph's last (spiking) layer."""
    if len(last.out_shape) != 1:
        raise NirImportError(
            f"the graph ends in {last.kind} layer {last.nodes[-1]!r} of shape {last.out_shape}; "
            "a readout needs a flat layer (end with Flatten + Linear)"
        )
    n = last.out_shape[0]
    layer = Layer("readout", (), last.out_shape, last.out_shape, weight=np.eye(n))
    layer.gain = np.ones(n)
    layer.notes.append("the graph ends in spiking neurons: logit c = spike of neuron c")
    return layer


def _synapse(name: str, node: Any, shape: tuple[int, ...]) -> Layer:
    """A Layer from a synapse node, its weights in real units (neurons filled in later)."""
    kind = _type(node)
    if kind in ("Linear", "Affine"):
        w = np.asarray(node.weight, np.float64)
        if len(shape) != 1:
            raise _fail(name, node, f"input of shape {shape}; put a Flatten node before it")
        if w.ndim != 2 or w.shape[1] != shape[0]:
            raise _fail(name, node, f"weight {w.shape} does not take {shape[0]} inputs")
        if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
            raise _fail(name, node, "non-zero bias; tks_lava's CUBA blocks have no bias")
        return Layer("dense", (name,), shape, (w.shape[0],), weight=w)
    if len(shape) != 3:
        raise _fail(name, node, f"input of shape {shape}; it needs (C, H, W)")
    if kind == "Conv2d":
        return _conv(name, node, shape)
    return _pool(name, node, shape)


def _pair(value: Any, what: str, name: str, node: Any) -> int:
    """One int from an int or an (int, int) pair with equal entries."""
    v = np.asarray(value).reshape(-1)
    if len(v) not in (1, 2) or (len(v) == 2 and v[0] != v[1]):
        raise _fail(name, node, f"{what} {tuple(v)}; tks_lava layers use one {what} for H and W")
    return int(v[0])


def _conv(name: str, node: Any, shape: tuple[int, ...]) -> Layer:
    w = np.asarray(node.weight, np.float64)
    if w.ndim != 4 or w.shape[1] != shape[0]:
        raise _fail(
            name,
            node,
            f"weight {w.shape} does not take {shape[0]} input channels "
            "(grouped convolutions are not supported)",
        )
    meta = getattr(node, "metadata", None) or {}
    if _text(meta.get("tks_lava_kind")) == "pool":
        stride = _pair(node.stride, "stride", name, node)
        pool = _diagonal_pool(name, w, shape, int(meta.get("pool_kernel", 0)), stride)
        if pool is not None:
            return pool
    if w.shape[2] != w.shape[3]:
        raise _fail(name, node, f"kernel {w.shape[2:]}; tks_lava convs are square")
    if int(np.asarray(node.groups)) != 1 or _pair(node.dilation, "dilation", name, node) != 1:
        raise _fail(name, node, "groups and dilation must be 1")
    if np.any(np.asarray(node.bias) != 0):
        raise _fail(name, node, "non-zero bias; tks_lava's CUBA blocks have no bias")
    k, stride = w.shape[2], _pair(node.stride, "stride", name, node)
    padding = node.padding
    if isinstance(padding, str):
        padding = 0 if padding == "valid" else (k - 1) // 2
        if node.padding == "same" and (stride != 1 or k % 2 == 0):
            raise _fail(name, node, "padding 'same' needs stride 1 and an odd kernel")
    padding = _pair(padding, "padding", name, node)
    out = tuple((s + 2 * padding - k) // stride + 1 for s in shape[1:])
    return Layer(
        "conv", (name,), shape, (w.shape[0], *out), weight=w, k=k, stride=stride, padding=padding
    )


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _diagonal_pool(
    name: str, w: np.ndarray, shape: tuple[int, ...], k: int, stride: int
) -> Layer | None:
    """The pool a tks_lava export wrote as a diagonal conv, or None if ``w`` is not one."""
    c, h, wd = shape
    if k < 1 or stride != k:
        return None
    e_h, e_w = h % k, wd % k
    tap = w[0, 0, -1, -1]
    expect = np.zeros_like(w)
    expect[np.arange(c), np.arange(c), e_h:, e_w:] = tap
    if w.shape[:2] != (c, c) or w.shape[2:] != (k + e_h, k + e_w) or not np.array_equal(w, expect):
        return None
    out = (c, -(-h // k), -(-wd // k))
    return Layer("pool", (name,), shape, out, weight=np.asarray(tap), k=k, stride=k)


def _pool(name: str, node: Any, shape: tuple[int, ...]) -> Layer:
    k = _pair(node.kernel_size, "kernel_size", name, node)
    stride = _pair(node.stride, "stride", name, node)
    if stride != k or np.any(np.asarray(node.padding) != 0):
        raise _fail(
            name,
            node,
            f"kernel {k}, stride {stride}, padding "
            f"{tuple(np.asarray(node.padding).reshape(-1))}; tks_lava pools do not "
            "overlap (stride = kernel) and have no padding",
        )
    if shape[1] % k or shape[2] % k:
        raise _fail(
            name,
            node,
            f"a {k}x{k} pool over {shape[1]}x{shape[2]} drops the last "
            "row/column in NIR but SLAYER pads and keeps it; not representable",
        )
    tap = 1.0 if _type(node) == "SumPool2d" else 1.0 / (k * k)
    layer = Layer(
        "pool",
        (name,),
        shape,
        (shape[0], shape[1] // k, shape[2] // k),
        weight=np.asarray(tap),
        k=k,
        stride=k,
    )
    if tap != 1.0:
        layer.notes.append(f"average pool = sum pool with weight 1/{k * k}")
    return layer


def _per_channel(name: str, node: Any, value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` broadcast to the neuron ``shape``, one value per output channel."""
    try:
        full = np.broadcast_to(np.asarray(value, np.float64), shape)
    except ValueError:
        raise _fail(
            name, node, f"{what} of shape {np.shape(value)} does not fit neurons {shape}"
        ) from None
    per = full.reshape(shape[0], -1)
    if np.any(per != per[:, :1]):
        raise _fail(
            name,
            node,
            f"{what} varies inside a channel; tks_lava layers have one value per output channel",
        )
    return per[:, 0].copy()


def _uniform(name: str, node: Any, value: np.ndarray, what: str) -> float:
    if np.ptp(value) > 1e-12 * max(1.0, float(np.abs(value).max())):
        raise _fail(
            name,
            node,
            f"{what} differs between neurons; SLAYER's CUBA blocks share one decay per layer",
        )
    return float(value.reshape(-1)[0])


def _neuron(layer: Layer, name: str, node: Any, dt: float) -> None:
    """Fill ``a``, ``b`` and ``gain`` of ``layer`` from its neuron node."""
    kind, shape = _type(node), layer.out_shape

    def chan(attr: str) -> np.ndarray:
        return _per_channel(name, node, getattr(node, attr), shape, attr)

    for attr in ("v_leak", "v_reset"):
        if hasattr(node, attr) and getattr(node, attr) is not None and np.any(chan(attr) != 0):
            raise _fail(name, node, f"non-zero {attr}; Loihi's CUBA neuron leaks and resets to 0")
    if kind in ("CubaLIF", "CubaLI"):
        a, b = euler_factors(chan("tau_syn"), chan("tau_mem"), dt)
        gain = a * chan("w_in") * b * chan("r")
    elif kind in ("LIF", "LI"):
        b = euler_factors(1.0, chan("tau"), dt)[1]
        a, gain = np.ones_like(b), b * chan("r")
    else:  # IF: dv/dt = r I, no leak
        a, b = np.ones(shape[0]), np.zeros(shape[0])
        gain = dt * chan("r")
    layer.nodes += (name,)
    layer.a = _uniform(name, node, a, "tau_syn" if kind.startswith("Cuba") else "tau")
    layer.b = _uniform(name, node, b, "tau_mem" if kind.startswith("Cuba") else "tau")
    layer.gain = gain


def _spiking(layer: Layer, name: str, node: Any, dt: float) -> None:
    _neuron(layer, name, node, dt)
    layer.threshold = _per_channel(name, node, node.v_threshold, layer.out_shape, "v_threshold")


def _readout(layer: Layer, follower: tuple[str, Any] | None, dt: float) -> None:
    if layer.kind != "dense":
        raise NirImportError(f"the readout {layer.nodes[0]!r} must be Linear or Affine")
    layer.kind = "readout"
    if follower is None:
        layer.gain = np.ones(layer.out_shape[0])
        return
    name, node = follower
    _neuron(layer, name, node, dt)
    if abs(layer.a - 1) > 1e-9 or abs(layer.b - 1) > 1e-9:
        raise _fail(
            name,
            node,
            f"a readout with memory (dt/tau = {layer.a:.4g}, {layer.b:.4g}); "
            "tks_lava reads each step's logit from a memoryless readout (tau = dt)",
        )
