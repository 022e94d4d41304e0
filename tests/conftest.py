"""Shared test fixtures: the repository layout, the shared data folder, child-process checks."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def child_pids() -> set[int]:
    """PIDs of this process's children (zombies included), read from /proc.

    multiprocessing's resource tracker is left out: it is one per interpreter by design and
    exits with it (it is what reports leaked shared memory).
    """
    from multiprocessing import resource_tracker

    me = str(os.getpid())
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # fields: state, ppid, ...
            pids.add(int(stat.parent.name))
    return pids - {resource_tracker._resource_tracker._pid}


@pytest.fixture
def no_leftover_children():
    """Fail the test if it leaves child processes behind (Lava runs fork one per model)."""
    mp.active_children()
    before = child_pids()
    yield
    mp.active_children()
    left = child_pids() - before
    assert not left, f"test left child processes behind: {sorted(left)}"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real recordings for tests); skips where it is not beside the repo."""
    path = SHARED / "data"
    if not (path / "sample_nmnist.bin").is_file():
        pytest.skip("../shared/data/sample_nmnist.bin not available")
    return path
