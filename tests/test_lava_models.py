"""Fast Lava process models: the same integers as Lava's stock models, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest

from tks_lava.deploy.process_models import MODEL_CHOICES, fast_models, run_config
from tks_lava.deploy.process_models.conv import FLOAT32_EXACT, conv_gemm, conv_plan, exact_dtype


def stock_conv(s, w, kernel, stride, padding, dilation, groups):
    """What Lava's PyConvModelFixed computes in one step (utils.conv + 24-bit wrap)."""
    from lava.proc.conv import utils

    out = utils.conv(s, w, kernel, stride, padding, dilation, groups).astype(np.int32)
    return utils.signed_clamp(out, bits=24)


def fast_conv(s, w, kernel, stride, padding, dilation, groups):
    from lava.proc.conv import utils

    mats, wsum = conv_plan(w, groups)
    bound = wsum * max(1, float(np.abs(s).max(initial=0)))
    out = conv_gemm(s, mats, kernel, stride, padding, dilation, exact_dtype(bound))
    return utils.signed_clamp(out.astype(np.int32), bits=24)


CASES = {  # (X, Y, C_in, C_out, (kx, ky), stride, padding, dilation, groups)
    "3x3 same": (9, 7, 4, 6, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    "stride 2, pad (1, 0), 3x2, groups 2": (10, 11, 4, 8, (3, 2), (2, 2), (1, 0), (1, 1), 2),
    "depthwise stride 2": (9, 9, 6, 6, (3, 3), (2, 2), (1, 1), (1, 1), 6),
    "dilation, uneven stride": (12, 12, 3, 3, (3, 3), (1, 2), (2, 1), (2, 1), 1),
    "1x1": (5, 4, 7, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_fast_conv_equals_stock_on_random_spikes(case):
    x, y, c_in, c_out, kernel, stride, padding, dilation, groups = CASES[case]
    rng = np.random.default_rng(len(case))
    s = rng.random((x, y, c_in)) < 0.4
    w = rng.integers(-256, 256, size=(c_out, *kernel, c_in // groups)).astype(np.int32)
    expected = stock_conv(s, w, kernel, stride, padding, dilation, groups)
    got = fast_conv(s, w, kernel, stride, padding, dilation, groups)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("sign", [1, -1])
def test_accumulator_wraps_at_24_bits_like_lava(sign):
    # 64 inputs x 9 taps all on, weight 20000: |sum| = 11,520,000 > 2**23 (wraps), < 2**24
    s = np.ones((3, 3, 64), dtype=bool)
    w = np.full((2, 3, 3, 64), sign * 20000, dtype=np.int32)
    args = ((3, 3), (1, 1), (1, 1), (1, 1), 1)
    expected = stock_conv(s, w, *args)
    centre = sign * 11_520_000
    assert expected[1, 1, 0] == centre - sign * 2**24  # the wrap, computed by hand
    np.testing.assert_array_equal(fast_conv(s, w, *args), expected)


def test_float32_bound_switches_to_float64():
    s = np.ones((3, 3, 64), dtype=bool)
    w = np.full((1, 3, 3, 64), 40001, dtype=np.int32)  # 576 * 40001 = 23,040,576 > 2**24
    _, wsum = conv_plan(w, 1)
    assert wsum == 576 * 40001 > FLOAT32_EXACT
    assert exact_dtype(wsum) is np.float64 and exact_dtype(FLOAT32_EXACT - 1) is np.float32
    assert exact_dtype(2**31) is None  # past the stock int32 cast: the stock code runs
    args = ((3, 3), (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(fast_conv(s, w, *args), stock_conv(s, w, *args))


def test_graded_spikes_with_negative_values():
    rng = np.random.default_rng(3)
    s = rng.integers(-1000, 1000, size=(6, 6, 4)).astype(np.int32)
    w = rng.integers(-256, 256, size=(5, 3, 3, 4)).astype(np.int32)
    args = ((3, 3), (2, 2), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(fast_conv(s, w, *args), stock_conv(s, w, *args))


def test_run_config_selects_models_through_lavas_map():
    from lava.proc.conv.process import Conv

    from tks_lava.deploy.process_models.conv import FastConvModel

    assert MODEL_CHOICES == ("fast", "reference")
    assert fast_models() == {Conv: FastConvModel}
    assert run_config("fast").exception_proc_model_map == {Conv: FastConvModel}
    assert run_config("reference").exception_proc_model_map == {}
    sentinel = object()
    assert (
        run_config("fast", exception_proc_model_map={Conv: sentinel}).exception_proc_model_map[Conv]
        is sentinel
    )
    with pytest.raises(ValueError, match="models must be one of"):
        run_config("turbo")


@pytest.mark.slow
def test_fast_conv_model_inside_lava_equals_stock_step_by_step(no_leftover_children):
    """A Conv process between a RingBuffer source and sink, run with both models."""
    from lava.proc.conv.process import Conv
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from tks_lava.deploy.session import LavaSession

    rng = np.random.default_rng(1)
    steps = 6
    spikes = (rng.random((7, 6, 3, steps)) < 0.5).astype(np.int32)
    weight = rng.integers(-200, 200, size=(4, 3, 3, 3)).astype(np.int32)

    def run(models: str) -> np.ndarray:
        src = Source(data=spikes)
        conv = Conv(weight=weight, input_shape=(7, 6, 3), stride=2, padding=1)
        sink = Sink(shape=conv.a_out.shape, buffer=steps)
        src.s_out.connect(conv.s_in)
        conv.a_out.connect(sink.a_in)
        with LavaSession(sink, run_config(models)) as session:
            session.run(steps)
            return np.asarray(sink.data.get())

    fast, reference = run("fast"), run("reference")
    assert np.abs(reference).max() > 0
    np.testing.assert_array_equal(fast, reference)
    assert not fast[..., 0].any()  # the one-step synaptic delay: step 1 sends the zero buffer
