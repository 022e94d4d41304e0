"""Binning events into frames: hand-computed counts, tonic parity, resize, FrameConfig."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tks_lava.data import EVENT_DTYPE, FrameConfig, bin_events, events_to_frames, read_events
from tks_lava.data.frames import (
    clip_to_sensor,
    crop_to_bbox,
    fills_a_corner,
    resize_frames,
    time_bin_index,
)

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sample_nmnist.bin"


def make_events(x, y, t, p) -> np.ndarray:
    ev = np.zeros(len(t), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def test_time_bins_by_hand():
    # t0 = 0, t_last = 100, T = 4 -> width 100 // 4 = 25; the final event (t = 100) joins bin 3
    t = [0, 10, 24, 25, 49, 50, 75, 99, 100]
    assert time_bin_index(np.array(t), 4).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3]
    # offsets do not matter, only t - t0
    assert time_bin_index(np.array(t) + 1000, 4).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3]
    # shorter than T us: width 1
    assert time_bin_index(np.array([5, 6, 7]), 10).tolist() == [0, 1, 2]
    # equal event counts
    assert time_bin_index(np.arange(6), 3, "events").tolist() == [0, 0, 1, 1, 2, 2]


def test_frames_are_hand_counted():
    # sensor W=3, H=2, P=2; T=2 over t in [0, 100] -> width 50: t < 50 bin 0, else bin 1
    ev = make_events(
        x=[0, 0, 2, 1, 0, 2, 2],
        y=[0, 0, 1, 0, 0, 1, 1],
        t=[0, 10, 20, 49, 50, 60, 100],
        p=[1, 1, 0, 1, 1, 0, 0],
    )
    f = bin_events(ev, (3, 2, 2), 2)
    assert f.shape == (2, 2, 3, 2)  # (C, H, W, T)
    expected = np.zeros((2, 2, 3, 2), dtype=int)
    expected[1, 0, 0, 0] = 2  # ON at (y0, x0), t 0 and 10
    expected[0, 1, 2, 0] = 1  # OFF at (y1, x2), t 20
    expected[1, 0, 1, 0] = 1  # ON at (y0, x1), t 49
    expected[1, 0, 0, 1] = 1  # ON at (y0, x0), t 50
    expected[0, 1, 2, 1] = 2  # OFF at (y1, x2), t 60 and 100
    np.testing.assert_array_equal(f, expected)
    assert f.sum() == len(ev)


def test_events_outside_sensor_are_an_error_until_clipped():
    ev = make_events([0, 5], [0, 0], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="outside the sensor"):
        bin_events(ev, (3, 2, 2), 2)
    kept, dropped = clip_to_sensor(ev, (3, 2, 2))
    assert dropped == 1 and kept["x"].tolist() == [0]


@pytest.mark.skipif(not SAMPLE.is_file(), reason="shared sample_nmnist.bin not available")
def test_same_bins_as_tonic_toframe_except_the_dropped_tail():
    import tonic

    ev = read_events(SAMPLE)
    ours = bin_events(ev, (34, 34, 2), 10)
    ref = tonic.transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=10)(ev.copy())
    ref = np.moveaxis(ref, 0, -1)  # (T, P, H, W) -> (P, H, W, T)
    diff = ours - ref
    width = (ev["t"][-1] - ev["t"][0]) // 10
    tail = ev[ev["t"] >= ev["t"][0] + 10 * width]  # what tonic's rounding drops
    assert len(tail) == diff.sum() == diff[..., 9].sum() > 0
    np.testing.assert_array_equal(diff[..., :9], 0)
    assert ours.sum() == 4325


def test_bilinear_resize_align_corners_by_hand():
    f = np.zeros((1, 2, 2, 1), dtype=np.int32)
    f[0, :, :, 0] = [[0, 2], [4, 6]]
    out = resize_frames(f, (3, 3))
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    assert out.dtype == np.float32


def test_bbox_crop_then_resize():
    ev = make_events([10, 11], [20, 20], [0, 1], [1, 1])
    shifted, size = crop_to_bbox(ev)
    assert size == (2, 1, 2) and shifted["x"].tolist() == [0, 1] and ev["x"][0] == 10
    cfg = FrameConfig(timesteps=1, size=(2, 3), crop="bbox")
    out = events_to_frames(ev, (240, 180, 2), cfg)
    # 1 x 2 box [[1, 1]] stretched to 2 x 3: all ones
    np.testing.assert_allclose(out[1, :, :, 0], np.ones((2, 3)))
    np.testing.assert_allclose(out[0], 0)


def test_frame_config_validation_and_dict():
    cfg = FrameConfig(timesteps=5, size=[48, 40])
    assert cfg.size == (48, 40) and cfg.output_hw((240, 180, 2)) == (48, 40)
    assert FrameConfig().output_hw((240, 180, 2)) == (180, 240)
    assert cfg.to_dict()["size"] == [48, 40]
    assert hash(cfg) == hash(FrameConfig(timesteps=5, size=(48, 40)))
    for bad in ({"timesteps": 0}, {"size": (0, 3)}, {"binning": "x"}, {"crop": "bbox"}):
        with pytest.raises(ValueError, match="FrameConfig"):
            FrameConfig(**bad)


def test_fills_a_corner_at_half_the_sensor():
    assert fills_a_corner((34, 34), (240, 180))  # N-MNIST-sized on the N-Caltech101 sensor
    assert fills_a_corner((120, 90), (240, 180))  # exactly half in both directions
    assert not fills_a_corner((121, 90), (240, 180)) and not fills_a_corner((34, 34), (34, 34))
    assert not fills_a_corner((0, 0), (240, 180))  # no events: nothing to place
