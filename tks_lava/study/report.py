"""``STUDY.md`` and the study's figures, written from ``study.json``.

Numbers are never restated by hand: every sentence about an effect is generated from the tests'
outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tks_lava.io import markdown_table, write_bytes_atomic


def _pct(s: dict[str, float]) -> str:
    return f"{100 * s['mean']:.1f} ± {100 * s['sd']:.1f}"


def _at(curve: dict[str, list[float]], t: int) -> dict[str, float]:
    return {"mean": curve["mean"][t - 1], "sd": curve["sd"][t - 1]}


def arms_table(study: dict[str, Any]) -> str:
    steps = study["test_steps"]
    head = (
        ["arm", "method", "selected epochs"]
        + [f"prefix t={t}" for t in steps]
        + [f"re-binned T'={t}" for t in steps]
        + ["exit @0.9: acc / steps", "AURC x1000", "CPU h / run"]
    )
    rows = []
    for name, arm in study["arms"].items():
        s = arm["summary"]
        i9 = study["arms"][name]["runs"][0]["early_exit"]["thresholds"].index(0.9)
        acc9 = {k: s["early_exit_accuracy"][k][i9] for k in ("mean", "sd")}
        steps9 = {k: s["early_exit_mean_steps"][k][i9] for k in ("mean", "sd")}
        rows.append(
            [name, arm["method"], ", ".join(str(r["selected_epoch"]) for r in arm["runs"])]
            + [_pct(_at(s["prefix_cumulative"], t)) for t in steps]
            + [_pct(s["rebinned"][str(t)]) for t in steps]
            + [
                f"{_pct(acc9)} / {steps9['mean']:.2f} ± {steps9['sd']:.2f}",
                f"{1000 * s['aurc']['mean']:.1f} ± {1000 * s['aurc']['sd']:.1f}",
                f"{s['cpu_hours_per_run']['mean']:.2f}",
            ]
        )
    return _table(head, rows)


def comparisons_table(comparisons: list[dict[str, Any]]) -> str:
    head = [
        "A vs B",
        "protocol",
        "t",
        "A - B (pp), mean ± sd",
        "95% CI (pp)",
        "per seed: b / c (p exact)",
        "CMH p",
        "Holm p",
        "claim",
    ]
    rows = []
    for c in comparisons:
        seeds = "; ".join(f"{s['b']} / {s['c']} ({s['p_mcnemar']:.2g})" for s in c["per_seed"])
        claim = {"A better": f"**{c['a']} better**", "B better": f"**{c['b']} better**"}.get(
            c["claim"], "no claim"
        )
        rows.append(
            [
                f"{c['a']} vs {c['b']}",
                c["protocol"],
                str(c["t"]),
                f"{100 * c['diff']['mean']:+.1f} ± {100 * c['diff']['sd']:.1f}",
                f"[{100 * c['boot']['lo']:+.1f}, {100 * c['boot']['hi']:+.1f}]"
                if "boot" in c
                else "",
                seeds,
                f"{c['p_cmh']:.2g}",
                f"{c['p_holm']:.2g}",
                claim,
            ]
        )
    return _table(head, rows)


def findings(comparisons: list[dict[str, Any]]) -> list[str]:
    """One generated sentence per comparison: what the numbers support, whichever way."""
    out = []
    for c in comparisons:
        where = f"{c['protocol']} t={c['t']}"
        diff = f"{100 * c['diff']['mean']:+.1f} pp (sd {100 * c['diff']['sd']:.1f})"
        if c["claim"] == "no claim":
            agree = c["seeds_agree"]
            why = "not significant" if agree else "the seeds do not all differ in one direction"
            out.append(
                f"{c['a']} vs {c['b']} at {where}: {diff}; no claim ({why}, Holm p "
                f"{c['p_holm']:.2g})."
            )
        else:
            winner = c["a"] if c["claim"] == "A better" else c["b"]
            out.append(
                f"{c['a']} vs {c['b']} at {where}: {diff}; **{winner} better** (all "
                f"seeds agree, Holm p {c['p_holm']:.2g})."
            )
    return out


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table with no column alignment (:func:`tks_lava.io.markdown_table`)."""
    return markdown_table(head, rows, "-" * len(head))


def _code_note(study: dict[str, Any]) -> str:
    changed = study.get("training_code_changed")
    if changed is None:
        return "whether the training code differs between them was not checked."
    if not changed:
        return "the training code (tks_lava/training, data, model) is the same at all of them."
    return f"the training code differs between them in {', '.join(changed)}."


def _protocol(study: dict[str, Any]) -> list[str]:
    return [
        "## Protocol",
        "",
        f"- Data: ndigits (offline emulated event digits, 34x34, T = 10), test split "
        f"{study['n_test']} samples. Seeds {', '.join(map(str, study['seeds']))} per arm; a "
        "seed sets initial weights and data order; every arm trains on the same samples.",
        f"- Selection: {study['selection']}. The test split is read once per run, by the "
        "exported model.",
        f"- Budget: {study['budget']}.",
        f"- *prefix*: {study['protocols']['prefix']}.",
        f"- *re-binned*: {study['protocols']['rebinned']}.",
        f"- Tests: per seed, exact McNemar on the same test samples; pooled over seeds, "
        f"Cochran-Mantel-Haenszel with each (seed, sample) pair a stratum; beside it a two-level "
        f"bootstrap 95% interval of A - B (test samples and seeds resampled, 2000 replicates, "
        f"seed 0), which, unlike CMH, counts the same test samples recurring in every seed; "
        f"Holm correction within each family. Rule: {study['rule']}. Pre-registered steps: "
        f"t in {{{', '.join(map(str, study['test_steps']))}}} (re-binned T' = 10 is the prefix "
        "t = 10 test: same frames, tested once).",
    ]


def markdown(study: dict[str, Any], figures: dict[str, str]) -> str:
    arms = study["arms"]
    parts = [
        "# Does TKS deliver? TKS vs baselines on ndigits",
        "",
        f"Generated by `make study` (`python -m tks_lava.study`) on {study['created']} "
        f"(commit `{study['commit']}`); numbers in `benchmarks/results/study.json`. Every run "
        f"was trained at {', '.join(f'`{c}`' for c in study.get('training_commits', []))} "
        f"(`+dirty`: the tree held uncommitted work when the run started); {_code_note(study)}",
        "",
        *_protocol(study),
        "",
        "## Accuracy (test split, mean ± sd over seeds, %)",
        "",
        arms_table(study),
        "",
        f"![per-step accuracy]({figures['per_step']})",
        "",
        f"![early exit]({figures['early_exit']})",
        "",
        "## Confirmatory comparisons (main grid, Holm over this table)",
        "",
        comparisons_table(study["confirmatory"]),
        "",
        *[f"- {s}" for s in findings(study["confirmatory"])],
        "",
    ]
    if "ablation" in study:
        from tks_lava.study import report_ablation

        parts += report_ablation.markdown(study, figures)
    if study["exploratory"]:
        parts += [
            "## Exploratory: TKS settings and training knobs vs the baseline (Holm over this "
            "table; hypotheses for a next study, not conclusions)",
            "",
            comparisons_table(study["exploratory"]),
            "",
        ]
        if "sensitivity" in figures:
            parts += [f"![sensitivity]({figures['sensitivity']})", ""]
    parts += [
        "## Cost",
        "",
        f"{study['cpu_hours_total']:.2f} CPU hours in all ({len(study['seeds'])} seeds x "
        f"{len(arms)} arms, one torch thread per run, {study['jobs']} runs at a time on "
        f"{study['machine']}); the runs' wall times add up to {study['wall_hours']:.2f} h per "
        "job slot.",
        "",
    ]
    return "\n".join(parts)


def figures(study: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the study's figures (:mod:`tks_lava.metrics.plots`) as PNG; their paths by name."""
    import matplotlib.pyplot as plt

    from tks_lava.metrics import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "per_step": plots.save(plots.study_accuracy(study), out_dir / "study_per_step.png"),
        "early_exit": plots.save(plots.study_early_exit(study), out_dir / "study_early_exit.png"),
    }
    best = study.get("ablation", {}).get("best")
    if best:
        pair = [best, study["ablation"]["goal"][best]["b"]]
        paths["best_early_exit"] = plots.save(
            plots.study_early_exit(study, pair), out_dir / "study_best_early_exit.png"
        )
    if not all(a["main"] for a in study["arms"].values()):
        paths["sensitivity"] = plots.save(
            plots.study_arms(study), out_dir / "study_sensitivity.png"
        )
    plt.close("all")
    return paths


def write_markdown(path: Path, study: dict[str, Any], figure_paths: dict[str, Path]) -> Path:
    rel = {
        k: Path(p).resolve().relative_to(path.resolve().parent).as_posix()
        for k, p in figure_paths.items()
    }
    return write_bytes_atomic(path, (markdown(study, rel) + "\n").encode())
