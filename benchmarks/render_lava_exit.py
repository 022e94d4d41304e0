"""The ``lava_exit`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import (
    Page,
    Section,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    fmt_stat,
    fmt_yes_no,
    get,
)
from tks_lava.io import markdown_table

KEYS = ("lava_exit_steps_saved_0.9", "lava_exit_wall_speedup_0.9", "lava_exit_matches_post_hoc")
HEADERS = [
    "model",
    "run",
    "samples",
    "Lava steps",
    "predicted",
    "steps saved",
    "mean exit step (post-hoc)",
    "accuracy (post-hoc)",
    "run s",
    "speed-up",
    "same exits as post-hoc; SynOps/sample",
]


def _headline_row(model: dict[str, Any], headline: float) -> dict[str, Any] | None:
    return next((r for r in model["thresholds"] if r["threshold"] == headline), None)


def summary(sec: Section | None) -> dict[str, Any]:
    """Headline figures (None where not measured): steps saved on the full split and the
    paired wall-time speed-up at the headline threshold, for the primary (first) model."""
    r = get(sec, "results")
    if not r or not r.get("models"):
        return dict.fromkeys(KEYS)
    headline = r["headline"]
    primary = next(iter(r["models"].values()))
    row = _headline_row(primary, headline)
    speed = get(r, "timing", "speedup_over_window", f"exit_{headline}")
    return {
        KEYS[0]: None if row is None else 1.0 - row["lava_steps"] / primary["window"]["steps"],
        KEYS[1]: None if speed is None else speed["median"],
        KEYS[2]: all(t["matches_post_hoc"] for m in r["models"].values() for t in m["thresholds"]),
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: steps saved, speed-up, agreement."""
    rows = [
        (
            "Lava steps saved by early exit inside Lava at 0.9 (full split, vs fixed windows)",
            fmt_pct,
        ),
        ("Lava run-time speed-up, early exit at 0.9 / fixed windows (paired)", fmt_ratio),
        ("early exit in Lava == post-hoc analysis (every exit step and prediction)", fmt_yes_no),
    ]
    return [
        [label, fmt(summary.get(key)), key] for (label, fmt), key in zip(rows, KEYS, strict=True)
    ]


def _rows(name: str, m: dict[str, Any]) -> list[list[Any]]:
    w = m["window"]
    rows = [
        [
            name,
            "fixed window",
            m["samples"],
            f"{w['steps']:,}",
            *[""] * 4,
            f"{w['run_s']:.1f}",
            "",
            "",
        ]
    ]
    for t in m["thresholds"]:
        same = "yes" if t["matches_post_hoc"] else "**no**"
        if "synops_per_sample" in t:
            same += f"; {fmt_num(t['synops_per_sample'])}"
        rows.append(
            [
                name,
                f"exit > {t['threshold']}",
                t["samples"],
                f"{t['lava_steps']:,}",
                f"{t['predicted_steps']:,}",
                fmt_pct(t["steps_saved"]),
                f"{t['mean_exit_step']:.2f} ({t['post_hoc_mean_exit_step']:.2f})",
                f"{fmt_pct(t['accuracy'])} ({fmt_pct(t['post_hoc_accuracy'])})",
                f"{t['run_s']:.1f}",
                f"{t['wall_speedup']:.2f}x",
                same,
            ]
        )
    return rows


def _timing_line(r: dict[str, Any]) -> str:
    timing, h = r["timing"], r["headline"]
    s = timing["speedup_over_window"]
    return (
        f"Paired timing ({r['timing_model']}, first {timing['samples']} samples, "
        f"{timing['repeats']} interleaved repeats, median [min, max]): over the fixed "
        f"window, exit > {h} runs {fmt_stat(s[f'exit_{h}'])}x faster "
        f"({fmt_stat(s[f'exit_{h}_no_synops'])}x without SynOps counting); the controller "
        f"at threshold 1.0 (no early exit, same work as the fixed window) "
        f"{fmt_stat(s['exit_1.0'])}x; exiting at {h} against the controller at 1.0: "
        f"{fmt_stat(timing['exit_over_full_controller'])}x."
    )


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    rows = [row for name, m in r["models"].items() for row in _rows(name, m)]
    lines = [
        "`run_netx --exit-threshold TH --exit-in-lava`: a controller process in Lava stops each "
        "sample once its running-mean softmax max exceeds TH (or at T), resets every neuron and "
        "synapse state to its initial value and starts the next sample the next step "
        "(`tks_lava/deploy/early_exit.py`). The fixed-window run gives every sample "
        "T + latency + 2 steps; a sample exiting after e frames needs e + latency + 1. "
        "*Predicted* steps: the post-hoc exit steps of the fixed-window logits plus that latency. "
        "Run times exclude compile + start-up; one run per row.",
        "",
        markdown_table(HEADERS, rows),
    ]
    if r.get("timing"):
        lines += ["", _timing_line(r)]
    return lines
