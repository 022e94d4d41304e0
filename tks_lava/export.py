"""Exported models: NetX HDF5 + PyTorch weights + a JSON model card, and their checks.

A trained model ships as three files side by side (lava-dl's ``network.net`` / ``network.pt``
convention): ``model.net`` (NetX HDF5, what Lava runs), ``network.pt`` (state dict + model
config, what PyTorch reloads with :func:`load_torch_model`) and ``model_card.json`` (what it is,
how it was trained and how accurate it is in PyTorch; ``sha256`` pins the ``.net`` file).
:func:`publish` copies them to ``netx_models/NAME.{net,pt,json}``. Every write is atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

import tks_lava
from tks_lava.data.paths import atomic_path
from tks_lava.models import ArchitectureError, ModelConfig, SpikingNet, build_model

CARD_FORMAT = "tks_lava.model_card/1"
WEIGHTS_FORMAT = "tks_lava.weights/1"
NET_FILE = "model.net"
WEIGHTS_FILE = "network.pt"
CARD_FILE = "model_card.json"

#: keys every model card has (``dataset_params`` only for generated datasets)
CARD_KEYS = (
    "format",
    "net_file",
    "sha256",
    "weights_file",
    "dataset",
    "frames",
    "input_shape",
    "classes",
    "num_classes",
    "timesteps",
    "latency",
    "model_config",
    "method",
    "hyperparameters",
    "torch_accuracy",
    "epoch",
    "train_time_s",
    "seconds_per_epoch",
    "command",
    "created",
    "versions",
)


def default_publish_dir() -> Path:
    """``<repository root>/netx_models`` (the folder beside the ``tks_lava`` package)."""
    return Path(tks_lava.__file__).resolve().parents[1] / "netx_models"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of what produced a model (python, torch, lava-dl, lava-nc, tks_lava)."""
    from importlib import metadata

    out = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("lava-dl", "lava-nc"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["tks_lava"] = tks_lava.__version__
    return out


# ----------------------------------------------------------------------------- model files
def _copy(model: SpikingNet) -> SpikingNet:
    """A CPU copy of ``model`` (rebuilt from its config: weight-normed modules do not deepcopy)."""
    clone = build_model(model.config)
    clone.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return clone.eval()


def export_netx(model: SpikingNet, path: str | os.PathLike) -> Path:
    """Write ``model`` as NetX HDF5 to ``path`` atomically; ``model`` is left as it was.

    The file is loaded into NetX before it replaces ``path``: a network Lava cannot build raises
    :class:`~tks_lava.models.ArchitectureError` and leaves whatever was at ``path`` untouched.
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


# ----------------------------------------------------------------------------- model card
def write_card(path: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Check that ``card`` has every key of :data:`CARD_KEYS` and write it as JSON atomically."""
    _check_card(card, str(path))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n")
    return path


def _check_card(card: Any, where: str) -> None:
    if not isinstance(card, dict):
        raise ValueError(f"{where}: a model card must be a JSON object, got {type(card).__name__}")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise ValueError(f"{where}: model card lacks key(s) {', '.join(missing)}")
    if card["format"] != CARD_FORMAT:
        raise ValueError(f"{where}: model card format {card['format']!r}, expected {CARD_FORMAT!r}")


def load_card(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a model card; ``ValueError`` naming the file on any problem."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read model card ({err})") from err
    _check_card(card, str(path))
    return card


def card_files(card_path: str | os.PathLike, card: dict[str, Any] | None = None) -> dict[str, Path]:
    """Paths of the ``net`` and ``weights`` files a card names (they sit beside the card)."""
    card_path = Path(card_path)
    card = card if card is not None else load_card(card_path)
    return {
        "net": card_path.parent / card["net_file"],
        "weights": card_path.parent / card["weights_file"],
    }


def verify_card(card: dict[str, Any], net_path: str | os.PathLike) -> str:
    """Check that ``net_path`` is the file the card describes (sha256); return the digest.

    Raises ``ValueError`` if the digests differ (the .net was modified or is another model).
    """
    digest = sha256_file(net_path)
    if digest != card["sha256"]:
        raise ValueError(
            f"{net_path}: sha256 {digest[:16]}... does not match its model card "
            f"({str(card['sha256'])[:16]}...); the .net file was modified or belongs to "
            "another model"
        )
    return digest


# ----------------------------------------------------------------------------- publishing
def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` through a temp file beside ``dst`` and ``os.replace``."""
    dst = Path(dst)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


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
    card = load_card(card_path)
    src = card_files(card_path, card)
    verify_card(card, src["net"])
    dst = {"net": out / f"{name}.net", "weights": out / f"{name}.pt", "card": out / f"{name}.json"}
    copy_atomic(src["net"], dst["net"])
    copy_atomic(src["weights"], dst["weights"])
    verify_card(card, dst["net"])
    write_card(
        dst["card"], {**card, "net_file": dst["net"].name, "weights_file": dst["weights"].name}
    )
    return dst


def close_netx(net: Any) -> None:
    """Close the HDF5 file a ``netx.hdf5.Network`` keeps open (NetX never closes it)."""
    net.net_config.f.close()
