"""The benchmark suite's pure helpers: statistics, SynOps counting, Markdown rendering, and the
section table that the runner and the renderer share."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import render, render_lava_exit
from benchmarks.count_synops import align_steps, ops_at_exit
from benchmarks.formatting import Page, fmt_num, fmt_stat
from benchmarks.machine import choose_threads, ram_gib
from benchmarks.sections import SECTIONS
from benchmarks.timing import interleaved_timings, paired_ratios, rates, summarize
from tks_lava.io import markdown_table, to_jsonable, write_json_atomic
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

    from benchmarks.count_synops import SynOpsCounter
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
    # the unpadded forward and the delay-shifted one count the same SynOps at every step
    busy = (torch.rand(2, 2, 8, 8, 8) < 0.5).float()  # enough input for every layer to spike
    counts = []
    for forward in (net.forward, net.forward_padded):
        with SynOpsCounter(net, timesteps=8) as each, torch.no_grad():
            forward(busy)
        counts.append(each.per_layer)
    assert all(v.sum() > 0 for v in counts[0].values())
    for k in counts[0]:
        np.testing.assert_array_equal(counts[1][k], counts[0][k])
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
    path = write_json_atomic(tmp_path / "x" / "r.json", to_jsonable(payload))
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
    for key in (
        "train_time_ratio_tks_over_baseline",
        "lava_steps_per_s",
        "cached_frames_samples_per_s",
        "binning_samples_per_s",
    ):
        assert key in summary and summary[key] is None
    assert summary["skipped"] == {"lava": {"ndigits_tks": "not found"}}
    text = render.render_markdown({"lava": lava}, summary, "python -m benchmarks")
    assert "## Training throughput" in text and "Not run." in text
    assert "**Skipped ndigits_tks**: not found" in text


def test_lava_exit_summary_and_table_from_hand_numbers():
    def row(th, steps, same=True):
        return {
            "threshold": th,
            "samples": 2,
            "lava_steps": steps,
            "predicted_steps": steps,
            "steps_saved": 1 - steps / 30,
            "mean_exit_step": 2.0,
            "post_hoc_mean_exit_step": 2.0,
            "accuracy": 0.5,
            "post_hoc_accuracy": 0.5,
            "run_s": 1.0,
            "wall_speedup": 2.0,
            "matches_post_hoc": same,
            "synops_per_sample": 1234.0,
        }

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
            },
        },
        "timing_model": "a",
        "timing": {
            "samples": 2,
            "repeats": 3,
            "exit_over_full_controller": stat,
            "speedup_over_window": {"exit_0.9": stat, "exit_0.9_no_synops": stat, "exit_1.0": stat},
        },
    }
    s = render_lava_exit.summary({"results": results})
    assert s["lava_exit_steps_saved_0.9"] == pytest.approx(1 - 12 / 30)  # the first model's
    assert s["lava_exit_wall_speedup_0.9"] == 1.5
    assert s["lava_exit_matches_post_hoc"] is False  # one mismatch anywhere is reported
    assert set(render_lava_exit.summary(None).values()) == {None}
    text = "\n".join(render_lava_exit.lines({"results": results}))
    assert "| a | exit > 0.9 | 2 | 12 | 12 | 60.0% |" in text and "**no**" in text
    assert "1.50 [1.40, 1.60]x" in text


def test_pool_fanout_counts_the_row_slayer_pads_odd_inputs_with():
    from types import SimpleNamespace

    from lava.lib.dl import slayer

    from benchmarks.count_synops import block_fanout

    block = SimpleNamespace(synapse=slayer.synapse.Pool(2))
    fan = block_fanout(block, (1, 5, 3))  # SLAYER pads 5 -> 6 and 3 -> 4: every pixel is read
    assert fan.shape == (5, 3) and (fan == 1).all()


def test_markdown_table_alignment_letters_and_the_study_style():
    assert markdown_table(["a", "b", "c"], [[1, 2, 3]], "-cr").splitlines() == [
        "| a | b | c |",
        "| --- | :---: | ---: |",
        "| 1 | 2 | 3 |",
    ]
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [[1, 2]], "lx")


# ----------------------------------------------------------------------------- section table


def test_section_table_names_modules_and_renderers():
    import importlib.util

    names = ["train", "kernels", "ddp", "data", "feed", "lava", "lava_speed", "early_exit"]
    assert list(SECTIONS) == [*names, "lava_exit", "nir"]
    keys: list[str] = []
    for name, spec in SECTIONS.items():
        assert spec.name == name
        assert importlib.util.find_spec(spec.bench) is not None, spec.bench
        keys += spec.render.summary(None)  # a section without a file still has its keys
        for label, value, key in spec.render.figures({}):
            assert label and value in ("n/a", "") and key in spec.render.summary(None)
    assert len(keys) == len(set(keys)), "two sections write the same summary.json key"


def test_a_new_section_is_one_row_of_the_table(monkeypatch):
    from types import SimpleNamespace

    from benchmarks.sections import SectionSpec

    renderer = SimpleNamespace(
        summary=lambda sec: {"x_speed": None if sec is None else sec["results"]["speed"]},
        figures=lambda summary: [["x speed", str(summary["x_speed"]), "x_speed"]],
        lines=lambda sec, page=None: [f"x ran {sec['results']['speed']}"],
    )
    monkeypatch.setitem(SECTIONS, "x", SectionSpec("x", "X section", "benchmarks.x", renderer, 5))
    machine = {"date": "d", "versions": {}}
    sections = {"x": {"run_date": "d", "results": {"speed": 7}}}
    summary = render.build_summary(sections, machine)
    assert summary["x_speed"] == 7 and summary["lava_steps_per_s"] is None
    text = render.render_markdown(sections, summary, "python -m benchmarks --only x")
    assert "## X section\n\nx ran 7" in text and "| x speed | 7 | `x_speed` |" in text


def test_committed_results_regenerate_identically():
    """BENCHMARKS.md and summary.json are what the renderer makes of the section files: after
    changing a renderer, rebuild them with ``python -m benchmarks --render-only``."""
    from benchmarks.__main__ import render_results
    from benchmarks.settings import DEFAULT_MARKDOWN, DEFAULT_OUT

    last = json.loads((DEFAULT_OUT / "summary.json").read_text())
    summary, text = render_results(DEFAULT_OUT, DEFAULT_MARKDOWN, last["machine"], last)
    fix = "stale: run `python -m benchmarks --render-only`"
    assert json.dumps(summary, indent=1) + "\n" == (DEFAULT_OUT / "summary.json").read_text(), fix
    assert text == DEFAULT_MARKDOWN.read_text(), fix


# ----------------------------------------------------------------------------- machine text


def _full_sections(elapsed_s):
    return {name: {"quick": False, "elapsed_s": elapsed_s} for name in SECTIONS}


def test_full_run_time_comes_from_the_section_times_and_the_measured_cores():
    summary = {"machine": {"cores": 16, "usable_cores": 8}}
    # every section 900 s / len(SECTIONS): 15 minutes in all, on the 8 usable cores
    each = 900.0 / len(SECTIONS)
    assert render.full_run_note(_full_sections(each), summary) == " (about 15 minutes on 8 cores)"
    partial = _full_sections(each)
    partial.pop("data")
    assert render.full_run_note(partial, summary) == ""
    quick = _full_sections(each)
    quick["lava"]["quick"] = True
    assert render.full_run_note(quick, summary) == ""


def test_projection_sentence_follows_the_cores_the_section_ran_on():
    from benchmarks import render_lava_speed

    results = {
        "vgg": {
            "input_shape": [2, 48, 48],
            "input_rate": 0.1,
            "step_s": {"reference": 4.0, "fast": 0.01},
            "steps_timed": {"reference": 3, "fast": 24},
            "fast_over_reference": 400.0,
            "window": 14,
            "samples_per_s_fast": 0.87,  # 870 samples / 0.87 per s = 1000 s
        }
    }
    two = "\n".join(render_lava_speed.lines({"results": results, "machine": {"cores": 2}}))
    assert "**0.28 h**" in two and "this 2-core machine a second job only competes" in two
    many = "\n".join(render_lava_speed.lines({"results": results, "machine": {"cores": 16}}))
    assert "this 16-core machine can run several side by side" in many


def test_plot_links_are_relative_to_the_page_whatever_path_the_file_stored(tmp_path):
    page = Page(tmp_path / "BENCHMARKS.md", tmp_path / "benchmarks" / "results")
    assert page.link("early_exit.png") == "benchmarks/results/early_exit.png"
    assert page.link("/elsewhere/results/early_exit.png") == "benchmarks/results/early_exit.png"
    assert Page().link("/elsewhere/early_exit.png") == "early_exit.png"


def test_full_run_estimate_from_a_quick_early_exit_section():
    from benchmarks.__main__ import TEST_SIZE, estimate_full_run

    quick = {
        "early_exit": {"elapsed_s": 10.0, "results": {"models": {"a": {"samples": 64}}}},
        "lava_speed": {"elapsed_s": 99.0, "results": {}},  # no estimator: left out
    }
    est = estimate_full_run(quick)
    assert est == {"early_exit": pytest.approx(10.0 * TEST_SIZE / 64), "total": est["early_exit"]}
