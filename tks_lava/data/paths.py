"""Where data and caches live, and the stable hash that names cache files."""

from __future__ import annotations

import hashlib
import json
import os
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
