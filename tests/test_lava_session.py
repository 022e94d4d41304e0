"""LavaSession: tiny real Lava runs that finish, fail in a child, and leave nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

from tks_lava.lava_session import LavaChildError, LavaSession


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
