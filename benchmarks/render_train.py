"""The ``train`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_ratio, fmt_stat, get, median
from tks_lava.io import markdown_table

#: the configuration whose time ratios are the headline
PRIMARY = "ndigits/small_snn"
#: TKS must cost almost nothing over the baseline in training: time ratio goal
TKS_RATIO_GOAL = 1.05


def summary(sec: Section | None) -> dict[str, Any]:
    """Time ratios over the baseline (the primary configuration's and every one's) and the
    samples/s of every method and configuration (medians; None where not measured)."""
    configs = get(sec, "results", "configs") or {}
    ratio = median(configs, PRIMARY, "time_ratio_over_baseline", "tks")
    return {
        "train_time_ratio_tks_over_baseline": ratio,
        "train_time_ratio_goal": TKS_RATIO_GOAL,
        "train_time_ratio_goal_met": None if ratio is None else ratio <= TKS_RATIO_GOAL,
        "train_time_ratio_tet_over_baseline": median(
            configs, PRIMARY, "time_ratio_over_baseline", "tet"
        ),
        "train_time_ratio_tks_over_baseline_by_config": {
            k: median(v, "time_ratio_over_baseline", "tks") for k, v in configs.items()
        },
        "train_samples_per_s": {
            k: {m: get(s, "median") for m, s in (v.get("samples_per_s") or {}).items()}
            for k, v in configs.items()
        },
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: the TKS and TET time ratios."""
    tks, tet = "train_time_ratio_tks_over_baseline", "train_time_ratio_tet_over_baseline"
    value = fmt_ratio(summary.get(tks))
    met = summary.get("train_time_ratio_goal_met")
    if met is not None:
        value += " (goal met)" if met else " (**goal missed**)"
    return [
        [
            f"training time, TKS / baseline (ndigits, small_snn; goal <= {TKS_RATIO_GOAL}x)",
            value,
            tks,
        ],
        ["training time, TET / baseline (ndigits, small_snn)", fmt_ratio(summary.get(tet)), tet],
    ]


def _row(key: str, c: dict[str, Any], methods: list[str]) -> list[str]:
    shape = "x".join(str(s) for s in c["input_shape"][:3]) + f", T={c['input_shape'][3]}"
    ratios = [
        fmt_stat(c["time_ratio_over_baseline"][m], lambda x: f"{x:.3f}")
        for m in methods
        if m != "baseline"
    ]
    speeds = [fmt_stat(c["samples_per_s"][m]) for m in methods]
    head = [f"{key} ({shape})", c["batch"], f"{c['steps_per_repeat']} x {c['repeats']}"]
    return head + speeds + ratios


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    methods = r["methods"]
    rows = [_row(key, c, methods) for key, c in r["configs"].items()]
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
