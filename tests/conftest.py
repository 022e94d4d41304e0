"""Shared test fixtures: the repository layout, the optional real recording, child-process
checks."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: names a copy of the real N-MNIST sample recording; the tests that use it skip without one
RECORDING_ENV = "TKS_LAVA_SAMPLE_RECORDING"
RECORDING_NAME = "sample_nmnist.bin"
#: optional: where this project's own development setup keeps that recording, beside the repo
DEV_RECORDING = REPO.parent / "shared" / "data" / RECORDING_NAME
HOW_TO_GET_RECORDING = (
    f"the real N-MNIST recording {RECORDING_NAME} is optional and not here: get it from the "
    "tonic project's test data (github.com/neuromorphs/tonic, test/test_data/sample_nmnist.bin; "
    "N-MNIST, Orchard et al. 2015, CC BY-SA 4.0) and set "
    f"{RECORDING_ENV}=/path/to/{RECORDING_NAME}"
)


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


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """The ``pids`` still running (zombies count as gone)."""
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


@pytest.fixture
def real_recording() -> Path:
    """The real N-MNIST sample recording (optional): ``$TKS_LAVA_SAMPLE_RECORDING``, or the
    copy this project's development setup keeps beside the repository; skips, saying how to
    get it, where there is none."""
    named = os.environ.get(RECORDING_ENV)
    for path in ([Path(named)] if named else []) + [DEV_RECORDING]:
        if path.is_file():
            return path
    pytest.skip(HOW_TO_GET_RECORDING)
