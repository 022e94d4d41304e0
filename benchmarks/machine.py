"""What the benchmarks ran on: platform, CPU, cores, RAM, load, library versions, date."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from tks_lava.provenance import cpu_model, versions


def ram_gib(meminfo: str | None = None) -> float | None:
    """Total RAM in GiB from /proc/meminfo (``MemTotal: N kB``)."""
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return None
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def choose_threads(
    requested: int | None, load_1min: float, usable_cores: int, default: int
) -> tuple[int, str]:
    """torch CPU threads for the run and why. ``--threads`` wins; else torch's default on an
    idle machine, and 1 thread when the 1-min load average exceeds half the usable cores
    (torch's multi-threaded ops slow down by an order of magnitude when they share cores)."""
    if requested is not None:
        return max(1, int(requested)), "--threads"
    if load_1min > 0.5 * max(usable_cores, 1):
        return 1, f"auto: machine busy (load {load_1min:.1f} on {usable_cores} cores)"
    return max(1, int(default)), "auto: torch default (idle machine)"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """Everything needed to say where a number came from (JSON-ready)."""
    import torch

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "ram_gib": ram_gib(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions(),
    }
