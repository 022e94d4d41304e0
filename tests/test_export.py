"""Model files: NetX export, weights round trip, model card checks and publishing (no training)."""

from __future__ import annotations

import json

import pytest
import torch

from tks_lava.data.frames import FrameConfig
from tks_lava.io import sha256_file
from tks_lava.model import export
from tks_lava.model.card import CARD_FILE, CARD_FORMAT, CardError, ModelCard
from tks_lava.model.network import build_model, make_config

SHAPE = (2, 34, 34)  # (C, H, W)
CLASSES = 3


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(make_config("tiny_snn", SHAPE, CLASSES)).eval()


@pytest.fixture
def files(model, tmp_path):
    """model.net + network.pt + model_card.json of an untrained tiny model in tmp_path."""
    net = export.export_netx(model, tmp_path / export.NET_FILE)
    weights = export.save_weights(model, tmp_path / export.WEIGHTS_FILE)
    card = ModelCard(
        net_file=net.name,
        sha256=sha256_file(net),
        weights_file=weights.name,
        dataset="ndigits",
        framing=FrameConfig(timesteps=6),
        input_shape=SHAPE,
        classes=[str(c) for c in range(CLASSES)],
        latency=model.latency,
        model_config=model.config,
        method="tks",
        hyperparameters={},
        selection={"rule": "last", "epoch": 1},
        torch_accuracy={},
    )
    path = card.write(tmp_path / CARD_FILE)
    return {"net": net, "weights": weights, "card": path}


def test_export_is_atomic_and_netx_loads_it(files):
    from lava.lib.dl import netx

    names = sorted(p.name for p in files["net"].parent.iterdir())
    assert names == sorted([export.NET_FILE, export.WEIGHTS_FILE, CARD_FILE])  # no temps
    c, h, w = SHAPE
    net = netx.hdf5.Network(net_config=str(files["net"]), input_shape=(w, h, c))
    assert [type(layer).__name__ for layer in net.layers] == ["Conv", "Dense", "Dense"]
    assert net.layers[0].shape == (17, 17, 4)  # stride-2 conv, 4 channels, (X, Y, C)
    assert net.out.shape == (CLASSES,)


def test_weights_round_trip_gives_the_same_outputs(model, files):
    loaded = export.load_torch_model(files["weights"])
    assert not loaded.training
    assert loaded.config == model.config
    x = (torch.rand(2, *SHAPE, 6) < 0.3).float()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_card_round_trip_and_sha256(files):
    card = ModelCard.load(files["card"])
    assert (
        card.format == CARD_FORMAT
        and json.loads(files["card"].read_text())["format"] == CARD_FORMAT
    )
    assert card.timesteps == 6 and card.num_classes == CLASSES and card.epoch == 1
    assert ModelCard.from_dict(card.to_dict()) == card
    paths = card.files(files["card"])
    assert paths["net"] == files["net"] and paths["weights"] == files["weights"]
    assert card.verify(files["net"]) == card.sha256


def test_verify_card_fails_on_modified_net(files):
    card = ModelCard.load(files["card"])
    data = bytearray(files["net"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files["net"].write_bytes(bytes(data))
    with pytest.raises(CardError, match="does not match its model card"):
        card.verify(files["net"])


def test_load_card_errors_name_the_problem(tmp_path, files):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CardError, match="cannot read model card"):
        ModelCard.load(bad)
    with pytest.raises(CardError, match="cannot read model card"):
        ModelCard.load(tmp_path / "missing.json")
    card = json.loads(files["card"].read_text())
    del card["sha256"], card["classes"]
    bad.write_text(json.dumps(card))
    with pytest.raises(CardError, match="lacks key\\(s\\) classes, sha256"):
        ModelCard.load(bad)
    bad.write_text(json.dumps({**card, "sha256": "x", "classes": [], "format": "other/1"}))
    with pytest.raises(CardError, match="format 'other/1'"):
        ModelCard.load(bad)
    bad.write_text(json.dumps({**card, "sha256": "x", "classes": [], "color": "red"}))
    with pytest.raises(CardError, match="unknown model card key\\(s\\) color"):
        ModelCard.load(bad)
    bad.write_text(json.dumps({**card, "sha256": "x", "classes": [], "input_shape": [34, 34]}))
    with pytest.raises(CardError, match="input_shape must be \\(C, H, W\\)"):
        ModelCard.load(bad)


def test_load_torch_model_rejects_other_files(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ValueError, match="not a tks_lava weights file"):
        export.load_torch_model(other)
    with pytest.raises(ValueError, match="cannot read weights"):
        export.load_torch_model(tmp_path / "missing.pt")


def test_publish_copies_and_renames(files, tmp_path):
    out = tmp_path / "netx_models"
    pub = export.publish(files["card"], "tiny_tks", out)
    assert sorted(p.name for p in out.iterdir()) == ["tiny_tks.json", "tiny_tks.net", "tiny_tks.pt"]
    card = ModelCard.load(pub["card"])
    assert card.net_file == "tiny_tks.net" and card.weights_file == "tiny_tks.pt"
    card.verify(card.files(pub["card"])["net"])
    with pytest.raises(ValueError, match="plain file stem"):
        export.publish(files["card"], "../x", out)


def test_default_publish_dir_is_repo_root():
    import tks_lava

    repo = export.default_publish_dir().parent
    assert export.default_publish_dir().name == "netx_models"
    assert (repo / "tks_lava" / "__init__.py").samefile(tks_lava.__file__)


def test_export_leaves_the_model_trainable_and_old_weights_still_load(model, tmp_path):
    before = sorted(model.state_dict())
    export.export_netx(model, tmp_path / "a.net")
    assert sorted(model.state_dict()) == before  # weight_g / weight_v kept
    exported = export._copy(model)
    exported.export_hdf5(str(tmp_path / "b.net"))  # SLAYER drops weight norm in place
    assert "blocks.0.synapse.weight" in exported.state_dict()
    export.save_weights(exported, tmp_path / "w.pt")
    x = (torch.rand(1, *SHAPE, 4) < 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(export.load_torch_model(tmp_path / "w.pt")(x), model(x))


def test_format_1_cards_still_load(tmp_path, files):
    """The first shipped cards (format 1) map onto format 2: T once, selection explicit."""
    from tks_lava.model.export import default_publish_dir

    for shipped in sorted(default_publish_dir().glob("*.json")):  # whatever format they are in
        assert ModelCard.load(shipped).timesteps == 10
    v2 = json.loads(files["card"].read_text())
    v1 = {k: v for k, v in v2.items() if k not in ("selection", "history", "framing")}
    v1["frames"] = v2["framing"]
    v1.update(
        format="tks_lava.model_card/1",
        timesteps=6,
        num_classes=CLASSES,
        epoch=4,
        lava_input_shape=[34, 34, 2],
        seconds_per_epoch=1.0,
    )
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    card = ModelCard.load(tmp_path / "v1.json")
    assert card.format == CARD_FORMAT and card.timesteps == 6 and card.epoch == 4
    assert card.selection["rule"].startswith("test") and card.history == []
    early_v2 = {("frames" if k == "framing" else k): v for k, v in v2.items()}
    (tmp_path / "v2.json").write_text(json.dumps(early_v2))  # the first format-2 key name
    assert ModelCard.load(tmp_path / "v2.json") == ModelCard.load(files["card"])
    (tmp_path / "v1.json").write_text(json.dumps({**v1, "timesteps": 7}))
    with pytest.raises(CardError, match="timesteps 7 != frames.timesteps"):
        ModelCard.load(tmp_path / "v1.json")
