"""The study's numbers (the content of ``study.json``): accuracies, spreads, paired tests.

Per-run accuracies under both protocols, their spread over seeds, and paired tests between
methods at the pre-registered steps.

Protocols (labelled everywhere): ``prefix`` = accuracy of the running mean of the first t of
the T = 10 trained frames (online early exit, what Lava runs); ``rebinned`` = the whole
recording framed into T' frames, accuracy of the mean over all T' (the paper's protocol).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tks_lava import metrics
from tks_lava.metrics.stats import cmh_test, discordant, holm, mcnemar_exact, paired_strata
from tks_lava.model.card import ModelCard
from tks_lava.study.ablation import analyse_ablation, bootstrap
from tks_lava.study.grid import REBIN_STEPS, TEST_STEPS, Arm
from tks_lava.study.jobs import COST_FILE, REBIN_FILE, run_dir
from tks_lava.study.prereg import ABLATION_PAIRS

#: Confidence thresholds of the early-exit curve.
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
#: Pre-registered comparisons of the main grid: (method A, method B).
MAIN_COMPARISONS = (("tks", "baseline"), ("tks", "tet"))
ALPHA = 0.05


def load_run(path: Path) -> dict[str, Any]:
    """One finished run: card, prefix logits, re-binned logits, cost."""
    card = ModelCard.load(path / "model_card.json")
    prefix = np.load(path / "test_logits.npz")
    rebinned = np.load(path / REBIN_FILE)
    cost = json.loads((path / COST_FILE).read_text()) if (path / COST_FILE).is_file() else {}
    labels = prefix["labels"]
    if not np.array_equal(rebinned["labels"], labels):
        raise ValueError(f"{path}: re-binned and prefix test labels differ")
    return {
        "card": card,
        "labels": labels,
        "prefix": prefix["logits"],
        "rebinned": {int(k[1:]): rebinned[k] for k in rebinned.files if k.startswith("T")},
        "cost": cost,
    }


def correct(run: dict[str, Any], protocol: str, t: int) -> np.ndarray:
    """Per-sample correctness (N,) at step t: prefix running mean of t frames, or the mean
    over all of T' = t re-binned frames."""
    if protocol == "prefix":
        logits = run["prefix"][..., :t]
    elif protocol == "rebinned":
        logits = run["rebinned"][t]
    else:
        raise ValueError(f"protocol must be 'prefix' or 'rebinned', got {protocol!r}")
    return logits.mean(axis=-1).argmax(axis=1) == run["labels"]


def run_metrics(run: dict[str, Any]) -> dict[str, Any]:
    """Accuracies, early-exit curve, AURC, selection and cost of one run (JSON-ready)."""
    logits, labels, card = run["prefix"], run["labels"], run["card"]
    curve = metrics.early_exit_curve(logits, labels, THRESHOLDS)
    return {
        "seed": card.hyperparameters["seed"],
        "selected_epoch": card.epoch,
        "val_acc_selected": card.history[card.epoch - 1].get("val_acc") if card.history else None,
        "prefix_per_step": metrics.per_step_accuracy(logits, labels).tolist(),
        "prefix_cumulative": metrics.cumulative_accuracy(logits, labels).tolist(),
        "rebinned": {
            str(k): float(correct(run, "rebinned", k).mean()) for k in sorted(run["rebinned"])
        },
        "early_exit": {
            "thresholds": list(THRESHOLDS),
            "accuracy": curve.accuracy.tolist(),
            "mean_steps": curve.mean_steps.tolist(),
        },
        "aurc": metrics.aurc(logits, labels),
        "cpu_s": run["cost"].get("cpu_s"),
        "wall_s": run["cost"].get("wall_s"),
    }


def _spread(values: Any) -> dict[str, Any]:
    """Mean and sample sd over seeds (axis 0): floats for a list of numbers, lists for a list
    of curves; sd 0 with one seed."""
    v = np.asarray(values, dtype=float)
    sd = v.std(axis=0, ddof=1) if len(v) > 1 else np.zeros_like(v[0])
    return {"mean": v.mean(axis=0).tolist(), "sd": sd.tolist()}


def arm_summary(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sd over seeds of every per-run curve and number."""

    def curve(key: str, sub: str | None = None) -> dict[str, Any]:
        return _spread([r[key] if sub is None else r[key][sub] for r in per_seed])

    rebin_keys = list(per_seed[0]["rebinned"])
    return {
        "seeds": [r["seed"] for r in per_seed],
        "prefix_per_step": curve("prefix_per_step"),
        "prefix_cumulative": curve("prefix_cumulative"),
        "rebinned": {k: _spread([r["rebinned"][k] for r in per_seed]) for k in rebin_keys},
        "early_exit_accuracy": curve("early_exit", "accuracy"),
        "early_exit_mean_steps": curve("early_exit", "mean_steps"),
        "aurc": _spread([r["aurc"] for r in per_seed]),
        "cpu_hours_per_run": _spread([(r["cpu_s"] or 0) / 3600 for r in per_seed]),
    }


def compare(
    runs_a: list[dict[str, Any]], runs_b: list[dict[str, Any]], protocol: str, t: int
) -> dict[str, Any]:
    """Paired comparison of two arms over the same seeds at step ``t`` under ``protocol``:
    per-seed accuracy difference and exact McNemar, and the pooled CMH test."""
    if len(runs_a) != len(runs_b):
        raise ValueError("compare needs the same seeds for both arms")
    per_seed, outcomes_a, outcomes_b = [], [], []
    for ra, rb in zip(runs_a, runs_b, strict=True):
        if not np.array_equal(ra["labels"], rb["labels"]):
            raise ValueError("paired runs must be evaluated on the same test samples")
        ca, cb = correct(ra, protocol, t), correct(rb, protocol, t)
        outcomes_a.append(ca)
        outcomes_b.append(cb)
        b, c = discordant(ca, cb)
        seed = ra["card"].hyperparameters["seed"]
        diff, p_exact = float(ca.mean() - cb.mean()), mcnemar_exact(b, c)
        per_seed.append({"seed": seed, "diff": diff, "b": b, "c": c, "p_mcnemar": p_exact})
    stat, p = cmh_test(paired_strata([(s["b"], s["c"]) for s in per_seed]))
    diffs = [s["diff"] for s in per_seed]
    signs = {int(np.sign(d)) for d in diffs}
    return {
        "protocol": protocol,
        "t": t,
        "diff": _spread(diffs),
        "boot": bootstrap(outcomes_a, outcomes_b),
        "per_seed": per_seed,
        "cmh_chi2": stat,
        "p_cmh": p,
        "seeds_agree": len(signs) == 1 and 0 not in signs,
    }


def family(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm-correct a family of comparisons and state the claim each supports."""
    adjusted = holm([c["p_cmh"] for c in comparisons])
    for c, p in zip(comparisons, adjusted, strict=True):
        c["p_holm"] = p
        if c["seeds_agree"] and p < ALPHA:
            c["claim"] = "A better" if c["diff"]["mean"] > 0 else "B better"
        else:
            c["claim"] = "no claim"
    return comparisons


def tests_at(trained_t: int) -> list[tuple[str, int]]:
    """(protocol, t) pairs tested: every pre-registered t under both protocols, except the
    re-binned T' = T, whose frames are the prefix protocol's at t = T (the same test twice)."""
    return [
        (p, t)
        for p in ("prefix", "rebinned")
        for t in TEST_STEPS
        if not (p == "rebinned" and t == trained_t)
    ]


def analyse(
    root: Path, main: list[Arm], extra: list[Arm], seeds: tuple[int, ...]
) -> dict[str, Any]:
    """Everything ``study.json`` holds, from the run folders under ``root``."""
    runs = {a.name: [load_run(run_dir(root, a, s)) for s in seeds] for a in [*main, *extra]}
    per_run = {name: [run_metrics(r) for r in rs] for name, rs in runs.items()}
    by_method = {a.method: a.name for a in main}
    pairs = [
        (by_method[a], by_method[b])
        for a, b in MAIN_COMPARISONS
        if a in by_method and b in by_method
    ]
    trained_t = runs[main[0].name][0]["prefix"].shape[-1]
    tests = tests_at(trained_t)
    confirmatory = family(
        [{"a": a, "b": b, **compare(runs[a], runs[b], p, t)} for a, b in pairs for p, t in tests]
    )
    paired = {name for pair in ABLATION_PAIRS for name in pair}
    exploratory = family(
        [
            {"a": arm.name, "b": ref, **compare(runs[arm.name], runs[ref], p, t)}
            for arm in extra
            if arm.name not in paired and (ref := arm.reference or "baseline") in runs
            for p, t in tests
        ]
    )
    return {
        "dataset": "ndigits",
        "seeds": list(seeds),
        "protocols": {
            "prefix": "running mean of the first t of the T=10 trained frames (online early exit)",
            "rebinned": "whole recording framed into T' frames, mean over all T' (the paper's)",
        },
        "test_steps": list(TEST_STEPS),
        "rebin_steps": list(REBIN_STEPS),
        "arms": {
            a.name: {
                "method": a.method,
                "settings": a.settings,
                "note": a.note,
                "main": a in main,
                "summary": arm_summary(per_run[a.name]),
                "runs": per_run[a.name],
            }
            for a in [*main, *extra]
        },
        "confirmatory": confirmatory,
        "ablation": analyse_ablation(runs, confirmatory, compare, family, exploratory),
        "exploratory": exploratory,
        "training_commits": sorted(
            {_training_commit(r["card"]) for rs in runs.values() for r in rs}
        ),
        "rule": f"claim where every seed agrees in sign and the Holm-corrected CMH p < {ALPHA}",
        "cpu_hours_total": sum((r["cpu_s"] or 0) for rs in per_run.values() for r in rs) / 3600,
    }


def _training_commit(card: ModelCard) -> str:
    """The commit a run was trained at (``+dirty``: with uncommitted changes in the tree)."""
    env = card.environment or {}
    commit = env.get("git_commit") or "unknown"
    return f"{commit[:12]}{'+dirty' if env.get('git_dirty') else ''}"
