"""Training checkpoints: atomic save/load and the RNG states that make a resumed run exact.

A checkpoint is a plain dict saved with ``torch.save`` (loadable with ``weights_only=True``):
``format``, ``config`` (``TrainConfig.to_dict()``), ``model_config``, ``model``, ``optimizer``,
``scheduler``, ``epoch`` (the next epoch to run), ``rng``, ``history`` (one dict per finished
epoch), ``best`` (``{"epoch", "acc"}``). Data order is not stored: it is derived from
``(seed, epoch)`` (see ``tks_lava.training.epoch_order``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tks_lava.io import atomic_path

CHECKPOINT_FORMAT = "tks_lava.checkpoint/1"
LAST = "last.pt"
BEST = "best.pt"


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and ``random`` states, as tensors and plain Python values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "random": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    random.setstate(_to_tuples(state["random"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and ``random``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file from a checkpoint path or a run directory (its ``last.pt``)."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / LAST
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}: --resume takes a run directory (with {LAST}) or a .pt file"
        )
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (CPU tensors, weights_only)."""
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors come in many types
        raise ValueError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a tks_lava checkpoint (format {CHECKPOINT_FORMAT!r})")
    state["path"] = str(path)
    return state
