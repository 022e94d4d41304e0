"""run_netx CLI: a published tiny model runs in Lava with exact parity; bad input fails clearly."""

from __future__ import annotations

import json
import shutil

import pytest

from tks_lava import run_netx
from tks_lava.data import NDigitsParams, generate_ndigits
from tks_lava.io import sha256_file
from tks_lava.model_card import ModelCard
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
    argv = [
        "--data-root", str(root), "--cache-dir", str(base / "cache"), "--model", "tiny_snn",
        "--epochs", "1", "--batch-size", "16", "--out-dir", str(base / "run"), "--quiet",
        "--publish", "tiny_tks", "--publish-dir", str(base / "netx_models"),
    ]  # fmt: skip
    assert train_main(argv) == 0
    return {"card": base / "netx_models" / "tiny_tks.json", "root": root, "base": base}


def _argv(pub, *extra):
    return [
        "--model", str(pub["card"]), "--data-root", str(pub["root"]),
        "--cache-dir", str(pub["base"] / "cache"), "--quiet", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_run_netx_reports_per_step_accuracy_and_exact_parity(
    published, tmp_path, capsys, no_leftover_children
):
    out = tmp_path / "results.json"
    assert run_netx.main(_argv(published, "--t", "3", "--exit-threshold", "0.5",
                               "--out", str(out))) == 0  # fmt: skip
    r = json.loads(out.read_text())
    assert r["model"] == "tiny_tks" and r["backend"] == "sim" and r["timesteps"] == 3
    assert r["n_samples"] == 3  # the tiny test split: 1 recording per class
    assert len(r["per_step_accuracy"]) == len(r["cumulative_accuracy"]) == 3
    assert r["accuracy_at_t"] == r["cumulative_accuracy"][2]
    assert r["torch_agreement"]["argmax_agreement"] == 1.0
    assert r["torch_agreement"]["max_abs_logit_diff"] == 0.0
    assert 1 <= r["early_exit"]["mean_steps"] <= 3
    assert r["steps_per_s"] > 0 and r["wall_s"] > 0
    printed = capsys.readouterr().out
    assert "parity with PyTorch: argmax agreement 100.00%" in printed


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
    from tks_lava import deploy
    from tks_lava.lava_session import LavaChildError

    def crash(*args, **kwargs):
        raise LavaChildError("1 Lava process model(s) failed:\nTraceback ...\nValueError: boom")

    monkeypatch.setattr(deploy, "run_lava", crash)
    assert run_netx.main(_argv(published)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 1 Lava process model(s) failed") and "ValueError: boom" in err


def test_limit_takes_classes_round_robin():
    from tks_lava.netx_eval import class_interleaved_order

    labels = [0, 0, 0, 1, 1, 2]  # stored class by class, like the splits
    order = class_interleaved_order(labels)
    assert order.tolist() == [0, 3, 5, 1, 4, 2]
    assert sorted(order.tolist()) == list(range(6))


def test_ctrl_c_prints_one_line_and_exits_130(published, monkeypatch, capsys):
    import tks_lava.netx_eval

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tks_lava.netx_eval, "evaluate_netx", interrupted)
    assert run_netx.main(_argv(published)) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err


def test_jobs_must_be_positive(published, capsys):
    assert run_netx.main(_argv(published, "--jobs", "0")) == 2
    assert "--jobs must be >= 1" in capsys.readouterr().err
