"""Provenance: what produced a model or a measurement (library versions, the CPU).

Model cards, the study report and the benchmark results all record these.
"""

from __future__ import annotations

import platform
from pathlib import Path

import tks_lava


def versions() -> dict[str, str]:
    """Versions of python, torch, numpy, lava-dl, lava-nc and tks_lava."""
    from importlib import metadata

    import numpy
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__}  # fmt: skip
    for dist in ("lava-dl", "lava-nc"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["tks_lava"] = tks_lava.__version__
    return out


def cpu_model(cpuinfo: str | None = None) -> str:
    """The ``model name`` line of /proc/cpuinfo (or ``platform.processor()``)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"
