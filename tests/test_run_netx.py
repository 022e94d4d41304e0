"""run_netx CLI: a published tiny model runs in Lava with exact parity; bad input fails clearly."""

from __future__ import annotations

import json
import shutil

import pytest

from tks_lava import run_netx
from tks_lava.data import NDigitsParams, generate_ndigits
from tks_lava.io import sha256_file
from tks_lava.model.card import ModelCard
from tks_lava.train import main as train_main

TINY = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny TKS model trained for one epoch and published to a tmp netx_models folder."""
    base = tmp_path_factory.mktemp("netx")
    root = generate_ndigits(base / "ndigits", TINY, workers=1, progress=False)
    run, pub, cache = str(base / "run"), str(base / "netx_models"), str(base / "cache")
    argv = ["--data-root", str(root), "--cache-dir", cache, "--out-dir", run, "--publish-dir", pub]
    argv += ["--model", "tiny_snn", "--epochs", "1", "--batch-size", "16", "--quiet"]
    argv += ["--publish", "tiny_tks"]
    assert train_main(argv) == 0
    return {"card": base / "netx_models" / "tiny_tks.json", "root": root, "base": base}


def _argv(pub, *extra):
    card, root, cache = str(pub["card"]), str(pub["root"]), str(pub["base"] / "cache")
    return ["--model", card, "--data-root", root, "--cache-dir", cache, "--quiet", *extra]


@pytest.mark.slow
def test_run_netx_reports_per_step_accuracy_and_exact_parity(
    published, tmp_path, capsys, no_leftover_children
):
    out = tmp_path / "results.json"
    exit_in_lava = ["--exit-threshold", "0.5", "--exit-in-lava"]
    assert run_netx.main(_argv(published, "--t", "3", *exit_in_lava, "--out", str(out))) == 0
    r = json.loads(out.read_text())
    assert r["model"] == "tiny_tks" and r["backend"] == "sim" and r["timesteps"] == 3
    assert r["n_samples"] == 3  # the tiny test split: 1 recording per class
    assert len(r["per_step_accuracy"]) == len(r["cumulative_accuracy"]) == 3
    assert r["accuracy_at_t"] == r["cumulative_accuracy"][2]
    assert r["torch_agreement"]["argmax_agreement"] == 1.0
    assert r["torch_agreement"]["max_abs_logit_diff"] == 0.0
    assert 1 <= r["early_exit"]["mean_steps"] <= 3
    assert r["steps_per_s"] > 0 and r["wall_s"] > 0
    x = r["lava_early_exit"]  # the same rule run inside Lava
    assert x["matches_post_hoc"] is True and x["threshold"] == 0.5
    assert x["accuracy"] == r["early_exit"]["accuracy"]
    assert x["mean_exit_step"] == r["early_exit"]["mean_steps"]
    latency = x["window_steps"] // 3 - 3 - 2  # fixed window: T + latency + 2 per sample
    assert x["lava_steps"] == round(3 * (x["mean_exit_step"] + latency + 1))
    assert x["synops_per_sample"] > 0 and x["run_s"] > 0
    printed = capsys.readouterr().out
    assert "parity with PyTorch: argmax agreement 100.00%" in printed
    assert "identical to the post-hoc analysis" in printed


@pytest.mark.slow
def test_rebinned_protocol_runs_in_lava_with_exact_parity(published, tmp_path, capsys):
    """--rebin 2: each whole recording in 2 frames; Lava equals PyTorch on those frames."""
    out = tmp_path / "rebinned.json"
    assert run_netx.main(_argv(published, "--rebin", "2", "--out", str(out))) == 0
    r = json.loads(out.read_text())
    assert r["protocol"] == "rebinned" and r["timesteps"] == 2 and r["trained_timesteps"] == 10
    assert r["torch_agreement"]["argmax_agreement"] == 1.0
    assert r["torch_agreement"]["max_abs_logit_diff"] == 0.0
    assert "each recording re-binned into 2 frames" in capsys.readouterr().out
    assert run_netx.main(_argv(published, "--rebin", "2", "--t", "1")) == 2
    assert "excludes --t" in capsys.readouterr().err


@pytest.mark.parametrize("t", ["0", "11"])
def test_t_out_of_range_is_a_clear_error(published, t, capsys):
    assert run_netx.main(_argv(published, "--t", t)) == 2
    assert "--t must be between 1 and the model's 10 timesteps" in capsys.readouterr().err


def _copy_model(published, tmp_path, net_bytes=None, **card_changes):
    card = ModelCard.load(published["card"])
    net = tmp_path / "m.net"
    if net_bytes is None:
        shutil.copyfile(published["card"].with_suffix(".net"), net)
    else:
        net.write_bytes(net_bytes)
    shutil.copyfile(published["card"].with_suffix(".pt"), tmp_path / "m.pt")
    card = card.replace(
        net_file="m.net", weights_file="m.pt", sha256=sha256_file(net), **card_changes
    )
    return card.write(tmp_path / "m.json")


def test_garbage_net_file_is_a_clear_error(published, tmp_path, capsys):
    card = _copy_model(published, tmp_path, net_bytes=b"not an hdf5 file at all")
    assert run_netx.main(_argv(published) + ["--model", str(card)]) == 2
    assert "m.net: not a readable HDF5 file" in capsys.readouterr().err


def test_hdf5_that_is_not_netx_is_a_clear_error(published, tmp_path, capsys):
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as h:
        h["x"] = [1, 2, 3]
    card = _copy_model(published, tmp_path, net_bytes=(tmp_path / "plain.h5").read_bytes())
    assert run_netx.main(_argv(published) + ["--model", str(card)]) == 2
    assert "not a NetX network" in capsys.readouterr().err


def test_modified_net_is_refused(published, tmp_path, capsys):
    card = _copy_model(published, tmp_path)
    with open(tmp_path / "m.net", "ab") as f:
        f.write(b"\0")
    assert run_netx.main(_argv(published) + ["--model", str(card)]) == 2
    assert "does not match its model card" in capsys.readouterr().err


def test_model_dataset_shape_mismatch_is_a_clear_error(published, tmp_path, capsys):
    card = _copy_model(published, tmp_path, input_shape=[2, 48, 48])
    assert run_netx.main(_argv(published) + ["--model", str(card)]) == 2
    err = capsys.readouterr().err
    assert "model expects input (C, H, W) = (2, 48, 48)" in err and "(2, 34, 34)" in err


def test_missing_model_names_where_it_looked(tmp_path, capsys):
    assert run_netx.main(["--model", str(tmp_path / "nope.json"), "--quiet"]) == 2
    assert "no model card for" in capsys.readouterr().err


def test_lava_child_crash_exits_nonzero_with_its_traceback(published, monkeypatch, capsys):
    from tks_lava.deploy import window as lava_run
    from tks_lava.deploy.session import LavaChildError

    def crash(*args, **kwargs):
        raise LavaChildError("1 Lava process model(s) failed:\nTraceback ...\nValueError: boom")

    monkeypatch.setattr(lava_run, "run_lava", crash)
    assert run_netx.main(_argv(published)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 Lava process model(s) failed") and "ValueError: boom" in err


def test_limit_takes_classes_round_robin():
    from tks_lava.deploy.netx_eval import class_interleaved_order

    labels = [0, 0, 0, 1, 1, 2]  # stored class by class, like the splits
    order = class_interleaved_order(labels)
    assert order.tolist() == [0, 3, 5, 1, 4, 2]
    assert sorted(order.tolist()) == list(range(6))


def test_ctrl_c_prints_one_line_and_exits_130(published, monkeypatch, capsys):
    import tks_lava.deploy.netx_eval

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tks_lava.deploy.netx_eval, "evaluate_netx", interrupted)
    assert run_netx.main(_argv(published)) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_exit_in_lava_needs_a_threshold(published, capsys):
    assert run_netx.main(_argv(published, "--exit-in-lava")) == 2
    assert "--exit-in-lava needs --exit-threshold" in capsys.readouterr().err


def test_jobs_must_be_positive(published, capsys):
    assert run_netx.main(_argv(published, "--jobs", "0")) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err


# ----------------------------------------------------------------------------- --recording
def _write(path, xmax, ymax, n=500, seed=0):
    import numpy as np

    from tks_lava.data import EVENT_DTYPE, write_events

    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, xmax, n), rng.integers(0, ymax, n)
    ev["x"][0], ev["y"][0] = xmax - 1, ymax - 1
    ev["t"], ev["p"] = np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 2, n)
    write_events(path, ev)
    return path


@pytest.mark.slow
def test_recording_of_a_real_nmnist_digit(published, real_recording, tmp_path, capsys):
    """The real N-MNIST recording (34x34) through a 34x34 model: probabilities per step,
    parity, and a plot; the note says what the model was trained on."""
    rec = real_recording
    argv = ["--model", str(published["card"]), "--recording", str(rec), "--plot-dir", str(tmp_path)]
    argv += ["--top-k", "2", "--quiet"]
    assert run_netx.main(argv) == 0
    out = capsys.readouterr().out
    assert "sample_nmnist.bin: 4325 events spanning 34x34 px" in out
    steps = [line for line in out.splitlines() if line.strip().startswith("t=")]
    assert len(steps) == 10 and all(line.count("|") == 1 for line in steps)  # top-2 per step
    assert "argmax agreement 100.00% of 10 steps, max |logit diff| 0" in out
    assert "trained on ndigits, emulated offline data" in out
    png = tmp_path / "sample_nmnist_probabilities.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recording_that_does_not_fit_is_refused(published, tmp_path, capsys):
    big = _write(tmp_path / "big.bin", 240, 180)
    assert run_netx.main(["--model", str(published["card"]), "--recording", str(big)]) == 2
    assert "spans 240x180 px (W x H) but the model's sensor is 34x34" in capsys.readouterr().err
    small = _write(tmp_path / "small" / "a.bin", 12, 10)
    assert run_netx.main(["--model", str(published["card"]), "--recording", str(small)]) == 2
    err = capsys.readouterr().err
    assert "spans only 12x10 px of the model's 34x34 sensor" in err and "--allow-small" in err
    assert run_netx.main(["--recording", str(tmp_path / "none.bin")]) == 2
    assert "recording not found" in capsys.readouterr().err
    assert run_netx.main(["--recording", str(big), "--compare"]) == 2
    assert "excludes" in capsys.readouterr().err
