"""Every architecture the trainer offers builds from its own shapes and runs in Lava bit-exactly,
pooling included; architectures Lava cannot run are refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tks_lava.deploy.window import run_lava, torch_logits
from tks_lava.model.deployable import check_deployable
from tks_lava.model.export import export_netx
from tks_lava.model.network import ArchitectureError, build_model, load_arch_file, make_config

POOL_NET = {
    "name": "pool_net",
    "layers": [
        {"kind": "conv", "out": 4, "k": 3, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "conv", "out": 6, "k": 3, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "flatten"},
        {"kind": "dense", "out": 8},
    ],
}


def _activate(model, factor: float) -> None:
    """Untrained weights are too small to make spikes reach the readout: scale them up."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(factor)


@pytest.mark.parametrize(("size", "head"), [(34, 4608), (48, 4608), (16, 512), (35, 4608)])
def test_vgg_head_fits_the_blocks_at_any_poolable_size(size, head):
    # 34 -> 17 -> 9 -> 5 -> 3: SLAYER pads odd sizes at the end, so pools round up
    model = build_model(make_config("vgg_snn", (2, size, size), 10))
    assert model.block_inputs[-1] == (head,)
    assert model.latency == 12  # 8 conv + 4 pool blocks, one step each
    out = model(torch.zeros(1, 2, size, size, 2))
    assert out.shape == (1, 10, 2)


def test_pool_shapes_round_up_like_slayer():
    model = build_model(make_config(POOL_NET, (2, 7, 9), 3))
    assert model.block_inputs == [
        (2, 7, 9),
        (4, 7, 9),
        (4, 4, 5),
        (6, 4, 5),
        (6, 2, 3),
        (36,),
        (8,),
    ]


def test_input_that_pools_to_zero_is_refused_naming_the_layer():
    with pytest.raises(ArchitectureError, match=r"layer 11 \(pool\): input H = 1 .*pools to zero"):
        build_model(make_config("vgg_snn", (2, 8, 8), 10))


def test_overlapping_pool_is_refused():
    spec = {"name": "x", "layers": [{"kind": "pool", "k": 3, "stride": 2}, {"kind": "flatten"}]}
    with pytest.raises(ArchitectureError, match="layer 0 .*must not overlap"):
        build_model(make_config(spec, (2, 9, 9), 3))


def test_dense_without_flatten_is_refused():
    spec = {"name": "x", "layers": [{"kind": "conv", "out": 2}, {"kind": "dense", "out": 4}]}
    with pytest.raises(ArchitectureError, match="layer 1 .*put a flatten layer before it"):
        build_model(make_config(spec, (2, 5, 5), 3))


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"kind": "unpool"}], r"layer 0: layer kind 'unpool' cannot be deployed"),
        ([{"kind": "conv", "out": 4, "size": 3}], r"layer 0: unknown key\(s\) size"),
        ([{"kind": "conv", "out": "4"}], "layer 0: out must be an integer"),
        ([{"kind": "conv", "out": 4, "k": 2.5}], "layer 0: k must be an integer"),
        ("conv", "layers has the wrong type"),
    ],
)
def test_bad_layer_specs_are_refused(layers, message):
    with pytest.raises(ArchitectureError, match=message):
        make_config({"name": "bad", "layers": layers}, (2, 8, 8), 3)


def test_arch_file_and_registry_share_one_path(tmp_path):
    path = tmp_path / "mine.json"
    small = make_config("small_snn", (2, 34, 34), 10)
    layers = [dict(vars(layer)) for layer in small.layers]
    path.write_text(json.dumps({"layers": layers, "weight_scale": 3.0}))
    mine = make_config(load_arch_file(path), (2, 34, 34), 10)
    assert mine.name == "mine" and mine.layers == small.layers and mine.weight_scale == 3.0
    path.write_text(json.dumps({"layers": layers, "num_classes": 5}))
    with pytest.raises(ArchitectureError, match="num_classes 5, but the data gives 10"):
        make_config(load_arch_file(path), (2, 34, 34), 10)
    path.write_text(json.dumps({"layers": layers, "optimiser": "sgd"}))
    with pytest.raises(ArchitectureError, match=r"unknown key\(s\) optimiser"):
        make_config(load_arch_file(path), (2, 34, 34), 10)
    path.write_text("{not json")
    with pytest.raises(ArchitectureError, match="cannot read architecture file"):
        load_arch_file(path)


def test_check_deployable_loads_the_export_into_netx():
    report = check_deployable(make_config(POOL_NET, (2, 7, 9), 3))
    assert report.layers == 6 and report.latency == 5  # conv, pool, conv, pool, dense, readout
    assert "Conv" in report.table and "Dense" in report.table


def test_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    from tks_lava.model import export

    model = build_model(make_config(POOL_NET, (2, 7, 9), 3))
    path = tmp_path / "model.net"
    path.write_bytes(b"the model of yesterday")

    def refuse(net_path, input_shape):
        raise ArchitectureError(f"{net_path}: NetX cannot build this network (test)")

    monkeypatch.setattr(export, "load_netx", refuse)
    with pytest.raises(ArchitectureError, match="NetX cannot build"):
        export_netx(model, path)
    assert path.read_bytes() == b"the model of yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.net"]  # no temp file left


@pytest.mark.slow
def test_pooling_network_lava_equals_slayer_and_fast_equals_reference(
    tmp_path, no_leftover_children
):
    torch.manual_seed(0)
    model = build_model(make_config(POOL_NET, (2, 7, 9), 3, weight_scale=6.0)).eval()
    frames = (torch.rand(3, 2, 7, 9, 5) < 0.4).float()
    path = export_netx(model, tmp_path / "pool.net")
    expected = torch_logits(model, frames)
    assert np.abs(expected).max() > 1, "the readout must see spikes for parity to mean anything"
    fast = run_lava(path, frames, models="fast", progress=False)
    np.testing.assert_array_equal(fast.logits, expected)
    reference = run_lava(path, frames, models="reference", progress=False)
    np.testing.assert_array_equal(reference.logits, fast.logits)
    parallel = run_lava(path, frames, models="fast", jobs=2, progress=False)
    np.testing.assert_array_equal(parallel.logits, fast.logits)


@pytest.mark.slow
def test_vgg_snn_lava_equals_slayer_at_16x16(tmp_path, no_leftover_children):
    torch.manual_seed(0)
    model = build_model(make_config("vgg_snn", (2, 16, 16), 5)).eval()
    _activate(model, 3.0)
    frames = (torch.rand(2, 2, 16, 16, 3) < 0.5).float()
    path = export_netx(model, tmp_path / "vgg.net")
    expected = torch_logits(model, frames)
    assert np.count_nonzero(expected) > 0, "spikes must reach the readout"
    got = run_lava(path, frames, models="fast", progress=False)
    np.testing.assert_array_equal(got.logits, expected)
