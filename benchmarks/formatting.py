"""Pure helpers of the section renderers: reading nested results and formatting numbers.

A section file is ``{"section", "date", "run_date", "quick", "settings", "machine",
"elapsed_s", "results"}`` as written by ``python -m benchmarks``; figures inside ``results`` are
:func:`benchmarks.timing.summarize` dicts (``median``, ``min``, ``max``, ``n``, ``values``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: one section file's contents
Section = dict[str, Any]
#: what a renderer's ``lines`` gives for a section that has no file yet
NOT_RUN = ["Not run."]


def get(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...`` or None if any level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def median(d: Any, *keys: str) -> float | None:
    """The median of the summarized figure at ``d[k1][k2]...`` (None if missing)."""
    return get(d, *keys, "median")


def fmt_num(x: float | None) -> str:
    """A number with about 3 significant digits, thousands separated: 12,345 / 123 / 1.23."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    if ax == 0:
        return "0"
    return f"{x:.3g}"


def fmt_stat(stat: dict[str, Any] | None, fmt: Callable[[float | None], str] = fmt_num) -> str:
    """``median [min, max]`` of a summarized figure; just the value if only one run."""
    if not stat or stat.get("median") is None:
        return "n/a"
    if stat.get("n", 0) <= 1 or stat["min"] == stat["max"]:
        return fmt(stat["median"])
    return f"{fmt(stat['median'])} [{fmt(stat['min'])}, {fmt(stat['max'])}]"


def fmt_pct(x: float | None) -> str:
    """A fraction in [0, 1] as a percentage with one decimal: 0.8532 -> '85.3%'."""
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def fmt_ratio(x: float | None) -> str:
    """A ratio with three decimals and an ``x``: 0.9931 -> '0.993x'."""
    return "n/a" if x is None else f"{x:.3f}x"


def fmt_yes_no(x: bool | None) -> str:
    return "n/a" if x is None else ("yes" if x else "no")


def skipped_lines(skipped: dict[str, str] | None) -> list[str]:
    """One bullet per shipped model a section skipped, with the reason (nothing if none)."""
    if not skipped:
        return []
    return ["", *[f"- **Skipped {name}**: {why}" for name, why in skipped.items()]]


def section_cores(sec: Section) -> int:
    """Usable cores of the machine a section ran on (as ``benchmarks.machine`` measured it)."""
    machine = sec.get("machine") or {}
    return int(machine.get("usable_cores") or machine.get("cores") or 1)


@dataclass(frozen=True)
class Page:
    """Where the Markdown goes (``markdown``) and where the section files and their plots are
    (``results``): what a link from the page to a result file needs."""

    markdown: Path | None = None
    results: Path | None = None

    def link(self, path: str) -> str:
        """``path`` of a file a section wrote into the results folder, relative to the page.

        Sections store the file's name (older files its absolute path; only its name counts when
        the results folder is known), so the page regenerates identically in any checkout.
        """
        target = Path(path) if self.results is None else self.results / Path(path).name
        if self.markdown is None:
            return target.name
        return Path(os.path.relpath(target.resolve(), self.markdown.resolve().parent)).as_posix()
