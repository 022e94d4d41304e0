"""A trained tks_lava network as a NIR graph (``python -m tks_lava.nir export MODEL OUT.nir``).

One NIR synapse node and one neuron node per SLAYER block, in a chain from ``input`` to
``output``:

* ``conv``  -> ``Conv2d`` (zero bias) + ``CubaLIF``;
* ``pool``  -> ``SumPool2d`` + ``CubaLIF`` (the pool's weight in ``w_in``) when the input divides
  by k; otherwise SLAYER pads the *end* of the odd axis, which NIR's symmetric padding cannot
  say, so the pool is written as the diagonal ``Conv2d`` that computes it (as in the NetX file,
  :func:`tks_lava.model.network.export_pool`), tagged ``tks_lava_kind = pool``;
* ``flatten`` -> ``Flatten(start_dim=-3)``; ``dense`` -> ``Linear`` + ``CubaLIF``;
* the readout -> ``Linear`` + ``CubaLI`` with ``tau_syn = tau_mem = dt`` (memoryless: its v is
  the step's logit).

Weights are the quantised ones Lava runs (integer / 64), neurons take the continuous form of
:func:`tks_lava.nir.params.cuba_to_nir` (float64). **Delay**: each spiking block delays its
output by one step in SLAYER and Lava; no ``nir.Delay`` nodes are written (importers reject
them). A feed-forward graph from zero state computes the same outputs without them, so NIR
step t is Lava step t + ``latency``; each neuron's metadata has ``delay_steps = 1`` and the
graph's has ``latency``. The graph's metadata also holds dt, the fixed-point scales and the
model card (JSON), so :mod:`tks_lava.nir.importer` rebuilds the integer network exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tks_lava.io import atomic_path
from tks_lava.model.card import ModelCard
from tks_lava.model.network import SpikingNet
from tks_lava.nir import params

#: ``metadata["format"]`` of graphs written here.
GRAPH_FORMAT = "tks_lava.nir/1"


def _nir() -> Any:
    try:
        import nir
    except ImportError as err:  # a dependency; say how to get it back
        raise ImportError(f"the nir package is missing ({err}); pip install 'nir==1.0.8'") from err
    return nir


def graph_from_model(
    model: SpikingNet, card: ModelCard | None = None, dt: float = params.DT
) -> Any:
    """The ``nir.NIRGraph`` of ``model`` (its weights refreshed by one zero forward)."""
    nir = _nir()
    with torch.no_grad(), model.delay_shifts_off():
        model.forward_raw(torch.zeros(1, *model.config.input_shape, 1))
    shape = tuple(int(v) for v in model.config.input_shape)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    for i, (block, spec) in enumerate(zip(model.blocks, model.block_specs, strict=True)):
        nodes.update(_block_nodes(i, block, spec, model.block_inputs[i], dt))
    nodes["output"] = nir.Output(output_type={"output": np.array([model.config.num_classes])})
    names = list(nodes)
    edges = list(zip(names[:-1], names[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(model, card, dt))


def _metadata(model: SpikingNet, card: ModelCard | None, dt: float) -> dict[str, Any]:
    """The graph's metadata: time step, fixed-point scales, delay convention, the card."""
    meta: dict[str, Any] = {
        "format": GRAPH_FORMAT,
        "dt": dt,
        "time_step": f"one simulation step = dt = {dt} s; every tau is dt / (decay / 4096)",
        "weight_scale": params.WEIGHT_SCALE,
        "decay_scale": params.DECAY_SCALE,
        "threshold_scale": params.THRESHOLD_SCALE,
        "state_scale": params.STATE_SCALE,
        "fixed_point": (
            "integer weight = weight * 64 (even, -256..254); iDecay = 4096 * dt / tau_syn; "
            "vDecay = 4096 * dt / tau_mem; vThMant = 64 * v_threshold; Lava's u, v = 4096 * I, v; "
            "products are truncated toward zero at 12 fractional bits"
        ),
        "latency": int(model.latency),
        "delay": (
            "each CubaLIF block delays its spikes by one step in SLAYER and Lava (metadata "
            "delay_steps = 1), written without nir.Delay nodes: from zero state the graph's "
            "output at step t is Lava's readout at step t + latency"
        ),
        "input_encoding": "binary spikes (C, H, W) per step: 1 where the time bin saw an event",
        "readout": "the CubaLI readout's v is the step's logit (no memory: tau_syn = tau_mem = dt)",
    }
    if card is not None:
        meta["model_card"] = json.dumps(card.to_dict(), sort_keys=True)
        meta["timesteps"] = int(card.timesteps)
    return meta


def _block_nodes(
    i: int, block: torch.nn.Module, spec: Any, in_shape: tuple[int, ...], dt: float
) -> dict[str, Any]:
    """The NIR nodes of block ``i`` (synapse, then neuron), keyed by node name."""
    nir = _nir()
    kind = "readout" if spec is None else spec.kind
    if kind == "flatten":
        return {
            f"flatten_{i}": nir.Flatten(
                input_type={"input": np.array(in_shape)}, start_dim=-3, end_dim=-1
            )
        }
    syn = block.synapse
    ints = syn.pre_hook_fx(syn.weight, descale=True).detach().cpu().numpy()[..., 0]
    weight = (ints / params.WEIGHT_SCALE).astype(np.float32)  # exact: integers / 64
    gain = 1.0
    if kind == "pool":
        synapse, gain = _pool_node(i, syn, weight, in_shape)
    elif kind == "conv":
        synapse = {f"conv_{i}": _conv2d(weight, syn, in_shape)}
    else:
        name = "readout" if kind == "readout" else f"linear_{i}"
        synapse = {name: nir.Linear(weight=weight.reshape(weight.shape[0], -1))}
    return {**synapse, **_neuron_node(i, block, kind, gain, dt)}


def _conv2d(weight: np.ndarray, syn: Any, in_shape: tuple[int, ...], padding: Any = None) -> Any:
    """``nir.Conv2d`` of a SLAYER conv synapse (``weight``: (out, in, kh, kw), real units)."""
    return _nir().Conv2d(
        input_shape=tuple(int(v) for v in in_shape[1:]),
        weight=weight,
        stride=tuple(int(v) for v in syn.stride[:2]),
        padding=tuple(int(v) for v in (padding if padding is not None else syn.padding[:2])),
        dilation=tuple(int(v) for v in syn.dilation[:2]),
        groups=int(syn.groups),
        bias=np.zeros(weight.shape[0], np.float32),
    )


def _pool_node(
    i: int, syn: Any, tap: np.ndarray, in_shape: tuple[int, ...]
) -> tuple[dict[str, Any], float]:
    """A pool block's synapse node and the gain left for the neuron's ``w_in``."""
    nir = _nir()
    c, h, w = in_shape
    k_h, k_w = (int(v) for v in syn.kernel_size[:2])
    e_h, e_w = h % k_h, w % k_w
    value = float(tap.reshape(-1)[0])
    if not (e_h or e_w):
        pool = nir.SumPool2d(
            kernel_size=np.array([k_h, k_w]),
            stride=np.array([int(v) for v in syn.stride[:2]]),
            padding=np.array([0, 0]),
        )
        return {f"pool_{i}": pool}, value
    kernel = np.zeros((c, c, k_h + e_h, k_w + e_w), np.float32)
    kernel[np.arange(c), np.arange(c), e_h:, e_w:] = value
    conv = _conv2d(kernel, syn, in_shape, padding=(e_h, e_w))
    conv.metadata = {"tks_lava_kind": "pool", "pool_kernel": k_h, "pool_end_padding": e_h or e_w}
    return {f"pool_{i}": conv}, 1.0


def _neuron_node(i: int, block: Any, kind: str, gain: float, dt: float) -> dict[str, Any]:
    """The block's CUBA neuron as ``CubaLIF`` (hidden) or ``CubaLI`` (readout), one value per
    neuron; ``gain`` (a pool's weight) is folded into ``w_in``."""
    nir = _nir()
    dev = block.neuron.device_params
    readout = kind == "readout"
    cont = params.cuba_to_nir(
        int(dev["iDecay"]), int(dev["vDecay"]), None if readout else int(dev["vThMant"]), dt
    )
    shape = tuple(int(v) for v in block.neuron.shape)

    def full(value: float) -> np.ndarray:
        return np.full(shape, value, dtype=np.float64)

    common = dict(
        tau_syn=full(cont.tau_syn),
        tau_mem=full(cont.tau_mem),
        r=full(cont.r),
        v_leak=full(0.0),
        w_in=full(cont.w_in * gain),
    )
    meta = {
        "i_decay": int(dev["iDecay"]),
        "v_decay": int(dev["vDecay"]),
        "delay_steps": int(bool(getattr(block, "delay_shift", False))),
    }
    if readout:
        return {"readout_li": nir.CubaLI(**common, metadata=meta)}
    meta["v_th_mant"] = int(dev["vThMant"])
    node = nir.CubaLIF(
        **common, v_threshold=full(cont.v_threshold), v_reset=full(0.0), metadata=meta
    )
    return {f"lif_{i}": node}


# ----------------------------------------------------------------------------- files
def resolve_card(model: str | Path) -> Path:
    """Card path of ``model``: a card (.json), a ``.net`` with its card beside it, or the name
    of a model in ``netx_models/``."""
    from tks_lava.model.export import default_publish_dir

    path = Path(model)
    if path.suffix == ".net":
        candidates = [path.with_suffix(".json"), path.parent / "model_card.json"]
    elif path.suffix == ".json":
        candidates = [path]
    else:
        candidates = [default_publish_dir() / f"{model}.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no model card for {str(model)!r} (looked for {', '.join(map(str, candidates))}); "
        "pass a model card (.json) or the name of a model in netx_models/"
    )


def export_nir(model: str | Path, out: str | Path, dt: float = params.DT) -> Path:
    """Write the model named by ``model`` (see :func:`resolve_card`) as a NIR file, atomically.

    The card's ``.net`` is checked against its sha256 first: the graph is the model Lava runs.
    """
    from tks_lava.model.export import load_torch_model

    card_path = resolve_card(model)
    card = ModelCard.load(card_path)
    files = card.files(card_path)
    card.verify(files["net"])
    graph = graph_from_model(load_torch_model(files["weights"]), card, dt)
    return write_graph(graph, out)


def write_graph(graph: Any, out: str | Path) -> Path:
    """``nir.write`` to ``out`` atomically (the file appears complete or not at all)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        _nir().write(str(tmp), graph)
    return out
