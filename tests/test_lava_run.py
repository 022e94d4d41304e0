"""Running NetX in Lava: layout, readout indexing, per-sample reset and exact parity with SLAYER."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tks_lava.deploy.adapters.cpu import VOLTAGE_SCALE
from tks_lava.deploy.window import (
    frames_to_raster,
    gather_logits,
    run_lava,
    sample_window,
    torch_logits,
)
from tks_lava.model.network import build_model, make_config


def test_frames_to_raster_transposes_to_lava_xyc_and_windows_samples():
    frames = torch.zeros(2, 2, 3, 4, 5)  # N, C, H, W, T
    frames[1, 1, 2, 3, 4] = 7.0  # sample 1, ON channel, row 2, column 3, last bin
    frames[0, 0, 0, 1, 0] = 1.0
    raster = frames_to_raster(frames, window=8)
    assert raster.shape == (4, 3, 2, 16)  # X=W, Y=H, C, N * window
    assert raster.dtype == np.int8
    assert raster[3, 2, 1, 8 + 4] == 1  # counts become binary spikes
    assert raster[1, 0, 0, 0] == 1
    assert raster.sum() == 2


def test_gather_logits_reads_aligned_columns_and_scales():
    n, classes, t, latency = 2, 3, 4, 1
    window = sample_window(t, latency)
    assert window == t + latency + 2
    recorded = np.zeros((classes, n * window))
    # sample 1, step 2, class 0 sits at column 1 * window + 2 + latency + 1
    recorded[0, window + 2 + latency + 1] = 3 * VOLTAGE_SCALE
    logits = gather_logits(recorded, n, t, latency, window)
    assert logits.shape == (n, classes, t)
    assert logits[1, 0, 2] == 3.0 and np.count_nonzero(logits) == 1
    with pytest.raises(ValueError, match="need"):
        gather_logits(recorded[:, :-5], n, t, latency, window)


def _active_tiny_net(tmp_path):
    torch.manual_seed(0)
    net = build_model(make_config("small_snn", (2, 8, 8), 3)).eval()
    with torch.no_grad():  # untrained weights are too small to spike: scale them up
        for name, p in net.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(6)
    path = tmp_path / "tiny.net"
    net.export_hdf5(str(path))
    frames = (torch.rand(3, 2, 8, 8, 5) < 0.3).float()
    return net, path, frames


@pytest.mark.slow
def test_lava_matches_slayer_exactly_and_resets_between_samples(tmp_path, no_leftover_children):
    net, path, frames = _active_tiny_net(tmp_path)
    expected = torch_logits(net, frames)
    assert np.abs(expected).max() > 0.5, "test network must be active to mean anything"
    both = run_lava(path, frames, progress=False)
    np.testing.assert_array_equal(both.logits, expected)  # bit-exact, all steps, all samples
    stock = run_lava(path, frames, models="reference", progress=False)
    np.testing.assert_array_equal(stock.logits, both.logits)  # fast models == Lava's own
    alone = run_lava(path, frames[2:3], progress=False)
    np.testing.assert_array_equal(alone.logits[0], both.logits[2])
    assert both.steps == 3 * both.window and both.steps_per_s > 0


def test_latency_is_read_from_the_netx_file(tmp_path):
    from tks_lava.deploy.window import netx_latency

    for name, shape, latency in (("small_snn", (2, 8, 8), 3), ("vgg_snn", (2, 16, 16), 12)):
        net = build_model(make_config(name, shape, 3))
        path = tmp_path / f"{name}.net"
        net.export_hdf5(str(path))
        assert netx_latency(path) == net.latency == latency  # flatten layers add no step
