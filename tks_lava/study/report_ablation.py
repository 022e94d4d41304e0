"""STUDY.md's ablation sections (issue 23), generated from ``study.json``'s ``ablation`` part.

Every sentence about an effect is generated from the tests' outcomes, as in
:mod:`tks_lava.study.report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tks_lava.study.prereg import AHEAD_AT_1_PP, PREREGISTERED

#: The commit at which the ablation was pre-registered (STUDY.md and prereg.py, before the runs).
PREREGISTERED_AT = "8216a4c"


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def boot_cell(c: dict[str, Any]) -> str:
    """The bootstrap interval of A - B in pp."""
    b = c["boot"]
    return f"[{_pp(b['lo'])}, {_pp(b['hi'])}]"


def goal_table(ablation: dict[str, Any], family: list[dict[str, Any]]) -> list[str]:
    from tks_lava.study.report import _table

    diff = {(c["a"], c["t"]): c for c in family}
    head = ["TKS arm", "vs", "t=1: A - B (claim)", "t=3: A - B [95% CI]", "t=10: A - B [95% CI]"]
    head += ["goal"]
    rows = []
    for name, g in ablation["goal"].items():
        cells = []
        for t in (1, 3, 10):
            c = diff.get((name, t))
            if c is None:
                cells.append("not run")
            elif t == 1:
                cells.append(f"{_pp(c['diff']['mean'])} ({c['claim']})")
            else:
                cells.append(f"{_pp(c['diff']['mean'])} {boot_cell(c)}")
        label = f"{name} (exploratory)" if g.get("exploratory") else name
        rows.append([label, g["b"], *cells, "**reached**" if g["reached"] else "not reached"])
    return [_table(head, rows)]


def answer(ablation: dict[str, Any], family: list[dict[str, Any]]) -> list[str]:
    """The answer in words: which component, or the documented negative."""
    goal = ablation["goal"]
    reached = [a for a, g in goal.items() if g["reached"] and not g.get("exploratory")]
    explored = [a for a, g in goal.items() if g["reached"] and g.get("exploratory")]
    by = {(c["a"], c["t"]): c for c in family}
    names = ", ".join(f"`{a}`" for a in explored)
    if explored and reached:
        return [
            f"- **Goal reached** by {', '.join(f'`{a}`' for a in reached)} and the "
            f"exploratory {names}."
        ]
    if explored:
        rest = {a: g for a, g in goal.items() if not g.get("exploratory")}
        return [
            f"- **Goal reached only by exploratory arms** ({names}), chosen after seeing the "
            "ablation's results: a hypothesis for a pre-registered replication, not a finding.",
            *answer({"goal": rest}, family),
        ]
    if reached:
        return [
            f"- **Goal reached** by {', '.join(f'`{a}`' for a in reached)}: ahead of the "
            "baseline at t = 1 and not behind it at t = 3 and t = 10 (pre-registered rule)."
        ]
    out = [
        "- **Goal not reached** by any arm below: none is both ahead at t = 1 and not "
        "behind at t = 3 and t = 10. Per arm:"
    ]
    for a, g in goal.items():
        parts = []
        for t in (1, 3, 10):
            c = by.get((a, t))
            if c is not None:
                parts.append(f"t={t} {_pp(c['diff']['mean'])} pp {boot_cell(c)}")
        missing = [k for k in ("ahead_at_1", "not_behind_at_3", "not_behind_at_10") if not g.get(k)]
        out.append(f"  - `{a}` vs `{g['b']}`: {'; '.join(parts)}; fails {', '.join(missing)}.")
    return out


def which_component(comparisons: list[dict[str, Any]]) -> list[str]:
    """Which pre-registered arms remove the t = 3 loss (no "baseline better" claim at t = 3) and
    which keep the first-frame gain (>= the margin with a claim), each with the other number."""
    by = {(c["a"], c["t"]): c for c in comparisons if c["protocol"] == "prefix"}
    arms = list(dict.fromkeys(a for a, _ in by))

    def cell(a: str, t: int) -> str:
        c = by.get((a, t))
        return f"{_pp(c['diff']['mean'])} pp {boot_cell(c)}" if c else "not run"

    no_loss = [a for a in arms if (a, 3) in by and by[(a, 3)]["claim"] != "B better"]
    gain = [a for a in arms if (a, 1) in by and by[(a, 1)]["claim"] == "A better"]
    gain = [a for a in gain if 100 * by[(a, 1)]["diff"]["mean"] >= AHEAD_AT_1_PP]
    return [
        "- Which component: the arms without the t = 3 loss (no claim for the baseline there) are "
        + (", ".join(f"`{a}` (t=1 {cell(a, 1)})" for a in no_loss) or "none")
        + "; the arms that keep the first-frame gain are "
        + (", ".join(f"`{a}` (t=3 {cell(a, 3)})" for a in gain) or "none")
        + " (the goal also needs the interval bounds at t = 3 and t = 10: table above)."
    ]


def against_tks(ablation: dict[str, Any]) -> list[str]:
    """One line per option arm: how it changes TKS itself (the exploratory ``vs_tks`` family)."""
    word = {"A better": "better than TKS", "B better": "worse than TKS"}
    out = []
    for arm in dict.fromkeys(c["a"] for c in ablation["vs_tks"]):
        parts = [
            f"t={c['t']} {_pp(c['diff']['mean'])} pp ({word.get(c['claim'], 'no claim')})"
            for c in ablation["vs_tks"]
            if c["a"] == arm
        ]
        out.append(f"- `{arm}` against `tks`: {'; '.join(parts)}.")
    return out


def early_exit_lines(ablation: dict[str, Any]) -> list[str]:
    from tks_lava.study.report import _table

    best, test = ablation["best"], ablation["best_vs_baseline"]
    if best is None or test is None:
        return ["No TKS arm finished; no early-exit test."]
    ref = ablation["goal"][best]["b"]
    head = ["threshold", "accuracy A - B (pp) [95% CI]", "mean steps A - B [95% CI]"]
    rows = [
        [
            f"{r['threshold']:g}",
            f"{_pp(r['accuracy']['diff'])} {boot_cell({'boot': r['accuracy']})}",
            f"{r['mean_steps']['diff']:+.2f} [{r['mean_steps']['lo']:+.2f}, "
            f"{r['mean_steps']['hi']:+.2f}]",
        ]
        for r in test["exit"]
    ]
    a = test["aurc"]
    return [
        f"Best TKS setting by the goal's criteria (chosen on these test results, so exploratory): "
        f"`{best}`, against `{ref}` (same neuron and augmentation).",
        "",
        _table(head, rows),
        "",
        f"AURC x1000, A - B: {1000 * a['diff']:+.1f} [{1000 * a['lo']:+.1f}, "
        f"{1000 * a['hi']:+.1f}] (lower is better; two-level bootstrap, {a['resamples']} "
        "replicates).",
    ]


def load_previous(results_dir: Path) -> dict[str, Any] | None:
    """The previous study's headline (``study_v1.json``: commit, date, tks vs baseline)."""
    path = Path(results_dir) / "study_v1.json"
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    rows = [
        {"t": c["t"], "diff": c["diff"]["mean"], "claim": c["claim"]}
        for c in old["confirmatory"]
        if (c["a"], c["b"], c["protocol"]) == ("tks", "baseline", "prefix")
    ]
    return {"commit": old["commit"], "created": old["created"], "tks_vs_baseline": rows}


def previous_study(old: dict[str, Any] | None) -> list[str]:
    """One paragraph on the previous study, if there was one."""
    if not old:
        return []
    parts = [f"t={c['t']} {_pp(c['diff'])} pp ({c['claim']})" for c in old["tks_vs_baseline"]]
    return [
        "## Previous study",
        "",
        f"The first study (commit `{old['commit']}`, {old['created']}, numbers kept in "
        f"`benchmarks/results/study_v1.json`) trained the main grid at an older commit: tks vs "
        f"baseline, prefix: {'; '.join(parts)}. The tables above re-train it on one commit.",
        "",
    ]


def markdown(study: dict[str, Any], figures: dict[str, str]) -> list[str]:
    """The ablation sections of STUDY.md."""
    from tks_lava.study.report import comparisons_table, findings

    ab = study["ablation"]
    fam = ab["family"]
    parts = [
        "## Pre-registered: ablation (issue 23)",
        "",
        f"Pre-registered at commit `{PREREGISTERED_AT}` (before the runs started).",
        "",
        PREREGISTERED,
    ]
    if ab["not_run"]:
        parts += [f"**Not run in this session's budget:** {', '.join(ab['not_run'])}.", ""]
    parts += [
        "## Ablation results (pre-registered family, Holm over this table)",
        "",
        f"Bootstrap: {ab['bootstrap']}.",
        "",
        comparisons_table(fam) if fam else "No pre-registered pair has finished.",
        "",
        *[f"- {s}" for s in findings(fam)],
        "",
        f"### The goal ({ab['goal_rule']})",
        "",
        *goal_table(ab, fam + _main_tks(study) + _prefix(study["exploratory"])),
        "",
        *answer(ab, fam + _main_tks(study) + _prefix(study["exploratory"])),
        *which_component(fam + _main_tks(study)),
        "",
    ]
    if ab["vs_tks"]:
        parts += [
            "### Each option against TKS itself (exploratory, Holm over this table)",
            "",
            comparisons_table(ab["vs_tks"]),
            "",
            *against_tks(ab),
            "",
        ]
    parts += ["### Early exit and AURC of the best TKS setting", "", *early_exit_lines(ab), ""]
    if "best_early_exit" in figures:
        parts += [f"![best vs baseline]({figures['best_early_exit']})", ""]
    return parts + previous_study(study.get("previous"))


def _main_tks(study: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for c in study["confirmatory"]
        if (c["a"], c["b"], c["protocol"]) == ("tks", "baseline", "prefix")
    ]


def _prefix(comparisons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in comparisons if c["protocol"] == "prefix"]
