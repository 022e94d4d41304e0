"""The ``early_exit`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_pct, get, skipped_lines
from tks_lava.io import markdown_table

Models = dict[str, dict[str, Any]]


def summary(sec: Section | None) -> dict[str, Any]:
    """Per model: running-mean accuracy at the reported steps and SynOps per sample."""
    models = get(sec, "results", "models") or {}
    return {
        "early_exit": {
            k: {
                "accuracy_at": v.get("accuracy_at"),
                "synops_per_sample": get(v, "synops", "per_sample"),
                "synops_per_sample_per_step": get(v, "synops", "per_sample_per_step"),
            }
            for k, v in models.items()
        }
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """No Summary-table rows: accuracy belongs to ``STUDY.md`` (seeds, paired tests)."""
    return []


def _accuracy_lines(models: Models) -> list[str]:
    t_keys = list(next(iter(models.values()))["accuracy_at"])
    rows = []
    for name, m in models.items():
        acc = [
            f"{fmt_pct(m['accuracy_at'][k])} ({fmt_pct(m['step_accuracy_at'][k])})" for k in t_keys
        ]
        ops = m["synops"]
        synops = [fmt_num(ops["per_sample"]), fmt_num(ops["per_sample_per_step"])]
        rows.append([name, m["samples"], *acc, f"{m['aurc']:.4f}", *synops])
    headers = ["model", "samples", *[f"acc t={k}" for k in t_keys]]
    headers += ["AURC", "SynOps/sample", "SynOps/sample/step"]
    return [
        "Accuracy at fixed t: running mean of steps 1..t (step t alone in parentheses). "
        "SynOps: input spikes of every weighted layer x their exact fan-out, per sample "
        "(all T steps) and per sample per step.",
        "",
        markdown_table(headers, rows),
        "",
    ]


def _exit_lines(models: Models, thresholds: list[float]) -> list[str]:
    rows = []
    for i, th in enumerate(thresholds):
        row = [th]
        for m in models.values():
            e = m["early_exit"][i]
            row += [fmt_num(e["mean_steps"]), fmt_pct(e["accuracy"])]
            row.append(fmt_num(e["synops_per_sample"]))
        rows.append(row)
    headers = ["threshold"]
    for name in models:
        headers += [f"{name} mean steps", f"{name} acc", f"{name} SynOps/sample"]
    return [
        "Confidence early exit: stop at the first t whose running-mean softmax max exceeds "
        "the threshold (1.0 = never stop early). SynOps/sample counts the work until exit.",
        "",
        markdown_table(headers, rows),
        "",
    ]


def _per_step_lines(models: Models) -> list[str]:
    t = next(iter(models.values()))["timesteps"]
    rows = [
        [k + 1] + [fmt_num(m["synops"]["per_step"][k]) for m in models.values()] for k in range(t)
    ]
    return [
        "SynOps per sample at each step (mean over samples):",
        "",
        markdown_table(["t", *models], rows),
    ]


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    lines = [
        f"Logits: {r['logits']}. Deterministic, so one run (no repeats). These are the shipped "
        "models (one seed each); the spread over seeds and the paired tests are in `STUDY.md`.",
        "",
    ]
    models = r["models"]
    if models:
        lines += _accuracy_lines(models)
        lines += _exit_lines(models, r["thresholds"])
        lines += _per_step_lines(models)
        ratio = r.get("synops_ratio")
        if ratio and ratio["ratio"] is not None:
            a, b = ratio["pair"]
            lines += [
                "",
                f"SynOps per sample, {a} / {b} (same samples, all T steps): {ratio['ratio']:.3f}.",
            ]
        if r.get("plot"):
            lines += ["", f"![accuracy vs mean steps]({(page or Page()).link(r['plot'])})"]
    return lines + skipped_lines(r.get("skipped"))
