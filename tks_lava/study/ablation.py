"""The ablation's numbers (issue 23): the pre-registered family, the goal, the best setting.

Every comparison of :func:`~tks_lava.study.analysis.compare` gets a two-level bootstrap
interval (:func:`~tks_lava.metrics.stats.two_level_bootstrap`) beside its CMH p. The goal
(:mod:`tks_lava.study.prereg`) is judged per TKS arm against its own baseline, and the best
TKS setting's early-exit curve and AURC are tested against that baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tks_lava import metrics
from tks_lava.metrics.stats import two_level_bootstrap, two_level_bootstrap_stat
from tks_lava.study.prereg import (
    ABLATION_PAIRS,
    ABLATION_STEPS,
    AHEAD_AT_1_PP,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    NOT_BEHIND_PP,
)

#: Early-exit thresholds whose accuracy and mean steps are tested for the best setting.
EXIT_THRESHOLDS = (0.7, 0.9, 0.99)


def bootstrap(outcomes_a: list[np.ndarray], outcomes_b: list[np.ndarray]) -> dict[str, float]:
    """The two-level bootstrap interval of accuracy A - B from per-seed (N,) correctness."""
    return two_level_bootstrap(
        np.stack(outcomes_a), np.stack(outcomes_b), BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
    )


def ablation_pairs(available: set[str]) -> list[tuple[str, str]]:
    """The pre-registered pairs whose two arms have all their seeds (the rest: not run)."""
    return [(a, b) for a, b in ABLATION_PAIRS if a in available and b in available]


def judge_goal(comparisons: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per A arm: ahead at t = 1 (a claim and >= the margin), not behind at t = 3 and 10
    (bootstrap lower bound above the margin), and whether the goal is reached."""
    out: dict[str, dict[str, Any]] = {}
    for c in comparisons:
        if c["protocol"] != "prefix":
            continue
        g = out.setdefault(c["a"], {"b": c["b"]})
        if c["t"] == 1:
            g["ahead_at_1"] = c["claim"] == "A better" and 100 * c["diff"]["mean"] >= AHEAD_AT_1_PP
        elif c["t"] in (3, 10):
            g[f"not_behind_at_{c['t']}"] = 100 * c["boot"]["lo"] > NOT_BEHIND_PP
    for g in out.values():
        keys = ("ahead_at_1", "not_behind_at_3", "not_behind_at_10")
        g["reached"] = all(g.get(k, False) for k in keys)
    return out


def best_tks(goal: dict[str, dict[str, Any]], comparisons: list[dict[str, Any]]) -> str | None:
    """The TKS arm closest to the goal: most criteria met, then the highest bootstrap lower
    bound at t = 3. Chosen on test results, so what follows from it is exploratory."""
    lo3 = {c["a"]: c["boot"]["lo"] for c in comparisons if (c["t"], c["protocol"]) == (3, "prefix")}

    def score(name: str) -> tuple[int, float]:
        keys = ("ahead_at_1", "not_behind_at_3", "not_behind_at_10")
        met = sum(bool(goal[name].get(k)) for k in keys)
        return met, lo3.get(name, -1.0)

    return max(goal, key=score) if goal else None


def _exit_per_sample(logits: np.ndarray, labels: np.ndarray, threshold: float):
    """Per sample: correct at its exit, and the step it exits at (running-mean confidence
    >= threshold, else the last step)."""
    cum = np.cumsum(logits, axis=-1) / np.arange(1, logits.shape[-1] + 1)
    e = np.exp(cum - cum.max(axis=1, keepdims=True))
    conf = (e / e.sum(axis=1, keepdims=True)).max(axis=1)  # (N, T)
    hit = conf >= threshold
    step = np.where(hit.any(axis=1), hit.argmax(axis=1), logits.shape[-1] - 1)
    pred = cum[np.arange(len(labels)), :, step].argmax(axis=1)
    return pred == labels, step + 1.0


def early_exit_test(runs_a: list[dict[str, Any]], runs_b: list[dict[str, Any]]) -> dict[str, Any]:
    """Early-exit accuracy and mean steps at :data:`EXIT_THRESHOLDS`, and AURC, of A vs B, each
    with its two-level bootstrap interval of A - B."""
    rows = []
    for th in EXIT_THRESHOLDS:
        ea = [_exit_per_sample(r["prefix"], r["labels"], th) for r in runs_a]
        eb = [_exit_per_sample(r["prefix"], r["labels"], th) for r in runs_b]
        acc = two_level_bootstrap(
            np.stack([c for c, _ in ea]), np.stack([c for c, _ in eb]), BOOTSTRAP_RESAMPLES
        )
        steps = two_level_bootstrap(
            np.stack([s for _, s in ea]), np.stack([s for _, s in eb]), BOOTSTRAP_RESAMPLES
        )
        rows.append({"threshold": th, "accuracy": acc, "mean_steps": steps})

    def rows_of(runs: list[dict[str, Any]]) -> list[np.ndarray]:
        return [np.column_stack([r["prefix"].mean(axis=-1), r["labels"]]) for r in runs]

    def aurc(x: np.ndarray) -> float:
        return metrics.aurc(x[:, :-1], x[:, -1].astype(int))

    aurc_boot = two_level_bootstrap_stat(
        aurc, rows_of(runs_a), rows_of(runs_b), BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
    )
    return {"exit": rows, "aurc": aurc_boot}


#: The arms that each change one TKS loss option (compared with TKS itself as well).
LOSS_ARMS = ("tks-detach", "tks-teacher-mean", "tks-noteacher-skip", "tks-notau2")


def analyse_ablation(
    runs: dict[str, list[dict[str, Any]]],
    confirmatory: list[dict[str, Any]],
    compare: Callable[..., dict[str, Any]],
    family: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    exploratory: list[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The ablation part of ``study.json`` from the loaded runs of every finished arm
    (``compare``, ``family``: :mod:`tks_lava.study.analysis`'s, passed in to avoid a cycle).
    The goal is judged for the exploratory family's TKS arms too, marked exploratory."""
    pairs = ablation_pairs(set(runs))
    fam = family(
        [
            {"a": a, "b": b, **compare(runs[a], runs[b], "prefix", t)}
            for a, b in pairs
            for t in ABLATION_STEPS
        ]
    )
    main_tks = [
        c for c in confirmatory if (c["a"], c["b"], c["protocol"]) == ("tks", "baseline", "prefix")
    ]
    explored = [c for c in exploratory if runs[c["a"]][0]["card"].method == "tks"]
    goal = judge_goal(fam + main_tks + explored)
    for c in explored:
        goal[c["a"]]["exploratory"] = True
    vs_tks = family(
        [
            {"a": a, "b": "tks", **compare(runs[a], runs["tks"], "prefix", t)}
            for a in LOSS_ARMS
            if a in runs and "tks" in runs
            for t in ABLATION_STEPS
        ]
    )
    best = best_tks(goal, fam + main_tks + explored)
    return {
        "pairs": [list(p) for p in ABLATION_PAIRS],
        "not_run": [f"{a} vs {b}" for a, b in ABLATION_PAIRS if (a, b) not in pairs],
        "steps": list(ABLATION_STEPS),
        "family": fam,
        "goal": goal,
        "goal_rule": f"ahead at t=1 (a claim and >= +{AHEAD_AT_1_PP:g} pp) and the bootstrap "
        f"lower bound of A - B above {NOT_BEHIND_PP:g} pp at t = 3 and t = 10",
        "vs_tks": vs_tks,
        "best": best,
        "best_vs_baseline": early_exit_test(runs[best], runs[goal[best]["b"]]) if best else None,
        "bootstrap": f"two-level (test samples and seeds, each with replacement), "
        f"{BOOTSTRAP_RESAMPLES} replicates, seed {BOOTSTRAP_SEED}, 95% percentile interval",
    }
