"""``summary.json`` and ``BENCHMARKS.md`` from the section results (pure functions of dicts).

A section file is ``{"section", "date", "quick", "settings", "machine", "elapsed_s", "results"}``
as written by :mod:`benchmarks.run`; a missing section renders as "not run".
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from benchmarks.render_exit import lava_exit_lines, lava_exit_summary
from benchmarks.report import markdown_table
from benchmarks.settings import SHIPPED
from benchmarks.stats import fmt_num, fmt_pct, fmt_stat

SECTIONS = ("train", "data", "lava", "lava_speed", "early_exit", "lava_exit")
PRIMARY_TRAIN = "ndigits/small_snn"
#: TKS must cost almost nothing over the baseline in training: time ratio goal
TKS_RATIO_GOAL = 1.05

Section = dict[str, Any]


def _get(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...`` or None if any level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _median(d: Any, *keys: str) -> float | None:
    return _get(d, *keys, "median")


def primary_model(models: dict[str, Any]) -> str | None:
    """The model whose deployment figures go into the summary: the first shipped one present."""
    for name in SHIPPED:
        if name in models:
            return name
    return next(iter(models), None)


def build_summary(sections: dict[str, Section], machine: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (medians) of every section, machine info and the date."""
    train = _get(sections.get("train"), "results", "configs") or {}
    data = _get(sections.get("data"), "results") or {}
    lava = _get(sections.get("lava"), "results", "models") or {}
    ee = _get(sections.get("early_exit"), "results", "models") or {}
    name = primary_model(lava)
    dep = lava.get(name, {}) if name else {}
    summary: dict[str, Any] = {
        "date": machine.get("date"),
        "machine": machine,
        "quick": any(s.get("quick") for s in sections.values()),
        "train_time_ratio_tks_over_baseline": _median(
            train, PRIMARY_TRAIN, "time_ratio_over_baseline", "tks"
        ),
        "train_time_ratio_goal": TKS_RATIO_GOAL,
        "train_time_ratio_tet_over_baseline": _median(
            train, PRIMARY_TRAIN, "time_ratio_over_baseline", "tet"
        ),
        "train_time_ratio_tks_over_baseline_by_config": {
            k: _median(v, "time_ratio_over_baseline", "tks") for k, v in train.items()
        },
        "train_samples_per_s": {
            k: {m: _get(s, "median") for m, s in (v.get("samples_per_s") or {}).items()}
            for k, v in train.items()
        },
        "lava_model": name,
        "lava_steps_per_s": _median(dep, "lava", "steps_per_s"),
        "lava_samples_per_s": _median(dep, "lava", "samples_per_s"),
        "lava_compile_s": _median(dep, "lava", "compile_s"),
        "slayer_cpu_samples_per_s_batch1": _median(dep, "torch_cpu", "batch1", "samples_per_s"),
        "slayer_cpu_samples_per_s_batch32": _median(dep, "torch_cpu", "batch32", "samples_per_s"),
        "cached_frames_samples_per_s": _median(data, "cache_bulk", "samples_per_s"),
        "cached_frames_lazy_samples_per_s": _median(data, "cache_lazy", "samples_per_s"),
        "binning_samples_per_s": _median(data, "read_bin", "samples_per_s"),
        "binning_events_per_s": _median(data, "read_bin", "events_per_s"),
        "binning_only_samples_per_s": _median(data, "bin_only", "samples_per_s"),
        "early_exit": {
            k: {
                "accuracy_at": v.get("accuracy_at"),
                "synops_per_sample": _get(v, "synops", "per_sample"),
                "synops_per_sample_per_step": _get(v, "synops", "per_sample_per_step"),
            }
            for k, v in ee.items()
        },
        "skipped": {
            sec: _get(s, "results", "skipped")
            for sec, s in sections.items()
            if _get(s, "results", "skipped")
        },
        "sections": {
            sec: {"date": s.get("date"), "quick": s.get("quick"), "elapsed_s": s.get("elapsed_s")}
            for sec, s in sections.items()
        },
    }
    speed = _get(sections.get("lava_speed"), "results") or {}
    summary.update(lava_speed_summary(speed))
    summary.update(lava_exit_summary(_get(sections.get("lava_exit"), "results")))
    ratio = summary["train_time_ratio_tks_over_baseline"]
    summary["train_time_ratio_goal_met"] = None if ratio is None else ratio <= TKS_RATIO_GOAL
    return summary


# ----------------------------------------------------------------------------- Markdown


def lava_speed_summary(r: dict[str, Any]) -> dict[str, Any]:
    """Headline figures of the ``lava_speed`` section (None where it was not measured)."""
    return {
        "lava_fast_over_reference_vgg": _get(r, "vgg", "fast_over_reference"),
        "lava_vgg_step_s_reference": _get(r, "vgg", "step_s", "reference"),
        "lava_vgg_step_s_fast": _get(r, "vgg", "step_s", "fast"),
        "lava_vgg_samples_per_s": _get(r, "vgg", "samples_per_s_fast"),
        "lava_fast_over_reference_small": _median(r, "small", "fast_over_reference"),
        "lava_over_torch_b1_small": _median(r, "small", "torch_b1_over_lava_fast"),
        "lava_jobs_speedup": _get(r, "jobs", "speedup"),
        "lava_ncaltech101_test_hours_one_job": ncaltech_hours(r),
    }


#: N-Caltech101 test split: per class the last 10% of the 8,709 recordings
NCALTECH_TEST = 870


def ncaltech_hours(r: dict[str, Any]) -> float | None:
    """Hours for the N-Caltech101 test split in Lava at the measured one-job vgg_snn rate.

    No parallel speed-up is assumed: one runtime keeps ~1.5 cores busy, so a 16-core machine
    runs several side by side and can only be faster than this (not measured here).
    """
    rate = _get(r, "vgg", "samples_per_s_fast")
    return None if not rate else NCALTECH_TEST / rate / 3600


def machine_table(machine: dict[str, Any]) -> str:
    v = machine.get("versions", {})
    rows = [
        ["date", machine.get("date")],
        ["platform", machine.get("platform")],
        ["CPU", machine.get("cpu")],
        ["cores (usable)", f"{machine.get('cores')} ({machine.get('usable_cores')})"],
        ["RAM", f"{machine.get('ram_gib')} GiB"],
        [
            "torch threads",
            f"{machine.get('torch_threads')} ({machine.get('torch_threads_choice')})",
        ],
        ["load average at start (1, 5, 15 min)", machine.get("load_average_at_start")],
        ["python", v.get("python")],
        ["torch / numpy", f"{v.get('torch')} / {v.get('numpy')}"],
        ["lava-nc / lava-dl", f"{v.get('lava-nc')} / {v.get('lava-dl')}"],
        ["tks_lava", v.get("tks_lava")],
    ]
    return markdown_table(["", ""], rows)


def summary_table(summary: dict[str, Any]) -> str:
    def ratio(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}x"

    model = summary.get("lava_model") or "no shipped model"
    figures = [
        ("training time, TKS / baseline (ndigits, small_snn; goal <= 1.05x)",
         "train_time_ratio_tks_over_baseline", ratio),
        ("training time, TET / baseline (ndigits, small_snn)",
         "train_time_ratio_tet_over_baseline", ratio),
        (f"Lava sim steps/s ({model})", "lava_steps_per_s", fmt_num),
        (f"Lava sim samples/s ({model})", "lava_samples_per_s", fmt_num),
        ("Lava compile + start-up (s)", "lava_compile_s", fmt_num),
        ("SLAYER PyTorch CPU samples/s, batch 1", "slayer_cpu_samples_per_s_batch1", fmt_num),
        ("SLAYER PyTorch CPU samples/s, batch 32", "slayer_cpu_samples_per_s_batch32", fmt_num),
        ("Lava vgg_snn 48x48 step, stock / fast models (goal >= 50x)",
         "lava_fast_over_reference_vgg", ratio),
        (f"Lava samples/s, fast / stock models ({model}; goal >= 3x)",
         "lava_fast_over_reference_small", ratio),
        ("PyTorch b1 (1 thread) / Lava fast samples/s (stretch goal <= 2x)",
         "lava_over_torch_b1_small", ratio),
        ("Lava vgg_snn 48x48 samples/s (fast, one job, T=10)", "lava_vgg_samples_per_s", fmt_num),
        ("Lava speed-up, one job per core / one job", "lava_jobs_speedup", ratio),
        ("projected hours, N-Caltech101 test split in Lava, one job (vgg_snn 48x48)",
         "lava_ncaltech101_test_hours_one_job", fmt_num),
        ("Lava steps saved by early exit inside Lava at 0.9 (full split, vs fixed windows)",
         "lava_exit_steps_saved_0.9", lambda x: "n/a" if x is None else f"{100 * x:.1f}%"),
        ("Lava run-time speed-up, early exit at 0.9 / fixed windows (paired)",
         "lava_exit_wall_speedup_0.9", ratio),
        ("early exit in Lava == post-hoc analysis (every exit step and prediction)",
         "lava_exit_matches_post_hoc", lambda x: "n/a" if x is None else ("yes" if x else "no")),
        ("frames from the cache (open + read all), samples/s", "cached_frames_samples_per_s",
         fmt_num),
        ("read + bin events, samples/s", "binning_samples_per_s", fmt_num),
    ]  # fmt: skip
    rows = [[label, fmt(summary.get(key)), f"`{key}`"] for label, key, fmt in figures]
    met = summary.get("train_time_ratio_goal_met")
    if met is not None:
        rows[0][1] += " (goal met)" if met else " (**goal missed**)"
    return markdown_table(["figure (median)", "value", "summary.json key"], rows, "lrl")


def train_lines(sec: Section | None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    methods = r["methods"]
    rows = []
    for key, c in r["configs"].items():
        shape = "x".join(str(s) for s in c["input_shape"][:3]) + f", T={c['input_shape'][3]}"
        rows.append(
            [f"{key} ({shape})", c["batch"], f"{c['steps_per_repeat']} x {c['repeats']}"]
            + [fmt_stat(c["samples_per_s"][m]) for m in methods]
            + [fmt_stat(c["time_ratio_over_baseline"][m], lambda x: f"{x:.3f}")
               for m in methods if m != "baseline"]
        )  # fmt: skip
    headers = ["data / model", "batch", "steps x repeats"]
    headers += [f"{m} samples/s" for m in methods]
    headers += [f"time {m}/baseline" for m in methods if m != "baseline"]
    return [
        "Optimizer steps (forward + loss + backward + AdamW) on one fixed batch, methods "
        "interleaved (one round of all methods per repeat, order rotated); each method trains "
        "its own copy of the same initial model. Time ratios are taken per repeat, then the "
        f"median. TKS: temperature {r['loss_hparams']['tks']['temperature']}, lam {r['tks_lam']}. "
        "vgg_snn (the reference VGG-SNN, 9.2 M weights) takes seconds per step on a CPU, so it "
        "is timed with a small batch and few steps.",
        "",
        markdown_table(headers, rows),
    ]


def data_lines(sec: Section | None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    shape = "x".join(str(s) for s in r["frame_shape"])
    nc = r["ncaltech_bin_only"]
    nc_shape = f"2x{nc['frames']['size'][0]}x{nc['frames']['size'][1]}x{nc['frames']['timesteps']}"
    rows = [
        [f"read AER file + bin ({r['dataset']}, {shape})", r["read_bin"]["samples"],
         fmt_stat(r["read_bin"]["samples_per_s"]), fmt_stat(r["read_bin"]["events_per_s"])],
        ["bin only (events in memory)", r["bin_only"]["samples"],
         fmt_stat(r["bin_only"]["samples_per_s"]), fmt_stat(r["bin_only"]["events_per_s"])],
        ["frame cache: open only (scan files, check key)", r["cache_open"]["samples"],
         fmt_stat(r["cache_open"]["samples_per_s"]), ""],
        ["frame cache: read all + float32 tensors (already open)", r["cache_read"]["samples"],
         fmt_stat(r["cache_read"]["samples_per_s"]), ""],
        ["frame cache: open + read all + float32 tensors", r["cache_bulk"]["samples"],
         fmt_stat(r["cache_bulk"]["samples_per_s"]), ""],
        ["frame cache: open + per-sample reads (lazy HDF5)", r["cache_lazy"]["samples"],
         fmt_stat(r["cache_lazy"]["samples_per_s"]), ""],
        [f"bin only, synthetic N-Caltech101-shaped ({nc['events'] // nc['samples']:,} "
         f"events, 240x180 -> {nc_shape})", nc["samples"], fmt_stat(nc["samples_per_s"]),
         fmt_stat(nc["events_per_s"])],
    ]  # fmt: skip
    lines = [
        f"Test split of `{r['dataset']}`, cache `{r['cache_file']}` ({r['cache_dtype']}, lzf). "
        "The paths run interleaved, after one untimed pass of each (warm OS file cache).",
        "",
        markdown_table(["path", "samples", "samples/s", "events/s"], rows, "lrrr"),
    ]
    speedup = r.get("cache_speedup_over_read_bin")
    if speedup and speedup.get("median") is not None:
        lines += [
            "",
            f"Frame cache (open + read all) over read + bin, samples/s, paired per repeat: "
            f"{fmt_stat(speedup)}x. {r['dataset']} recordings are small "
            f"(~{r['read_bin']['events'] // max(r['read_bin']['samples'], 1):,} events), so "
            "binning them is cheap; binning costs grow with the event count (last row), which "
            "is what the cache saves on real datasets.",
        ]
    return lines


def lava_lines(sec: Section | None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    lines = [
        f"Backend: {r['backend']}; PyTorch: `torch.no_grad`, {r['torch_threads']} thread(s). "
        "Lava's steps/s and samples/s exclude compile + start-up, reported apart. Each repeat "
        "runs Lava, then PyTorch batch 1, then batch 32, on the same samples.",
        "",
    ]
    rows = []
    for name, m in r["models"].items():
        lv, tc = m["lava"], m["torch_cpu"]
        rows.append([
            f"{name} ({m['model']}, T={m['timesteps']}, window {m['window']} steps)",
            f"{m['samples']} x {m['repeats']}",
            fmt_stat(lv["compile_s"]), fmt_stat(lv["steps_per_s"]), fmt_stat(lv["samples_per_s"]),
            fmt_stat(tc["batch1"]["samples_per_s"]),
            fmt_stat(tc["batch32"]["samples_per_s"]) + (
                f" (batch {tc['batch32']['batch']})" if tc["batch32"]["batch"] != 32 else ""),
            "yes" if m["parity_with_torch"].get("bit_identical") else
            f"no (max diff {m['parity_with_torch'].get('max_abs_logit_diff')})",
        ])  # fmt: skip
    if rows:
        lines.append(markdown_table(
            ["model", "samples x repeats", "Lava compile + start (s)", "Lava steps/s",
             "Lava samples/s", "PyTorch b1 samples/s", "PyTorch b32 samples/s",
             "Lava == PyTorch logits"], rows))  # fmt: skip
        for name, m in r["models"].items():
            sp = m["torch_over_lava_speed"]
            lines += ["", f"{name}: PyTorch on the CPU is {fmt_stat(sp['batch1'])}x (batch 1) and "
                      f"{fmt_stat(sp['batch32'])}x (batch 32) faster than the Lava simulation "
                      "(paired per repeat)."]  # fmt: skip
    lines += skipped_lines(r.get("skipped"))
    return lines


def lava_speed_lines(sec: Section | None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    lines = ["Lava's stock process models (`--lava-models reference`) against the project's "
             "bit-exact fast ones (`fast`, the default); see `benchmarks/bench_lava_speed.py`.",
             ""]  # fmt: skip
    if "small" in r:
        sm = r["small"]
        sp = sm["samples_per_s"]
        lines += [markdown_table(
            ["shipped model", "samples x repeats", "stock samples/s", "fast samples/s",
             "fast / stock", "PyTorch b1, 1 thread", "PyTorch / Lava fast", "fast == stock"],
            [[r["small_model"], f"{sm['samples']} x {sp['fast']['n']}",
              fmt_stat(sp["reference"]), fmt_stat(sp["fast"]), fmt_stat(sm["fast_over_reference"]),
              fmt_stat(sp["torch_b1"]), fmt_stat(sm["torch_b1_over_lava_fast"]),
              "yes" if sm["fast_equals_reference"] else "**no**"]]), ""]  # fmt: skip
    v = r["vgg"]
    lines += [
        f"vgg_snn at {'x'.join(map(str, v['input_shape'][1:]))}, {v['input_rate']:.0%} of input "
        f"pixels on: stock models {v['step_s']['reference']:.2f} s per Lava step "
        f"({v['steps_timed']['reference']} steps timed), fast models "
        f"{1e3 * v['step_s']['fast']:.1f} ms per step ({v['steps_timed']['fast']} steps): "
        f"**{v['fast_over_reference']:.0f}x**. Whole samples (T = 10, window {v['window']} "
        f"steps), fast, one job: {v['samples_per_s_fast']:.3f} samples/s.",
    ]
    if "jobs" in r:
        j = r["jobs"]
        lines += ["", f"Parallel runtimes: {j['samples']} samples, `--jobs 1` "
                  f"{j['wall_s']['1']:.1f} s, `--jobs {j['cores']}` "
                  f"{j['wall_s'][str(j['cores'])]:.1f} s (wall, worker start-up included): "
                  f"{j['speedup']:.2f}x; logits identical: "
                  f"{'yes' if j['identical'] else '**no**'}."]  # fmt: skip
    hours = ncaltech_hours(r)
    if hours is not None:
        lines += ["", f"Projection: the N-Caltech101 test split ({NCALTECH_TEST} samples, "
                  f"vgg_snn 48x48, T = 10) at the one-job rate above takes **{hours:.2f} h**; "
                  "no parallel speed-up is assumed (one runtime keeps about 1.5 cores busy, so "
                  "on this 2-core machine a second job only competes with the first)."]  # fmt: skip
    lines += skipped_lines(r.get("skipped"))
    return lines


def early_exit_lines(sec: Section | None, markdown_path: Path | None = None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    lines = [
        f"Logits: {r['logits']}. Deterministic, so one run (no repeats). These are the shipped "
        "models (one seed each); the spread over seeds and the paired tests are in `STUDY.md`.",
        "",
    ]
    models = r["models"]
    if models:
        t_keys = list(next(iter(models.values()))["accuracy_at"])
        rows = [
            [name, m["samples"]]
            + [f"{fmt_pct(m['accuracy_at'][k])} ({fmt_pct(m['step_accuracy_at'][k])})"
               for k in t_keys]
            + [f"{m['aurc']:.4f}", fmt_num(m["synops"]["per_sample"]),
               fmt_num(m["synops"]["per_sample_per_step"])]
            for name, m in models.items()
        ]  # fmt: skip
        lines += [
            "Accuracy at fixed t: running mean of steps 1..t (step t alone in parentheses). "
            "SynOps: input spikes of every weighted layer x their exact fan-out, per sample "
            "(all T steps) and per sample per step.",
            "",
            markdown_table(
                ["model", "samples"]
                + [f"acc t={k}" for k in t_keys]
                + ["AURC", "SynOps/sample", "SynOps/sample/step"],
                rows,
            ),  # fmt: skip
            "",
        ]
        thresholds = r["thresholds"]
        rows = []
        for i, th in enumerate(thresholds):
            row = [th]
            for m in models.values():
                e = m["early_exit"][i]
                row += [fmt_num(e["mean_steps"]), fmt_pct(e["accuracy"]),
                        fmt_num(e["synops_per_sample"])]  # fmt: skip
            rows.append(row)
        headers = ["threshold"]
        for name in models:
            headers += [f"{name} mean steps", f"{name} acc", f"{name} SynOps/sample"]
        lines += [
            "Confidence early exit: stop at the first t whose running-mean softmax max exceeds "
            "the threshold (1.0 = never stop early). SynOps/sample counts the work until exit.",
            "",
            markdown_table(headers, rows),
            "",
        ]
        per_step_rows = []
        t = next(iter(models.values()))["timesteps"]
        for k in range(t):
            per_step_rows.append(
                [k + 1] + [fmt_num(m["synops"]["per_step"][k]) for m in models.values()]
            )
        lines += [
            "SynOps per sample at each step (mean over samples):",
            "",
            markdown_table(["t"] + list(models), per_step_rows),
        ]
        if r.get("synops_ratio") and r["synops_ratio"]["ratio"] is not None:
            a, b = r["synops_ratio"]["pair"]
            lines += ["", f"SynOps per sample, {a} / {b} (same samples, all T steps): "
                      f"{r['synops_ratio']['ratio']:.3f}."]  # fmt: skip
        if r.get("plot"):
            plot = Path(r["plot"])
            link = plot.name
            if markdown_path is not None:
                link = os.path.relpath(plot.resolve(), Path(markdown_path).resolve().parent)
            lines += ["", f"![accuracy vs mean steps]({Path(link).as_posix()})"]
    lines += skipped_lines(r.get("skipped"))
    return lines


def skipped_lines(skipped: dict[str, str] | None) -> list[str]:
    if not skipped:
        return []
    return ["", *[f"- **Skipped {name}**: {why}" for name, why in skipped.items()]]


def busy_machine_lines(machine: dict[str, Any]) -> list[str]:
    """A warning when other jobs ran as the benchmarks started (1-min load > half the cores)."""
    cores = machine.get("usable_cores") or machine.get("cores") or 1
    load = (machine.get("load_average_at_start") or [0.0])[0]
    if load <= 0.5 * cores:
        return []
    return [
        f"**Warning: the machine was busy** (1-min load average {load:.1f} on {cores} cores "
        "when the run started). Timings are pessimistic and noisy; PyTorch's threads suffer "
        "most from sharing cores. Rerun `make bench` on an idle machine.",
        "",
    ]


def render_markdown(
    sections: dict[str, Section],
    summary: dict[str, Any],
    command: str,
    markdown_path: Path | None = None,
) -> str:
    """The whole BENCHMARKS.md."""
    machine = summary["machine"]
    quick = summary["quick"]
    out = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {machine.get('date')}"
        f"{' in QUICK mode (tiny sizes: the numbers are not representative)' if quick else ''}."
        " Every timing is the median [min, max] over repeated runs on this machine; ratios are "
        "computed pair by pair inside the same repeat. Regenerate with `make bench` (about "
        "18 minutes on 2 cores); see `benchmarks/README.md`. Raw numbers: "
        "`benchmarks/results/*.json`.",
        "",
    ]
    older = [
        f"`{k}` ({v.get('date')}{', quick' if v.get('quick') else ''})"
        for k, v in sections.items()
        if v.get("run_date") != machine.get("date")
    ]
    if older:
        out += [f"Sections kept from an earlier run: {', '.join(older)}.", ""]
    out += busy_machine_lines(machine)
    out += ["## Machine", "", machine_table(machine), "", "## Summary", "", summary_table(summary)]
    parts = [
        ("Training throughput", train_lines(sections.get("train"))),
        ("Data: binning vs. frame cache", data_lines(sections.get("data"))),
        ("Deployment: Lava CPU simulation vs. PyTorch", lava_lines(sections.get("lava"))),
        ("Lava speed: fast vs. stock process models, parallel runtimes",
         lava_speed_lines(sections.get("lava_speed"))),
        ("Early exit and synaptic operations",
         early_exit_lines(sections.get("early_exit"), markdown_path)),
        ("Early exit inside Lava", lava_exit_lines(sections.get("lava_exit"))),
    ]  # fmt: skip
    for title, lines in parts:
        out += ["", f"## {title}", "", *lines]
    times = [
        f"{k} {v['elapsed_s']:.0f} s" for k, v in sections.items() if v.get("elapsed_s") is not None
    ]
    if times:
        out += ["", f"Section run times: {', '.join(times)}."]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip("\n") + "\n"
