"""Exported models: NetX HDF5 + PyTorch weights + a JSON model card, and their checks.

A trained model ships as three files side by side (lava-dl's ``network.net`` / ``network.pt``
convention): ``model.net`` (NetX HDF5, what Lava runs), ``network.pt`` (state dict + model
config, what PyTorch reloads with :func:`load_torch_model`) and ``model_card.json`` (what it is,
how it was trained and chosen, how accurate it is; :mod:`tks_lava.model.card`).
:func:`publish` copies them to ``netx_models/NAME.{net,pt,json}``. Every write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

import tks_lava
from tks_lava.io import atomic_path, copy_atomic
from tks_lava.model.card import ModelCard
from tks_lava.model.network import ArchitectureError, ModelConfig, SpikingNet, build_model

WEIGHTS_FORMAT = "tks_lava.weights/1"
NET_FILE = "model.net"
WEIGHTS_FILE = "network.pt"


def default_publish_dir() -> Path:
    """``<repository root>/netx_models`` (the folder beside the ``tks_lava`` package)."""
    return Path(tks_lava.__file__).resolve().parents[1] / "netx_models"


# ----------------------------------------------------------------------------- model files
def _copy(model: SpikingNet) -> SpikingNet:
    """A CPU copy of ``model`` (rebuilt from its config: weight-normed modules do not deepcopy)."""
    clone = build_model(model.config)
    clone.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return clone.eval()


def export_netx(model: SpikingNet, path: str | os.PathLike) -> Path:
    """Write ``model`` as NetX HDF5 to ``path`` atomically; ``model`` is left as it was.

    The file is loaded into NetX before it replaces ``path``: a network Lava cannot build raises
    :class:`~.network.ArchitectureError` and leaves whatever was at ``path`` untouched.
    SLAYER's ``block.export_hdf5`` removes weight normalisation from the block it exports (the
    state dict then has ``weight`` instead of ``weight_g``/``weight_v``), so a copy is exported.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        _copy(model).export_hdf5(str(tmp))
        close_netx(load_netx(tmp, model.config.input_shape))
    return path


def load_netx(net_path: str | Path, input_shape: tuple[int, int, int], **kw: Any) -> Any:
    """``netx.hdf5.Network`` of a NetX file for (C, H, W) frames; ``ArchitectureError`` naming
    the file and NetX's reason if it cannot be built."""
    from lava.lib.dl import netx

    c, h, w = input_shape
    try:
        return netx.hdf5.Network(net_config=str(net_path), input_shape=(w, h, c), **kw)
    except Exception as err:  # NetX raises NotImplementedError, RuntimeError, KeyError, ...
        raise ArchitectureError(
            f"{net_path}: NetX cannot build this network ({type(err).__name__}: {err})"
        ) from err


def save_weights(model: SpikingNet, path: str | os.PathLike) -> Path:
    """Write ``{"format", "model_config", "state_dict"}`` (CPU tensors) to ``path`` atomically."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(
            {"format": WEIGHTS_FORMAT, "model_config": model.config.to_dict(), "state_dict": state},
            tmp,
        )
    return path


def load_torch_model(weights_path: str | os.PathLike, device: str = "cpu") -> SpikingNet:
    """Rebuild the network saved by :func:`save_weights` (eval mode, on ``device``)."""
    path = Path(weights_path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # missing file, zip/pickle errors
        raise ValueError(f"{path}: cannot read weights ({type(err).__name__}: {err})") from err
    if not isinstance(saved, dict) or saved.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path}: not a tks_lava weights file (format {WEIGHTS_FORMAT!r})")
    model = build_model(ModelConfig.from_dict(saved["model_config"]))
    _match_weight_norm(model, saved["state_dict"])
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()


def _match_weight_norm(model: SpikingNet, state: dict[str, torch.Tensor]) -> None:
    """Remove weight norm from the blocks whose saved weights have none (a block that went
    through SLAYER's ``export_hdf5`` saves ``weight`` instead of ``weight_g``/``weight_v``)."""
    for i, block in enumerate(model.blocks):
        synapse = getattr(block, "synapse", None)
        plain = f"blocks.{i}.synapse.weight" in state
        if plain and getattr(synapse, "weight_norm_enabled", False):
            synapse.disable_weight_norm()


# ----------------------------------------------------------------------------- publishing
def publish(
    card_path: str | os.PathLike, name: str, publish_dir: str | os.PathLike | None = None
) -> dict[str, Path]:
    """Copy a run's model files to ``<publish_dir>/NAME.net``, ``NAME.pt`` and ``NAME.json``.

    The published card names the published files; its sha256 is checked against the copy.
    ``publish_dir`` defaults to :func:`default_publish_dir`.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"publish name must be a plain file stem, got {name!r}")
    out = Path(publish_dir) if publish_dir is not None else default_publish_dir()
    card = ModelCard.load(card_path)
    src = card.files(card_path)
    card.verify(src["net"])
    dst = {"net": out / f"{name}.net", "weights": out / f"{name}.pt", "card": out / f"{name}.json"}
    copy_atomic(src["net"], dst["net"])
    copy_atomic(src["weights"], dst["weights"])
    card.verify(dst["net"])
    card.replace(net_file=dst["net"].name, weights_file=dst["weights"].name).write(dst["card"])
    return dst


def close_netx(net: Any) -> None:
    """Close the HDF5 file a ``netx.hdf5.Network`` keeps open (NetX never closes it)."""
    net.net_config.f.close()
