"""A NIR file -> a SLAYER model -> NetX ``.net`` + ``.pt`` + model card, ready for Lava.

:func:`import_nir` writes the three files ``run_netx`` reads (any card reader works on them);
:func:`card_for_nir` does it once per (file, dataset, dt) into the cache and returns the card,
which is how ``python -m tks_lava.run_netx --model X.nir`` runs a NIR graph. A graph written by
:mod:`tks_lava.nir.export` carries its model card, so the round trip needs no ``--dataset``; a
graph from elsewhere needs the dataset whose frames it classifies.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tks_lava.io import sha256_file, write_text_atomic
from tks_lava.model.card import CardError, ModelCard
from tks_lava.model.network import SpikingNet, build_model
from tks_lava.nir import params
from tks_lava.nir.graph import NirImportError, input_shape, read_layers
from tks_lava.nir.quantize import Plan, plan


def read_graph(path: str | Path) -> Any:
    """``nir.read`` with a clear error for a missing or unreadable file."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: NIR file not found")
    try:
        return nir.read(str(path))
    except Exception as err:  # h5py, KeyError, ValueError from the node constructors
        raise NirImportError(
            f"{path}: not a readable NIR graph ({type(err).__name__}: {err})"
        ) from err


def graph_dt(graph: Any, dt: float | None = None) -> float:
    """Seconds per step: ``dt`` if given, else the graph's ``metadata["dt"]``, else 1e-4
    (snnTorch's convention)."""
    if dt is not None:
        return float(dt)
    meta = getattr(graph, "metadata", None) or {}
    return float(meta["dt"]) if "dt" in meta else params.DT


def _card_meta(graph: Any) -> dict[str, Any] | None:
    meta = getattr(graph, "metadata", None) or {}
    text = meta.get("model_card")
    return None if text is None else json.loads(text.decode() if isinstance(text, bytes) else text)


def plan_graph(graph: Any, dt: float | None = None, exact: bool = False) -> Plan:
    """The quantised :class:`~tks_lava.nir.quantize.Plan` of a NIR graph."""
    card = _card_meta(graph)
    extra = card["model_config"].get("neuron") if card else None
    layers = read_layers(graph, graph_dt(graph, dt))
    return plan(layers, input_shape(graph), neuron_extra=extra, exact=exact)


def build_from_plan(p: Plan) -> SpikingNet:
    """The SLAYER network of a plan, its weights set (eval mode, CPU)."""
    model = build_model(p.config)
    with torch.no_grad():
        for block, weight in zip(model.blocks, p.weights, strict=True):
            if weight is None:
                continue
            syn = block.synapse
            value = torch.as_tensor(np.asarray(weight, np.float32))
            if value.dim() == 0:  # a pool: one weight
                syn.weight.fill_(float(value))
            else:
                syn.weight.copy_(value.reshape(syn.weight.shape))
            ints = syn.pre_hook_fx(syn.weight, descale=True)
            if not torch.equal(ints, syn.weight * params.WEIGHT_SCALE):
                raise NirImportError("internal: SLAYER moved a weight that was on its grid")
    return model.eval()


def import_nir(
    path: str | Path,
    out_dir: str | Path,
    dataset: str | None = None,
    dt: float | None = None,
    exact: bool = False,
    name: str | None = None,
) -> tuple[Path, Plan]:
    """Write ``NAME.net``, ``NAME.pt`` and ``NAME.json`` (the card, last) for a NIR file into
    ``out_dir``; return the card's path and the plan (its ``report`` says what was quantised)."""
    from tks_lava.model.export import export_netx, save_weights

    path, out_dir = Path(path), Path(out_dir)
    name = name or path.stem
    graph = read_graph(path)
    p = plan_graph(graph, dt, exact)
    if dataset is None and _card_meta(graph) is None:
        _need_dataset(path, p)
    model = build_from_plan(p)
    net, weights = out_dir / f"{name}.net", out_dir / f"{name}.pt"
    export_netx(model, net)
    save_weights(model, weights)
    card = _card(graph, p, model, dataset, path)
    card = card.replace(net_file=net.name, weights_file=weights.name, sha256=sha256_file(net))
    card_path = card.write(out_dir / f"{name}.json")
    write_text_atomic(out_dir / f"{name}.quantization.txt", p.report.text() + "\n")
    return card_path, p


def _card(graph: Any, p: Plan, model: SpikingNet, dataset: str | None, path: Path) -> ModelCard:
    """The imported model's card: the exported one when the graph carries it, else made from
    ``dataset``'s defaults."""
    carried = _card_meta(graph)
    common = {"model_config": p.config, "latency": int(model.latency)}
    if carried is not None:
        card = ModelCard.from_dict(
            {**carried, "sha256": "", "net_file": "", "weights_file": ""},
            f"{path} (metadata model_card)",
        )
        if tuple(card.input_shape) != tuple(p.config.input_shape):
            raise NirImportError(
                f"{path}: its model card says input {card.input_shape}, the "
                f"graph {p.config.input_shape}"
            )
        return card.replace(dataset=dataset or card.dataset, **common)
    if dataset is None:
        _need_dataset(path, p)
    return _new_card(graph, p, dataset, path).replace(**common)


def _need_dataset(path: Path, p: Plan) -> None:
    c, h, w = p.config.input_shape
    raise NirImportError(
        f"{path} carries no tks_lava model card: name the dataset whose frames it classifies "
        f"with --dataset NAME (frames of C x H x W = {c} x {h} x {w}, "
        f"{p.config.num_classes} classes)"
    )


def _new_card(graph: Any, p: Plan, dataset: str, path: Path) -> ModelCard:
    from tks_lava.data.registry import get_spec

    spec = get_spec(dataset)
    meta = getattr(graph, "metadata", None) or {}
    framing = spec.default_frames(int(meta["timesteps"]) if "timesteps" in meta else None)
    hw = tuple(p.config.input_shape[1:])
    if tuple(framing.output_hw(spec.sensor_size)) != hw:
        framing = type(framing).from_dict({**framing.to_dict(), "size": list(hw)})
    return ModelCard(
        net_file="",
        sha256="",
        weights_file="",
        dataset=spec.name,
        framing=framing,
        input_shape=tuple(p.config.input_shape),
        classes=[str(i) for i in range(p.config.num_classes)],
        latency=0,
        model_config=p.config,
        method="nir",
        hyperparameters={"source": str(path), "logit_scale": p.logit_scale},
        selection={"rule": "imported from a NIR graph (no selection here)", "epoch": 0},
        torch_accuracy={},
        command=f"python -m tks_lava.nir import {path} --dataset {spec.name}",
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )


def card_for_nir(
    path: str | Path,
    dataset: str | None = None,
    dt: float | None = None,
    cache_dir: str | Path | None = None,
    log: Any = None,
) -> Path:
    """The card of the NIR file's converted model, converting it once into
    ``<cache>/nir/<digest>/`` (reused while the file, dataset and dt are the same). The
    quantisation report is printed (to stderr by default) when it converts."""
    from tks_lava.data.paths import default_cache_dir, stable_hash

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: NIR file not found")
    key = stable_hash({"nir": sha256_file(path), "dataset": dataset, "dt": dt})
    out_dir = Path(cache_dir or default_cache_dir()) / "nir" / key
    card_path = out_dir / f"{path.stem}.json"
    say = log or (lambda text: print(text, file=sys.stderr))
    if card_path.is_file():
        try:
            card = ModelCard.load(card_path)
            card.verify(card.files(card_path)["net"])
            return card_path
        except (CardError, OSError):
            pass  # a damaged cache entry: convert again
    card_path, p = import_nir(path, out_dir, dataset=dataset, dt=dt)
    say(f"{path}: converted to {card_path.parent}\n{p.report.text()}")
    return card_path
