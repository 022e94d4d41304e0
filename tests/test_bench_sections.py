"""The ``kernels``, ``feed`` and ``ddp`` benchmark sections (issue #21): their summary keys and
Markdown from small hand-made section files, the DDP comparison helpers and the full-run
estimators, with the numbers worked out by hand. (The other sections: test_benchmarks.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import estimate, render_ddp, render_feed, render_kernels
from benchmarks.bench_ddp import FULL, commands, compare_logits, compare_weights
from benchmarks.settings import Settings
from benchmarks.timing import paired_ratios, rates, summarize


def _kernels_section() -> dict:
    """Two repeats: old step 8 s and 10 s, new 2 s and 2.5 s (4x both times); 48x48 8 s."""
    wall = {"old": [8.0, 10.0], "new": [2.0, 2.5]}
    cpu = {"old": [6.0, 8.0], "new": [2.0, 2.0]}
    neuron_wall = {"slayer": [0.3, 0.3], "numba": [0.1, 0.1], "torch": [0.2, 0.2]}

    def figure(w: dict, c: dict, ref: str) -> dict:
        return {
            "wall_s": {k: summarize(v) for k, v in w.items()},
            "cpu_s": {k: summarize(v) for k, v in c.items()},
            "speedup_wall": {k: summarize(paired_ratios(w[ref], v)) for k, v in w.items()},
            "speedup_cpu": {k: summarize(paired_ratios(c[ref], v)) for k, v in c.items()},
        }

    step = figure(wall, cpu, "old")
    step["samples_per_s"] = {k: summarize(rates(8, v)) for k, v in wall.items()}
    step["samples_per_cpu_s"] = {k: summarize(rates(8, v)) for k, v in cpu.items()}
    nc = {
        "input": [8, 2, 48, 48, 10],
        "num_classes": 101,
        "wall_s": {"new": summarize([8.0, 8.0])},
        "cpu_s": {"new": summarize([8.0, 8.0])},
        "samples_per_s": {"new": summarize([1.0, 1.0])},
        "samples_per_cpu_s": {"new": summarize([1.0, 1.0])},
    }
    results = {
        "neuron": {"input": [8, 64, 34, 34, 10], **figure(neuron_wall, neuron_wall, "slayer")},
        "train_step": {"input": [8, 2, 34, 34, 10], "loss": "tks", "old": "o", "new": "n", **step},
        "ncaltech_step": nc,
        "compile": {"cold_s": 1.0, "cached_s": 0.5},
        "torch_threads": 1,
    }
    return {"elapsed_s": 50.0, "results": results}


def test_kernels_summary_speedup_and_epoch_projection_by_hand():
    sec = _kernels_section()
    s = render_kernels.summary(sec)
    assert s["train_vgg_speedup_cpu"] == 4.0  # 8/2 and 10/2.5
    assert s["train_vgg_speedup_cpu_by_cpu_seconds"] == 3.5  # 6/2 and 8/2
    assert s["train_vgg_speedup_goal_met"] is True
    assert s["train_vgg_samples_per_s_cpu"] == pytest.approx(3.6)  # 8/2 = 4, 8/2.5 = 3.2
    # (8,709 - 870) training recordings at 1 sample/s
    assert s["ncaltech101_epoch_hours_cpu"] == pytest.approx(7839 / 3600)
    assert set(render_kernels.summary(None).values()) == {None}
    rows = render_kernels.figures(s)
    assert rows[0][1] == "4.000x (goal met)" and rows[2][1] == "2.18 (projection)"
    text = "\n".join(render_kernels.lines(sec))
    assert "**4.00x** by wall time, 3.50 [3.00, 4.00]x by CPU seconds" in text
    assert "**2.2 h** (2.2 h at the rate per CPU second" in text
    assert s["ncaltech101_epoch_hours_cpu_by_cpu_seconds"] == pytest.approx(7839 / 3600)
    assert "0.150 samples/s (14.5 h per epoch)" in text
    assert "| exact, numba (CPU default) | 0.1 | 0.1 | 3.00 | 3.00 |" in text


def test_feed_summary_takes_the_fastest_loader_and_compares_with_training():
    def loader(mode: str, workers: int, per_s: float) -> dict:
        secs = summarize([64 / per_s])
        return {
            "mode": mode,
            "workers": workers,
            "samples": 64,
            "first_epoch_s": 0.5,
            "seconds": secs,
            "samples_per_s": summarize([per_s]),
        }

    results = {
        "dataset": "ndigits",
        "split": "test",
        "batch_size": 64,
        "frame_shape": [2, 34, 34, 10],
        "pin_memory": False,
        "repeats": 1,
        "loaders": {"memory_w0": loader("memory", 0, 1000.0), "lazy_w2": loader("lazy", 2, 250.0)},
        "workers_speedup": {"memory": summarize([0.5]), "lazy": summarize([1.25])},
    }
    s = render_feed.summary({"results": results})
    assert s["feed_samples_per_s"] == {"memory_w0": 1000.0, "lazy_w2": 250.0}
    assert s["feed_samples_per_s_best"] == 1000.0
    assert s["feed_workers_speedup"] == {"memory": 0.5, "lazy": 1.25}
    assert render_feed.feed_over_training({**s, "train_vgg_samples_per_s_cpu": 2.0}) == 500.0
    row = render_feed.figures({**s, "train_vgg_samples_per_s_cpu": 2.0})[0]
    assert row[1] == "1,000 (500x the vgg_snn CPU training rate)"
    assert render_feed.figures(s)[0][1] == "1,000"  # no kernels section: no ratio
    text = "\n".join(render_feed.lines({"results": results}))
    assert "| HDF5, lazy (cache > 1 GiB) | 2 | 64 | 0.50 | 0.256 | 250 |" in text
    assert "HDF5, lazy (cache > 1 GiB) 1.250x" in text and "make gpu-check" in text


def _ddp_section(matches: bool) -> dict:
    def run(batch_per: int, epoch_s: float) -> dict:
        return {
            "global_batch": 64,
            "batch_per_process": batch_per,
            "epoch_s": epoch_s,
            "train_samples_per_s": 368.0,
            "wall_s": 10.0,
            "cpu_s": 12.0,
            "train_loss": 2.25,
            "test_accuracy": [0.1, 0.5],
            "cards": ["config.json", "model_card.json"],
            "command": "python -m tks_lava.train --batch-size 64",
        }

    weights = {
        "tensors": 2,
        "values": 10,
        "atol": 1e-4,
        "rtol": 0.0,
        "max_abs_diff": 5e-6 if matches else 3e-3,
        "max_abs_diff_tensor": "w",
        "max_abs_diff_tensor_scale": 0.06,
        "identical": False,
        "allclose": matches,
    }
    logits = {"shape": [4, 10, 2], "max_abs_diff": 0.0, "atol": 1e-3}
    results = {
        "dataset": "ndigits",
        "model": "small_snn",
        "sizes": {"limit_train": 1024, "batch": 64, "limit_test": 256},
        "runs": {"single": run(64, 2.5), "ddp": run(32, 1.25)},
        "weights": weights,
        "test_logits": {**logits, "allclose": True, "same_predictions": True},
        "test_accuracy_equal": True,
        "matches_single": matches,
    }
    return {"results": results}


def test_ddp_summary_and_text_say_whether_two_processes_train_like_one():
    s = render_ddp.summary(_ddp_section(True))
    assert s["ddp_gloo_2proc_matches_single"] is True
    assert s["ddp_epoch_s"] == {"single": 2.5, "ddp": 1.25}
    assert render_ddp.figures(s)[0][1] == "yes (max weight difference 5.0e-06)"
    bad = render_ddp.summary(_ddp_section(False))
    assert render_ddp.figures(bad)[0][1] == "**no (max weight difference 3.0e-03)**"
    assert set(render_ddp.summary(None).values()) == {None}
    text = "\n".join(render_ddp.lines(_ddp_section(True)))
    assert "| 2 processes (torchrun, gloo) | 64 (32 per process) | 1.25 | 368 |" in text
    assert "`allclose` with atol 0.0001, rtol 0" in text and "50.00%" in text


# ----------------------------------------------------------------------------- DDP helpers


def test_compare_weights_checks_float_tensors_against_the_tolerance():
    a = {"w": torch.tensor([1.0, 2.0]), "decay": torch.tensor([4096.0]), "n": torch.tensor([3])}
    b = {"w": torch.tensor([1.0, 2.00005]), "decay": torch.tensor([4096.0]), "n": torch.tensor([4])}
    c = compare_weights(a, b, atol=1e-4, rtol=0.0)
    assert c["tensors"] == 2 and c["values"] == 3  # the integer tensor is not compared
    assert c["max_abs_diff"] == pytest.approx(5e-5, rel=0.1)  # float32 spacing near 2 is 2.4e-7
    assert c["max_abs_diff_tensor"] == "w" and c["max_abs_diff_tensor_scale"] == 2.0
    assert c["allclose"] and not c["identical"]
    assert not compare_weights(a, b, atol=1e-5, rtol=0.0)["allclose"]
    assert compare_weights(a, a)["identical"] and compare_weights(a, a)["max_abs_diff"] == 0.0
    with pytest.raises(ValueError, match="different tensors"):
        compare_weights(a, {"w": a["w"]})


def test_compare_logits_counts_predictions_at_every_step():
    labels = np.array([0, 1])
    la = np.zeros((2, 3, 2))  # (N, classes, T)
    la[0, 0, :] = 5.0  # sample 0 predicts class 0 at both steps
    la[1, 1, :] = [5.0, 1e-4]  # sample 1: class 1 at both steps (barely at step 1)
    lb = la.copy()
    lb[1, 2, 1] = 2e-4  # sample 1, step 1: class 2 wins by 1e-4, inside the tolerance
    c = compare_logits({"logits": la, "labels": labels}, {"logits": lb, "labels": labels})
    assert c["allclose"] and c["labels_equal"] and not c["same_predictions"]
    assert c["max_abs_diff"] == pytest.approx(2e-4)
    other = compare_logits({"logits": la, "labels": labels}, {"logits": la[:1], "labels": labels})
    assert not other["allclose"] and not other["same_predictions"]


def test_ddp_commands_share_the_global_batch_and_differ_in_the_launcher(tmp_path):
    cmds = commands(FULL, tmp_path / "one", tmp_path / "two", python="py")
    one, two = cmds["single"], cmds["ddp"]
    assert one[:3] == ["py", "-m", "tks_lava.train"]
    assert two[:6] == ["py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    assert one[one.index("--batch-size") + 1] == two[two.index("--batch-size") + 1] == "64"
    assert one[3:-3] == two[8:-3]  # same training arguments but the run folder


# ----------------------------------------------------------------------------- estimates


def test_kernels_estimate_scales_calls_and_keeps_the_other_costs():
    # one call of each: neuron 0.3 + 0.1 + 0.2 s; steps: medians old 9, new 2.25, 48x48 8 s;
    # the quick run took 50 s: 41.8 s of timed calls and compile runs, 8.2 s of other costs
    sec = _kernels_section()
    neuron, steps, comp = 0.6, 9.0 + 2.25 + 8.0, 1.5
    quick, full = Settings.quick_settings(), Settings.full()
    measured = neuron * (1 + quick.repeats) + steps * (1 + quick.vgg_repeats) + comp
    want = neuron * (1 + full.repeats) + steps * (1 + full.vgg_repeats) + comp + 50.0 - measured
    assert estimate.kernels_seconds(sec, full, 510) == pytest.approx(want)
    assert want == pytest.approx(3.6 + 77.0 + 1.5 + 8.2)


def test_ddp_estimate_scales_the_epoch_by_the_training_samples():
    sec = _ddp_section(True)
    sec["results"]["sizes"]["limit_train"] = 128  # a quick run: the full run has 8x the samples
    # single: 10 - 2.5 + 2.5 * 8 = 27.5; ddp: 10 - 1.25 + 1.25 * 8 = 18.75
    assert estimate.ddp_seconds(sec, Settings.full(), 510) == pytest.approx(27.5 + 18.75)
