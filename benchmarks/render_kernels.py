"""The ``kernels`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts).

Headline (issue #21): the vgg_snn training step on the CPU, new path (unpadded forward + exact
kernels) over the old one (padded forward + SLAYER's loop), paired per repeat, on one thread;
and a projection of one N-Caltech101 training epoch from the new path's samples/s measured at
N-Caltech101's default frames (48x48).
"""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_ratio, fmt_stat, get, median
from tks_lava.io import markdown_table

#: N-Caltech101's training split: per class the first round(0.9 n) of the 8,709 recordings
#: (tks_lava.data.ncaltech101), i.e. all but the 870 test recordings
NCALTECH_TRAIN = 8_709 - 870
#: issue #21's speed-up goal for the vgg_snn training step on the CPU, and its stretch goal
SPEEDUP_GOAL, SPEEDUP_STRETCH = 3.0, 5.0
#: The figure before #21, for reference only (not measured by this section): the ``train``
#: section of 2026-11-23 (``train_samples_per_s["ncaltech-shape/vgg_snn"]["tks"]`` then) timed
#: vgg_snn TKS steps at 2x48x48, T = 10, 101 classes, batch 2, 1 torch thread (machine busy),
#: padded forward + SLAYER's loop: 0.150 samples/s (median of 3), ~14.5 h per epoch.
BEFORE_48 = {"samples_per_s": 0.150, "batch": 2, "threads": 1, "date": "2026-11-23"}
NEURON_NAMES = {
    "slayer": "SLAYER's CPU loop",
    "numba": "exact, numba (CPU default)",
    "torch": "exact, torch loop (the GPU path)",
}


def epoch_hours(samples_per_s: float | None, samples: int = NCALTECH_TRAIN) -> float | None:
    """Hours for ``samples`` optimizer-step samples at ``samples_per_s`` (None if unmeasured)."""
    return None if not samples_per_s else samples / samples_per_s / 3600


def summary(sec: Section | None) -> dict[str, Any]:
    """The paired speed-ups (wall and CPU seconds), the new path's samples/s, the projection."""
    r = get(sec, "results") or {}
    step, nc = get(r, "train_step") or {}, get(r, "ncaltech_step") or {}
    speedup = median(step, "speedup_wall", "new")
    rate48 = median(nc, "samples_per_s", "new")
    return {
        "train_vgg_speedup_cpu": speedup,
        "train_vgg_speedup_cpu_by_cpu_seconds": median(step, "speedup_cpu", "new"),
        "train_vgg_speedup_goal_met": None if speedup is None else speedup >= SPEEDUP_GOAL,
        "train_vgg_samples_per_s_cpu": median(step, "samples_per_s", "new"),
        "train_vgg_samples_per_s_cpu_old": median(step, "samples_per_s", "old"),
        "train_vgg_samples_per_s_cpu_48x48": rate48,
        "ncaltech101_epoch_hours_cpu": epoch_hours(rate48),
        "ncaltech101_epoch_hours_cpu_by_cpu_seconds": epoch_hours(
            median(nc, "samples_per_cpu_s", "new")
        ),
        "neuron_speedup_numba": median(r, "neuron", "speedup_wall", "numba"),
        "neuron_speedup_torch": median(r, "neuron", "speedup_wall", "torch"),
        "exact_kernels_compile_s": get(r, "compile", "cold_s"),
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: speed-up (goal), samples/s, projection."""
    key = "train_vgg_speedup_cpu"
    value = fmt_ratio(summary.get(key))
    met = summary.get("train_vgg_speedup_goal_met")
    if met is not None:
        value += " (goal met)" if met else " (**goal missed**)"
    hours = summary.get("ncaltech101_epoch_hours_cpu")
    return [
        [
            f"vgg_snn CPU training step, new / old path (34x34, T=10, 1 thread; goal >= "
            f"{SPEEDUP_GOAL:.0f}x)",
            value,
            key,
        ],
        [
            "vgg_snn CPU training samples/s, new path (34x34, batch 8, 1 thread)",
            fmt_num(summary.get("train_vgg_samples_per_s_cpu")),
            "train_vgg_samples_per_s_cpu",
        ],
        [
            "projected hours per N-Caltech101 training epoch, CPU, 1 thread (48x48, new path)",
            "n/a" if hours is None else f"{fmt_num(hours)} (projection)",
            "ncaltech101_epoch_hours_cpu",
        ],
    ]


def _neuron_lines(n: dict[str, Any]) -> list[str]:
    rows = [
        [
            NEURON_NAMES.get(k, k),
            fmt_stat(n["wall_s"][k]),
            fmt_stat(n["cpu_s"][k]),
            fmt_stat(n["speedup_wall"][k]),
            fmt_stat(n["speedup_cpu"][k]),
        ]
        for k in n["wall_s"]
    ]
    heads = ["kernels", "wall s", "CPU s", "speed-up (wall)", "speed-up (CPU s)"]
    shape = "x".join(map(str, n["input"]))
    return [
        f"One hidden CUBA neuron, forward + backward, input {shape} (N, C, H, W, T: vgg_snn's "
        "first layer at 34x34, batch 8); speed-up = SLAYER's loop time / each one's, per repeat:",
        "",
        markdown_table(heads, rows),
    ]


def _step_lines(s: dict[str, Any]) -> list[str]:
    def row(k: str, what: str) -> list[str]:
        return [
            f"{k}: {what}",
            fmt_stat(s["wall_s"][k]),
            fmt_stat(s["cpu_s"][k]),
            fmt_stat(s["samples_per_s"][k]),
            fmt_stat(s["samples_per_cpu_s"][k]),
        ]

    heads = ["path", "wall s / step", "CPU s / step", "samples/s", "samples / CPU s"]
    rows = [row("old", s["old"]), row("new", s["new"])]
    n, c, h, w, t = s["input"]
    return [
        f"vgg_snn optimizer step ({s['loss']} loss, AdamW), {c}x{h}x{w}, T = {t}, batch {n}, "
        "random spikes, the two paths in turn per repeat from the same initial weights:",
        "",
        markdown_table(heads, rows),
        "",
        f"New over old, paired per repeat: **{fmt_stat(s['speedup_wall']['new'])}x** by wall "
        f"time, {fmt_stat(s['speedup_cpu']['new'])}x by CPU seconds (goal >= "
        f"{SPEEDUP_GOAL:.0f}x, stretch >= {SPEEDUP_STRETCH:.0f}x).",
    ]


def _projection_lines(nc: dict[str, Any]) -> list[str]:
    n, c, h, w, t = nc["input"]
    rate = median(nc, "samples_per_s", "new")
    hours, before = epoch_hours(rate), BEFORE_48["samples_per_s"]
    by_cpu = epoch_hours(median(nc, "samples_per_cpu_s", "new"))
    hours_text = "n/a" if hours is None else f"**{hours:.1f} h**"
    if by_cpu is not None:
        hours_text += f" ({by_cpu:.1f} h at the rate per CPU second: a core no other job shares)"
    ratio = "n/a" if not rate else f"{rate / before:.0f}x"
    return [
        f"At N-Caltech101's default frames ({c}x{h}x{w}, T = {t}, {nc['num_classes']} classes), "
        f"batch {n}, the new path trains at **{fmt_stat(nc['samples_per_s']['new'])} "
        f"samples/s** ({fmt_stat(nc['samples_per_cpu_s']['new'])} per CPU second). "
        f"**Projection** (not measured): one epoch over the training split ({NCALTECH_TRAIN:,} "
        f"recordings, all through optimizer steps) at that rate takes {hours_text} on one "
        "thread, without validation, test passes or data loading. For reference, before #21 "
        f"the `train` section ({BEFORE_48['date']}) measured the old path at 48x48, batch "
        f"{BEFORE_48['batch']}, {BEFORE_48['threads']} thread: {before:.3f} samples/s "
        f"({epoch_hours(before):.1f} h per epoch); the new figure is {ratio} that, from "
        "different runs and batch sizes, so not a paired ratio.",
    ]


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    out = [
        "SLAYER's CPU neuron loop against the exact CUBA kernels (bit-identical to it), alone "
        f"and in a training step; {r['torch_threads']} torch thread, variants timed in turn "
        "per repeat, wall and process CPU seconds both kept (on a shared machine the CPU "
        "seconds are the steadier figure). See `benchmarks/bench_kernels.py`.",
        "",
        *_neuron_lines(r["neuron"]),
        "",
        *_step_lines(r["train_step"]),
    ]
    if "ncaltech_step" in r:
        out += ["", *_projection_lines(r["ncaltech_step"])]
    comp = r.get("compile") or {}
    if comp:

        def sec_text(v: Any) -> str:
            return f"{v:.1f} s" if isinstance(v, int | float) else str(v)

        out += [
            "",
            f"First exact call in a fresh process: {sec_text(comp.get('cold_s'))} with an empty "
            f"numba cache (compiling), {sec_text(comp.get('cached_s'))} with the cache it left.",
        ]
    return out
