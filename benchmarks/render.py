"""``summary.json`` and ``BENCHMARKS.md`` from the section files (pure functions of dicts).

The document is the same for every section: a header saying what produced it and on which
machine (from what :mod:`benchmarks.machine` measured, stored in the files), the machine table,
the Summary table (every section's ``figures``) and one heading per section of
:data:`benchmarks.sections.SECTIONS` with its ``lines`` ("Not run." without a file). So the text
regenerates identically from the same inputs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.formatting import NOT_RUN, Page, Section, get
from benchmarks.sections import SECTIONS
from tks_lava.io import markdown_table


def build_summary(sections: dict[str, Section], machine: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (medians) of every section, the machine and the date."""
    summary: dict[str, Any] = {
        "date": machine.get("date"),
        "machine": machine,
        "quick": any(s.get("quick") for s in sections.values()),
    }
    for name, spec in SECTIONS.items():
        summary.update(spec.render.summary(sections.get(name)))
    summary["skipped"] = {
        sec: get(s, "results", "skipped")
        for sec, s in sections.items()
        if get(s, "results", "skipped")
    }
    summary["sections"] = {
        sec: {"date": s.get("date"), "quick": s.get("quick"), "elapsed_s": s.get("elapsed_s")}
        for sec, s in sections.items()
    }
    return summary


def machine_table(machine: dict[str, Any]) -> str:
    v = machine.get("versions", {})
    threads = f"{machine.get('torch_threads')} ({machine.get('torch_threads_choice')})"
    rows = [
        ["date", machine.get("date")],
        ["platform", machine.get("platform")],
        ["CPU", machine.get("cpu")],
        ["cores (usable)", f"{machine.get('cores')} ({machine.get('usable_cores')})"],
        ["RAM", f"{machine.get('ram_gib')} GiB"],
        ["torch threads", threads],
        ["load average at start (1, 5, 15 min)", machine.get("load_average_at_start")],
        ["python", v.get("python")],
        ["torch / numpy", f"{v.get('torch')} / {v.get('numpy')}"],
        ["lava-nc / lava-dl", f"{v.get('lava-nc')} / {v.get('lava-dl')}"],
        ["tks_lava", v.get("tks_lava")],
    ]
    return markdown_table(["", ""], rows)


def summary_table(summary: dict[str, Any]) -> str:
    """Every section's headline figures, in the sections' ``summary_rank`` order."""
    specs = sorted(SECTIONS.values(), key=lambda s: s.summary_rank)
    rows = [
        [label, value, f"`{key}`"]
        for spec in specs
        for label, value, key in spec.render.figures(summary)
    ]
    return markdown_table(["figure (median)", "value", "summary.json key"], rows, "lrl")


def _cores(machine: dict[str, Any]) -> int:
    return int(machine.get("usable_cores") or machine.get("cores") or 1)


def busy_machine_lines(machine: dict[str, Any]) -> list[str]:
    """A warning when other jobs ran as the benchmarks started (1-min load > half the cores)."""
    cores = _cores(machine)
    load = (machine.get("load_average_at_start") or [0.0])[0]
    if load <= 0.5 * cores:
        return []
    return [
        f"**Warning: the machine was busy** (1-min load average {load:.1f} on {cores} cores "
        "when the run started). Timings are pessimistic and noisy; PyTorch's threads suffer "
        "most from sharing cores. Rerun `make bench` on an idle machine.",
        "",
    ]


def full_run_note(sections: dict[str, Section], summary: dict[str, Any]) -> str:
    """How long ``make bench`` takes and on how many cores, from the section run times when every
    section has a full (not quick) run; nothing otherwise."""
    complete = set(sections) == set(SECTIONS) and all(
        not s.get("quick") and s.get("elapsed_s") is not None for s in sections.values()
    )
    if not complete:
        return ""
    minutes = sum(s["elapsed_s"] for s in sections.values()) / 60
    return f" (about {minutes:.0f} minutes on {_cores(summary['machine'])} cores)"


def header_lines(sections: dict[str, Section], summary: dict[str, Any], command: str) -> list[str]:
    machine = summary["machine"]
    quick = " in QUICK mode (tiny sizes: the numbers are not representative)"
    out = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {machine.get('date')}{quick if summary['quick'] else ''}. "
        "Every timing is the median [min, max] over repeated runs on this machine; ratios are "
        "computed pair by pair inside the same repeat. Regenerate with `make bench`"
        f"{full_run_note(sections, summary)}; see `benchmarks/README.md`. Raw numbers: "
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
    return out + busy_machine_lines(machine)


def render_markdown(
    sections: dict[str, Section],
    summary: dict[str, Any],
    command: str,
    markdown_path: Path | None = None,
    results_dir: Path | None = None,
) -> str:
    """The whole BENCHMARKS.md; links to files in ``results_dir`` (the plots) are made relative
    to ``markdown_path``."""
    page = Page(markdown_path, results_dir)
    out = header_lines(sections, summary, command)
    out += ["## Machine", "", machine_table(summary["machine"]), ""]
    out += ["## Summary", "", summary_table(summary)]
    for name, spec in SECTIONS.items():
        sec = sections.get(name)
        lines = spec.render.lines(sec, page) if sec else NOT_RUN
        out += ["", f"## {spec.title}", "", *lines]
    times = [
        f"{k} {v['elapsed_s']:.0f} s" for k, v in sections.items() if v.get("elapsed_s") is not None
    ]
    if times:
        out += ["", f"Section run times: {', '.join(times)}."]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip("\n") + "\n"
