"""Cache locations, stable hashing and atomic writes shared by the data package."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CACHE_ENV = "TKS_LAVA_CACHE"
DATA_ENV = "TKS_LAVA_DATA"


def default_cache_dir() -> Path:
    """Where generated data and frame caches live: ``$TKS_LAVA_CACHE`` or ``~/.cache/tks_lava``.

    ``$XDG_CACHE_HOME`` is honoured when set (``$XDG_CACHE_HOME/tks_lava``).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tks_lava"


def default_data_root() -> Path:
    """Where real datasets are looked for when no root is given: ``$TKS_LAVA_DATA`` or
    ``<default_cache_dir()>/datasets``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else default_cache_dir() / "datasets"


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of the canonical JSON of ``obj`` (sorted keys): the same value on every run."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it onto ``target`` atomically.

    Readers never see a half-written file: the temp file lives in the same directory (same
    filesystem) and ``os.replace`` is atomic. On error the temp file is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + os.replace)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
