"""LavaSession: tiny real Lava runs that finish, fail in a child, and leave nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

from tks_lava.deploy.session import LavaChildError, LavaSession


def _chain(weights: np.ndarray, data: np.ndarray, *middle):
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    src = Source(data=data)
    dense = Dense(weights=weights)
    sink = Sink(shape=(weights.shape[0],), buffer=data.shape[1])
    src.s_out.connect(dense.s_in)
    out = dense.a_out
    for proc in middle:
        out.connect(proc.a_in)
        out = proc.s_out
    out.connect(sink.a_in)
    return sink


def _cfg():
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag="fixed_pt")


def test_ringbuffer_dense_sink_runs_and_stops(no_leftover_children):
    steps = 6
    data = np.zeros((2, steps), dtype=np.int32)
    data[0, 0] = data[1, 2] = 1
    data[:, 4] = 1
    sink = _chain(np.eye(2, dtype=np.int32), data)
    with LavaSession(sink, _cfg()) as session:
        session.run(steps)
        got = sink.data.get()
    assert session.steps_run == steps
    # Dense delivers step t's spikes at step t + 1.
    expected = np.zeros_like(data)
    expected[:, 1:] = data[:, :-1]
    np.testing.assert_array_equal(got, expected)


def test_child_exception_surfaces_with_traceback(no_leftover_children):
    from tests.lava_models.failing import MESSAGE, FailAt

    data = np.ones((2, 10), dtype=np.int32)
    sink = _chain(np.eye(2, dtype=np.int32), data, FailAt(shape=(2,), fail_at=3))
    with pytest.raises(LavaChildError) as info, LavaSession(sink, _cfg()) as session:
        session.run(10)
    text = str(info.value)
    assert MESSAGE in text and "at step 3" in text
    assert "Traceback" in text and "run_spk" in text


def test_keyboard_interrupt_still_cleans_up(no_leftover_children):
    data = np.ones((2, 4), dtype=np.int32)
    sink = _chain(np.eye(2, dtype=np.int32), data)
    with pytest.raises(KeyboardInterrupt), LavaSession(sink, _cfg()) as session:
        session.run(2)
        raise KeyboardInterrupt


CTRL_C_SCRIPT = """
import sys
import torch
import tks_lava
from tks_lava.deploy.window import run_lava
from tks_lava.model.network import build_model, make_config

torch.manual_seed(0)
net = build_model(make_config("small_snn", (2, 16, 16), 3))
net.export_hdf5(sys.argv[1])
frames = (torch.rand(2000, 2, 16, 16, 10) < 0.3).float()
print("running", flush=True)
try:
    run_lava(sys.argv[1], frames, progress=False)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.slow
def test_ctrl_c_stops_every_child_without_tracebacks(tmp_path):
    """A real SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "net.net")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for line in proc.stdout:  # lava-dl prints a notice on import
        if line.strip() == "running":
            break
    time.sleep(4.0)  # let Lava compile and the children step
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == "interrupted"
    time.sleep(0.5)
    assert _live_group_members(proc.pid) == []


def _live_group_members(pgid: int) -> list[str]:
    """Processes of a process group that still run (zombies aside: this sandbox's PID 1 does
    not reap orphans; multiprocessing's resource tracker exits by itself once unused)."""
    from pathlib import Path

    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z" and "resource_tracker" not in cmd:
            left.append(f"{stat.parent.name} {fields[0]} {cmd}")
    return left
