"""Provenance: what produced a model or a measurement (library versions, the CPU, the code).

Model cards, the study report and the benchmark results all record these. Every function here
answers something (``None`` when it cannot tell) and never raises: provenance must not stop a
run that has already trained.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import tks_lava

#: The package folder: its git checkout (if any) is the code that ran.
PACKAGE_DIR = Path(tks_lava.__file__).resolve().parent
#: Seconds a git query may take before the answer is "unknown".
GIT_TIMEOUT_S = 10.0


def versions() -> dict[str, str]:
    """Versions of python, torch, numpy, lava-dl, lava-nc and tks_lava."""
    from importlib import metadata

    import numpy
    import torch

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
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


def _git(where: Path, *args: str) -> str | None:
    """stdout of ``git -C where ARGS`` (stripped), or None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(where), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _tracked_checkout(where: Path) -> Path | None:
    """The top of the git checkout that tracks ``where/__init__.py``, else None.

    An installed copy of the package (site-packages, even inside some other repository's
    ignored ``.venv``) is not tracked there, so it has no commit.
    """
    if not where.is_dir():
        return None
    top = _git(where, "rev-parse", "--show-toplevel")
    if not top:
        return None
    tracked = _git(where, "ls-files", "--full-name", "--", "__init__.py")
    return Path(top) if tracked else None


def git_commit(where: str | Path | None = None) -> str | None:
    """The commit (40 hex digits) of the git checkout the package runs from; None outside one
    (an installed package, no git, a broken repository)."""
    where = Path(where) if where is not None else PACKAGE_DIR
    top = _tracked_checkout(where)
    return _git(top, "rev-parse", "HEAD") if top is not None else None


def git_dirty(where: str | Path | None = None) -> bool | None:
    """True when the checkout of :func:`git_commit` has changes (tracked files modified, or
    untracked files git does not ignore), so the commit alone does not name the code; None
    outside a checkout."""
    where = Path(where) if where is not None else PACKAGE_DIR
    top = _tracked_checkout(where)
    if top is None:
        return None
    status = _git(top, "status", "--porcelain")
    return None if status is None else bool(status)
