"""The benchmark suite's pure helpers: statistics, SynOps counting, Markdown rendering."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import render
from benchmarks.machine import choose_threads, ram_gib
from benchmarks.report import markdown_table, to_jsonable, write_json
from benchmarks.stats import (
    fmt_num,
    fmt_stat,
    interleaved_timings,
    paired_ratios,
    rates,
    summarize,
)
from benchmarks.synops import align_steps, ops_at_exit
from tks_lava.metrics.synops import axis_fanout, conv_fanout, synaptic_ops
from tks_lava.provenance import cpu_model

# ----------------------------------------------------------------------------- statistics


def test_summarize_gives_median_min_max_and_drops_nan():
    s = summarize([3.0, 1.0, 2.0, float("nan"), 10.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 10.0 and s["n"] == 4
    assert summarize([4.0])["median"] == 4.0
    empty = summarize([])
    assert empty["median"] is None and empty["n"] == 0


def test_ratios_are_paired_per_repeat_not_ratio_of_medians():
    tks, base = [1.1, 2.2, 0.9], [1.0, 2.0, 1.0]
    r = paired_ratios(tks, base)
    assert r == pytest.approx([1.1, 1.1, 0.9])
    assert summarize(r)["median"] == pytest.approx(1.1)
    with pytest.raises(ValueError, match="as many"):
        paired_ratios([1.0], [1.0, 2.0])
    assert rates(10, [2.0, 5.0]) == [5.0, 2.0]


def test_interleaved_timings_run_functions_in_turn_after_a_warmup():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    out = interleaved_timings(fns, repeats=2)
    assert calls == ["a", "b", "a", "b", "a", "b"]  # warm-up, then two interleaved rounds
    assert set(out) == {"a", "b"} and all(len(v) == 2 and min(v) >= 0 for v in out.values())


def test_number_and_stat_formatting():
    assert fmt_num(12345.6) == "12,346"
    assert fmt_num(12.345) == "12.3"
    assert fmt_num(1.2345) == "1.23"
    assert fmt_num(0.012345) == "0.0123"
    assert fmt_num(None) == "n/a" and fmt_num(float("nan")) == "n/a"
    assert fmt_stat(summarize([1.0, 2.0, 3.0])) == "2.00 [1.00, 3.00]"
    assert fmt_stat(summarize([5.0])) == "5.00"
    assert fmt_stat(summarize([])) == "n/a"


# ----------------------------------------------------------------------------- SynOps


def test_axis_fanout_counts_receptive_fields_by_hand():
    # 3 inputs, kernel 3, padding 1, stride 1: outputs 0,1,2 read inputs {0,1}, {0,1,2}, {1,2}
    assert axis_fanout(3, 3, 1, 1).tolist() == [2, 3, 2]
    # 4 inputs, kernel 3, stride 2, padding 1: outputs 0,1 read {0,1} and {1,2,3}
    assert axis_fanout(4, 3, 2, 1).tolist() == [1, 2, 1, 1]
    # pooling 2x2 stride 2: every input feeds exactly one output
    assert axis_fanout(4, 2, 2, 0).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError):
        axis_fanout(3, 0)


@pytest.mark.parametrize(
    "hw, k, stride, pad", [((5, 6), 3, 1, 1), ((7, 7), 3, 2, 1), ((6, 4), 2, 2, 0)]
)
def test_conv_fanout_matches_torch_connectivity(hw, k, stride, pad):
    """Fan-out of input pixel = d(sum of outputs)/d(input) for an all-ones kernel."""
    import torch
    import torch.nn.functional as F

    x = torch.zeros(1, 1, *hw, requires_grad=True)
    F.conv2d(x, torch.ones(3, 1, k, k), stride=stride, padding=pad).sum().backward()
    expected = x.grad[0, 0].numpy()
    np.testing.assert_array_equal(conv_fanout(hw, 3, (k, k), (stride,) * 2, (pad,) * 2), expected)


def test_synaptic_ops_hand_example():
    # 1 sample, 1 channel, 3x3 input, 2 steps; conv 3x3 pad 1 with 2 output channels:
    # fan-out = 2 * [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    fan = conv_fanout((3, 3), 2, (3, 3), (1, 1), (1, 1))
    assert fan.tolist() == [[8, 12, 8], [12, 18, 12], [8, 12, 8]]
    spikes = np.zeros((1, 1, 3, 3, 2))
    spikes[0, 0, 0, 0, 0] = 1  # corner at t=0: 8 synapses
    spikes[0, 0, 1, 1, 0] = 1  # centre at t=0: 18
    spikes[0, 0, 0, 1, 1] = 1  # edge at t=1: 12
    np.testing.assert_array_equal(synaptic_ops(spikes, fan), [[26, 12]])
    # dense: 4 input neurons, 5 outputs, 3 spikes at t=0 and 1 at t=1
    dense = np.array([[[1, 0], [1, 1], [0, 0], [1, 0]]])  # (N=1, F=4, T=2)
    np.testing.assert_array_equal(synaptic_ops(dense, 5), [[15, 5]])
    with pytest.raises(ValueError, match="does not fit"):
        synaptic_ops(spikes, np.ones((2, 2)))


def test_align_steps_and_ops_at_exit():
    raw = np.array([[0.0, 0.0, 1.0, 2.0, 3.0]])  # a layer 2 delay steps deep, T = 2
    np.testing.assert_array_equal(align_steps(raw, 2, 2), [[1, 2]])
    np.testing.assert_array_equal(align_steps(raw, 4, 2), [[3, 0]])  # zero-padded
    per_step = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    np.testing.assert_array_equal(ops_at_exit(per_step, np.array([1, 3])), [1, 60])
    with pytest.raises(ValueError):
        ops_at_exit(per_step, np.array([0, 4]))


@pytest.mark.filterwarnings("ignore")
def test_synops_counter_on_a_tiny_slayer_network():
    import torch

    from benchmarks.synops import SynOpsCounter
    from tks_lava.model.network import build_model, encode_spikes, make_config

    torch.manual_seed(0)
    net = build_model(make_config("small_snn", (2, 8, 8), 3)).eval()
    frames = (torch.rand(2, 2, 8, 8, 4) < 0.3).float()
    with SynOpsCounter(net, timesteps=4) as counter, torch.no_grad():
        net(frames)
    ops = counter.per_layer
    first = next(iter(ops))
    assert list(ops) == counter.layer_names() and len(ops) == 4  # conv, conv, dense, readout
    # layer 0: the binary input frames x the first conv's fan-out (16 channels, 3x3, stride 2)
    fan = conv_fanout((8, 8), 16, (3, 3), (2, 2), (1, 1))
    expected = synaptic_ops(encode_spikes(frames).numpy(), fan)
    np.testing.assert_allclose(ops[first], expected)
    assert counter.input_spikes[first].sum() == encode_spikes(frames).sum().item()
    assert counter.total().shape == (2, 4)
    assert not counter.handles  # hooks removed on exit


# ----------------------------------------------------------------------------- reports


def test_markdown_table_renders_alignment_and_escapes_pipes():
    table = markdown_table(["name", "value"], [["a|b", 1], ["c", "2.00 [1.00, 3.00]"]])
    assert table.splitlines() == [
        "| name | value |",
        "| :--- | ---: |",
        "| a\\|b | 1 |",
        "| c | 2.00 [1.00, 3.00] |",
    ]
    with pytest.raises(ValueError, match="row 0"):
        markdown_table(["a", "b"], [[1]])


def test_json_helpers_write_plain_json(tmp_path):
    payload = {"a": np.float64(1.5), "b": np.arange(3), "c": (1, float("nan"))}
    assert to_jsonable(payload) == {"a": 1.5, "b": [0, 1, 2], "c": [1, None]}
    path = write_json(tmp_path / "x" / "r.json", payload)
    assert json.loads(path.read_text())["b"] == [0, 1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp file left


def test_thread_choice_falls_back_to_one_thread_on_a_busy_machine():
    assert choose_threads(None, 0.2, 2, 2) == (2, "auto: torch default (idle machine)")
    assert choose_threads(None, 3.5, 2, 2)[0] == 1
    assert choose_threads(4, 3.5, 2, 2) == (4, "--threads")


def test_training_order_rotates_every_repeat():
    from benchmarks.bench_train import rotated

    methods = ("baseline", "tks", "tet")
    assert [rotated(methods, r)[0] for r in range(4)] == ["baseline", "tks", "tet", "baseline"]
    assert sorted(rotated(methods, 1)) == sorted(methods)


def test_machine_info_parsers():
    assert cpu_model("processor : 0\nmodel name\t: Fancy CPU 3000\n") == "Fancy CPU 3000"
    assert ram_gib("MemTotal:       16777216 kB\n") == 16.0


def test_summary_and_markdown_with_missing_sections_and_models():
    machine = {"date": "2025-01-01T00:00:00", "versions": {}}
    lava = {
        "results": {
            "backend": "sim",
            "torch_threads": 2,
            "models": {},
            "skipped": {"ndigits_tks": "not found"},
        }
    }
    summary = render.build_summary({"lava": lava}, machine)
    for key in ("train_time_ratio_tks_over_baseline", "lava_steps_per_s",
                "cached_frames_samples_per_s", "binning_samples_per_s"):  # fmt: skip
        assert key in summary and summary[key] is None
    assert summary["skipped"] == {"lava": {"ndigits_tks": "not found"}}
    text = render.render_markdown({"lava": lava}, summary, "python -m benchmarks.run")
    assert "## Training throughput" in text and "Not run." in text
    assert "**Skipped ndigits_tks**: not found" in text


def test_lava_exit_summary_and_table_from_hand_numbers():
    from benchmarks.render_exit import lava_exit_lines, lava_exit_summary

    def row(th, steps, same=True):
        return {"threshold": th, "samples": 2, "lava_steps": steps, "predicted_steps": steps,
                "steps_saved": 1 - steps / 30, "mean_exit_step": 2.0,
                "post_hoc_mean_exit_step": 2.0, "accuracy": 0.5, "post_hoc_accuracy": 0.5,
                "run_s": 1.0, "wall_speedup": 2.0, "matches_post_hoc": same,
                "synops_per_sample": 1234.0}  # fmt: skip

    stat = {"median": 1.5, "min": 1.4, "max": 1.6, "n": 3}
    results = {
        "headline": 0.9,
        "models": {
            "a": {
                "samples": 2,
                "window": {"steps": 30, "run_s": 2.0},
                "thresholds": [row(0.9, 12)],
            },
            "b": {
                "samples": 2,
                "window": {"steps": 30, "run_s": 2.0},
                "thresholds": [row(0.9, 20, same=False)],
            },  # fmt: skip
        },
        "timing_model": "a",
        "timing": {
            "samples": 2,
            "repeats": 3,
            "exit_over_full_controller": stat,
            "speedup_over_window": {"exit_0.9": stat, "exit_0.9_no_synops": stat, "exit_1.0": stat},
        },  # fmt: skip
    }
    s = lava_exit_summary(results)
    assert s["lava_exit_steps_saved_0.9"] == pytest.approx(1 - 12 / 30)  # the first model's
    assert s["lava_exit_wall_speedup_0.9"] == 1.5
    assert s["lava_exit_matches_post_hoc"] is False  # one mismatch anywhere is reported
    assert set(lava_exit_summary(None).values()) == {None}
    text = "\n".join(lava_exit_lines({"results": results}))
    assert "| a | exit > 0.9 | 2 | 12 | 12 | 60.0% |" in text and "**no**" in text
    assert "1.50 [1.40, 1.60]x" in text


def test_pool_fanout_counts_the_row_slayer_pads_odd_inputs_with():
    from types import SimpleNamespace

    from lava.lib.dl import slayer

    from benchmarks.synops import block_fanout

    block = SimpleNamespace(synapse=slayer.synapse.Pool(2))
    fan = block_fanout(block, (1, 5, 3))  # SLAYER pads 5 -> 6 and 3 -> 4: every pixel is read
    assert fan.shape == (5, 3) and (fan == 1).all()
