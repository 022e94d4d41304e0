"""Training: a tiny end-to-end CLI run (dataset -> checkpoints -> resume -> NetX -> Lava load),
exact resumption, config round trips and the CLI's error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tks_lava import training
from tks_lava.data import NDigitsParams, generate_ndigits
from tks_lava.model import export
from tks_lava.model.card import ModelCard
from tks_lava.model.evaluation import forward_logits
from tks_lava.model.network import ModelConfig, make_config
from tks_lava.train import build_parser, main
from tks_lava.training import TrainConfig, resolve_config

TINY = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)
TIMING = ("train_s", "eval_s", "epoch_s", "samples_per_s")


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing here may touch ~/.cache or a real data root."""
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("TKS_LAVA_DATA", raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 30-recording ndigits (27 train / 3 test) and a shared frame-cache folder."""
    base = tmp_path_factory.mktemp("tiny")
    root = generate_ndigits(base / "ndigits", TINY, workers=1, progress=False)
    return {"root": root, "cache": base / "cache", "base": base}


def tiny_argv(tiny, out_dir, *extra: str) -> list[str]:
    return [
        "--data-root",
        str(tiny["root"]),
        "--cache-dir",
        str(tiny["cache"]),
        "--model",
        "tiny_snn",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--out-dir",
        str(out_dir),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def straight_run(tiny):
    """Two epochs in one go through the CLI, published to a tmp netx_models folder."""
    out = tiny["base"] / "straight"
    publish = tiny["base"] / "netx_models"
    argv = tiny_argv(tiny, out, "--publish", "tiny_tks", "--publish-dir", str(publish))
    assert main(argv) == 0
    return {"out": out, "publish": publish, "argv": argv}


def _model_state(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_cli_run_end_to_end(straight_run, tiny):
    from lava.lib.dl import netx

    out = straight_run["out"]
    for name in (
        "config.json",
        "metrics.jsonl",
        "metrics.csv",
        "last.pt",
        "best.pt",
        "model.net",
        "network.pt",
        "model_card.json",
        "test_logits.npz",
    ):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*tmp*")), "temporary files left behind"

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert len(r["val_per_step"]) == len(r["val_cumulative"]) == 10
        assert r["val_acc"] == r["val_cumulative"][-1]
        assert {"train_loss", "train_ce", "train_tks", "train_teacher_frac", "lam", "lr"} <= set(r)
        assert not any(k.startswith("test") for k in r), "an epoch row must not read the test split"
    assert rows[0]["lam"] == 0.0 and rows[1]["lam"] == pytest.approx(0.15)
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and "val_step10" in csv_lines[0] and "val_cum1" in csv_lines[0]

    config = TrainConfig.from_json((out / "config.json").read_text())
    assert config.model == "tiny_snn" and config.epochs == 2 and config.method == "tks"

    card = ModelCard.load(out / "model_card.json")
    card.verify(out / card.net_file)
    assert card.dataset == "ndigits" and card.classes == ["0", "1", "2"]
    assert card.input_shape == (2, 34, 34) and card.timesteps == 10
    assert card.framing.timesteps == 10 and card.framing.size is None
    assert card.dataset_params["classes"] == [0, 1, 2]
    assert card.model_config == make_config("tiny_snn", (2, 34, 34), 3)
    assert card.torch_accuracy["n"] == 3 and len(card.torch_accuracy["per_step"]) == 10
    assert card.torch_accuracy["protocol"] == "prefix"
    # the card's command pins every setting (what ran), the typed one is kept beside it
    assert card.command.startswith("python -m tks_lava.train --dataset ndigits --method tks")
    assert f"--threads {torch.get_num_threads()} --deterministic" in card.command
    assert "--device cpu --neuron-kernels exact" in card.command
    assert card.environment["invoked"].startswith("python -m tks_lava.train --data-root")
    assert card.environment["device"] == "cpu" and card.environment["deterministic"] is True
    assert card.epoch in (1, 2) and card.hyperparameters["lr"] == 0.01
    assert card.selection["rule"] == "val" and card.selection["val"]["n"] == 3  # 1 per class
    assert card.selection["val"]["grouped_by"] == "source image"
    assert [r["epoch"] for r in card.history] == [1, 2] and card.history[1]["lam"] == rows[1]["lam"]
    assert card.versions["lava-dl"] == "0.6.0"

    # the PyTorch weights reproduce the card's accuracy and the saved per-sample logits
    model = export.load_torch_model(out / card.weights_file)
    assert model.latency == card.latency
    data = training.load_data(config, progress=False)
    logits, labels = forward_logits(model, data.test, batch_size=8)
    assert logits.shape == (3, 3, 10)
    assert training.accuracies(logits, labels)["per_step"] == card.torch_accuracy["per_step"]
    saved = np.load(out / "test_logits.npz")
    assert (
        np.array_equal(saved["logits"], logits.numpy())
        and saved["labels"].tolist() == labels.tolist()
    )

    # Lava's NetX loader rebuilds the exported network
    w, h, c = 34, 34, 2
    net = netx.hdf5.Network(net_config=str(out / "model.net"), input_shape=(w, h, c))
    assert [type(layer).__name__ for layer in net.layers] == ["Conv", "Dense", "Dense"]
    assert net.inp.shape == (w, h, c) and net.out.shape == (3,)

    # published copies, named after --publish, with a card that names them
    pub = straight_run["publish"]
    assert sorted(p.name for p in pub.iterdir()) == ["tiny_tks.json", "tiny_tks.net", "tiny_tks.pt"]
    pub_card = ModelCard.load(pub / "tiny_tks.json")
    assert pub_card.net_file == "tiny_tks.net"
    pub_card.verify(pub / "tiny_tks.net")


@pytest.mark.slow
def test_resume_is_exact(straight_run, tiny, capsys):
    """2 epochs straight == 1 epoch, stop, resume for the 2nd (bit-identical weights)."""
    out = tiny["base"] / "staged"
    assert main(tiny_argv(tiny, out, "--stop-after", "1")) == 0
    assert (out / "last.pt").is_file() and not (out / "model.net").exists()
    assert _model_state(out / "last.pt")["epoch"] == 1

    # a second fresh start into the same folder is refused; changing a setting on resume too
    capsys.readouterr()
    assert main(tiny_argv(tiny, out)) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["--resume", str(out), "--lr", "0.5", "--quiet"]) == 2
    assert "lr (saved 0.01, given 0.5)" in capsys.readouterr().err

    assert main(["--resume", str(out), "--quiet"]) == 0
    straight = _model_state(straight_run["out"] / "last.pt")
    staged = _model_state(out / "last.pt")
    assert staged["epoch"] == straight["epoch"] == 2
    assert straight["model"].keys() == staged["model"].keys()
    for key, value in straight["model"].items():
        assert torch.equal(value, staged["model"][key]), key
    assert torch.equal(straight["rng"]["torch"], staged["rng"]["torch"])
    for a, b in zip(straight["history"], staged["history"], strict=True):
        assert {k: v for k, v in a.items() if k not in TIMING} == {
            k: v for k, v in b.items() if k not in TIMING
        }
    assert (out / "model.net").read_bytes() == (straight_run["out"] / "model.net").read_bytes()


# ----------------------------------------------------------------------------- configs
def test_train_config_json_round_trip(tmp_path):
    config = resolve_config(dataset="ncaltech101", method="ls", out_dir=tmp_path, seed=3)
    assert config.model == "vgg_snn" and config.frame_size == (48, 48) and config.timesteps == 10
    assert config.balanced and config.batch_size == 128 and config.weight_decay == 0.01
    assert TrainConfig.from_json(config.to_json()) == config
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({**config.to_dict(), "colour": 1})


def test_config_to_argv_reproduces_the_config(tmp_path):
    config = resolve_config(method="baseline", frame_size="20x24", out_dir=tmp_path, lr=1e-3)
    args = build_parser().parse_args(training.config_to_argv(config))
    assert resolve_config(args) == config


def test_a_config_saved_before_the_runtime_settings_loads(tmp_path):
    """config.json / checkpoints written before device auto, kernels, threads and determinism
    existed load with those at their defaults (resolved when the run starts)."""
    old = resolve_config(out_dir=tmp_path, device="cpu").to_dict()
    for key in ("neuron_kernels", "threads", "deterministic"):
        del old[key]
    config = TrainConfig.from_dict(old)
    assert (config.device, config.neuron_kernels) == ("cpu", "exact")
    assert config.threads is None and config.deterministic is None
    assert {"device", "neuron_kernels", "threads", "deterministic"} <= set(training.RUNTIME_FIELDS)
    assert resolve_config(out_dir=tmp_path).device == "auto"


def test_model_config_round_trip():
    config = make_config("small_snn", (2, 34, 34), 10)
    assert ModelConfig.from_dict(json.loads(config.to_json())) == config


def test_ndigits_defaults():
    config = resolve_config()
    assert (config.dataset, config.method, config.model) == ("ndigits", "tks", "small_snn")
    assert config.frame_size is None and config.timesteps == 10
    assert (config.temperature, config.lam_max, config.weight_decay) == (5.0, 0.3, 0.01)
    assert config.out_dir.startswith("runs/ndigits-tks-")
    assert resolve_config(epochs=2).warmup_epochs == 0  # warm-up <= a quarter of a short run


def test_config_errors():
    with pytest.raises(ValueError, match="lam_max must lie in"):
        resolve_config(lam_max=2.0)
    with pytest.raises(ValueError, match="unknown training setting"):
        resolve_config(learning_rate=1.0)
    with pytest.raises(ValueError, match="frame size must be HxW"):
        resolve_config(frame_size="big")
    with pytest.raises(ValueError, match="select 'val' needs a validation split"):
        resolve_config(val_fraction=0.0)
    with pytest.raises(ValueError, match="select must be one of"):
        resolve_config(select="test")
    with pytest.raises(ValueError, match="unknown augmentation mixup"):
        resolve_config(augment="crop,mixup")
    with pytest.raises(ValueError, match="neuron must be one of \\['cuba', 'lif'\\]"):
        resolve_config(neuron="izhikevich")
    assert resolve_config(val_fraction=0.0, select="last").select == "last"


def test_epoch_order_depends_on_seed_and_epoch_only():
    labels = np.array([0] * 90 + [1] * 10)
    a = training.epoch_order(labels, 3, 7, balanced=False)
    assert a == training.epoch_order(labels, 3, 7, balanced=False)
    assert sorted(a) == list(range(100))
    assert a != training.epoch_order(labels, 4, 7, balanced=False)
    b = training.epoch_order(labels, 0, 7, balanced=True)
    assert len(b) == 100 and 30 < int((labels[b] == 1).sum()) < 70  # classes drawn evenly


# ----------------------------------------------------------------------------- CLI errors
def test_missing_dataset_exits_2_with_where_it_looked(tmp_path, capsys):
    nowhere = tmp_path / "nowhere"
    out = tmp_path / "run"
    argv = ["--dataset", "ncaltech101", "--data-root", str(nowhere), "--out-dir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'ncaltech101'")
    assert str(nowhere / "NCALTECH101" / "Caltech101") in err and "How to get it" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_cuda_without_cuda_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device 'cuda' requested but CUDA is not available")
    assert err.count("\n") == 1


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--method", "magic"])
    assert exc.value.code == 2
    assert main(["--lam-max", "1.5"]) == 2
    assert main(["--resume", "/nonexistent/run"]) == 2
    assert "error: no checkpoint at /nonexistent/run: --resume takes" in capsys.readouterr().err


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    import random

    from tks_lava.training import checkpoint as ckpt

    ckpt.seed_everything(5)
    ckpt.save_checkpoint(tmp_path / "c.pt", {"rng": ckpt.rng_state()})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.seed_everything(99)
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        ckpt.load_checkpoint(tmp_path / "junk.pt")


# ----------------------------------------------------------------------------- architectures
def test_unsupported_layer_in_arch_file_is_refused_before_any_data(tmp_path, capsys):
    spec = tmp_path / "mine.json"
    spec.write_text(json.dumps({"layers": [{"kind": "conv", "out": 4}, {"kind": "unpool"}]}))
    out = tmp_path / "run"
    where = ["--data-root", str(tmp_path / "nowhere"), "--out-dir", str(out)]
    argv = ["--dataset", "nmnist", "--arch-file", str(spec), *where]
    assert main(argv) == 2  # the data root does not exist either: the layer is named first
    err = capsys.readouterr().err
    assert "layer 1: layer kind 'unpool' cannot be deployed to Lava" in err
    assert "dataset" not in err and "Traceback" not in err
    assert not out.exists()


def test_input_that_pools_to_zero_is_refused_before_any_data(tmp_path, capsys):
    out = tmp_path / "run"
    where = ["--data-root", str(tmp_path / "nowhere"), "--out-dir", str(out)]
    argv = ["--dataset", "nmnist", "--model", "vgg_snn", "--frame-size", "8x8", *where]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "vgg_snn: layer 11 (pool): input H = 1 cannot be pooled by k=2 (pools to zero)" in err
    assert "nothing was written" in err and not out.exists()


@pytest.mark.slow
def test_pooling_arch_file_trains_publishes_and_runs_in_lava_exactly(tiny, tmp_path):
    from tks_lava import run_netx

    spec = tmp_path / "pooled.json"
    layers = [
        {"kind": "conv", "out": 8, "k": 3, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "conv", "out": 8, "k": 3, "stride": 2, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "flatten"},
    ]
    spec.write_text(json.dumps({"layers": layers}))
    pub = tmp_path / "netx_models"
    publish = ["--publish", "pooled", "--publish-dir", str(pub)]
    argv = tiny_argv(tiny, tmp_path / "run", "--arch-file", str(spec), "--epochs", "1", *publish)
    assert main(argv) == 0
    card = json.loads((pub / "pooled.json").read_text())
    assert card["model_config"]["name"] == "pooled" and card["latency"] == 4  # 4 blocks
    out = tmp_path / "lava.json"
    data = ["--data-root", str(tiny["root"]), "--cache-dir", str(tiny["cache"])]
    run = ["--model", str(pub / "pooled.json"), *data, "--limit", "2", "--t", "3"]
    assert run_netx.main([*run, "--quiet", "--out", str(out)]) == 0
    agreement = json.loads(out.read_text())["torch_agreement"]
    assert agreement["argmax_agreement"] == 1.0 and agreement["max_abs_logit_diff"] == 0.0
