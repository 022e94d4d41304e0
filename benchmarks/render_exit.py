"""The ``lava_exit`` section of ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.report import markdown_table
from benchmarks.stats import fmt_num, fmt_pct, fmt_stat


def _headline_row(model: dict[str, Any], headline: float) -> dict[str, Any] | None:
    return next((r for r in model["thresholds"] if r["threshold"] == headline), None)


def lava_exit_summary(r: dict[str, Any] | None) -> dict[str, Any]:
    """Headline figures (None where not measured): steps saved on the full split and the
    paired wall-time speed-up at the headline threshold, for the primary (first) model."""
    keys = ("lava_exit_steps_saved_0.9", "lava_exit_wall_speedup_0.9", "lava_exit_matches_post_hoc")
    if not r or not r.get("models"):
        return dict.fromkeys(keys)
    headline = r["headline"]
    primary = next(iter(r["models"].values()))
    row = _headline_row(primary, headline)
    speed = (r.get("timing") or {}).get("speedup_over_window", {}).get(f"exit_{headline}")
    return {
        keys[0]: None if row is None else 1.0 - row["lava_steps"] / primary["window"]["steps"],
        keys[1]: None if speed is None else speed["median"],
        keys[2]: all(t["matches_post_hoc"] for m in r["models"].values() for t in m["thresholds"]),
    }


def lava_exit_lines(sec: dict[str, Any] | None) -> list[str]:
    if not sec:
        return ["Not run."]
    r = sec["results"]
    lines = [
        "`run_netx --exit-threshold TH --exit-in-lava`: a controller process in Lava stops each "
        "sample once its running-mean softmax max exceeds TH (or at T), resets every neuron and "
        "synapse state to its initial value and starts the next sample the next step "
        "(`tks_lava/deploy/early_exit.py`). The fixed-window run gives every sample "
        "T + latency + 2 steps; a sample exiting after e frames needs e + latency + 1. "
        "*Predicted* steps: the post-hoc exit steps of the fixed-window logits plus that latency. Run times exclude "
        "compile + start-up; one run per row.",
        "",
    ]
    rows = []
    for name, m in r["models"].items():
        w = m["window"]
        rows.append([name, "fixed window", m["samples"], f"{w['steps']:,}", "", "",
                     "", "", f"{w['run_s']:.1f}", "", ""])  # fmt: skip
        for t in m["thresholds"]:
            rows.append([
                name, f"exit > {t['threshold']}", t["samples"], f"{t['lava_steps']:,}",
                f"{t['predicted_steps']:,}", fmt_pct(t["steps_saved"]),
                f"{t['mean_exit_step']:.2f} ({t['post_hoc_mean_exit_step']:.2f})",
                f"{fmt_pct(t['accuracy'])} ({fmt_pct(t['post_hoc_accuracy'])})",
                f"{t['run_s']:.1f}", f"{t['wall_speedup']:.2f}x",
                ("yes" if t["matches_post_hoc"] else "**no**")
                + (f"; {fmt_num(t['synops_per_sample'])}" if "synops_per_sample" in t else ""),
            ])  # fmt: skip
    lines.append(markdown_table(
        ["model", "run", "samples", "Lava steps", "predicted", "steps saved",
         "mean exit step (post-hoc)", "accuracy (post-hoc)", "run s", "speed-up",
         "same exits as post-hoc; SynOps/sample"], rows))  # fmt: skip
    timing = r.get("timing")
    if timing:
        s = timing["speedup_over_window"]
        h = r["headline"]
        lines += [
            "",
            f"Paired timing ({r['timing_model']}, first {timing['samples']} samples, "
            f"{timing['repeats']} interleaved repeats, median [min, max]): over the fixed "
            f"window, exit > {h} runs {fmt_stat(s[f'exit_{h}'])}x faster "
            f"({fmt_stat(s[f'exit_{h}_no_synops'])}x without SynOps counting); the controller "
            f"at threshold 1.0 (no early exit, same work as the fixed window) "
            f"{fmt_stat(s['exit_1.0'])}x; exiting at {h} against the controller at 1.0: "
            f"{fmt_stat(timing['exit_over_full_controller'])}x.",
        ]
    return lines
