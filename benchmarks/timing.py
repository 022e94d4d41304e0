"""Pure helpers for repeated measurements: summaries, paired ratios, interleaved timing.

Every benchmark figure is a list of repeated measurements summarised as
``{"median", "min", "max", "n", "values"}`` (:func:`summarize`). Ratios between two methods are
taken pair by pair, inside the same repeat (:func:`paired_ratios`), and then summarised, so that
slow drift of the machine (other jobs, thermal state) cancels out instead of biasing the ratio.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

Stat = dict[str, Any]


def summarize(values: Sequence[float]) -> Stat:
    """Median, min and max of repeated measurements (NaNs dropped); ``n`` counts the rest.

    An empty (or all-NaN) input gives ``None`` for median/min/max, so a skipped figure is
    visible as such in JSON instead of as a fake number.
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "median": float(statistics.median(vals)),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "values": vals,
    }


def paired_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """``numerator[i] / denominator[i]`` for every repeat ``i`` (same length required)."""
    if len(numerator) != len(denominator):
        raise ValueError(
            f"paired ratios need as many numerators as denominators, got {len(numerator)} "
            f"and {len(denominator)}"
        )
    pairs = zip(numerator, denominator, strict=True)
    return [float(a) / float(b) if b else float("nan") for a, b in pairs]


def rates(count: float, seconds: Sequence[float]) -> list[float]:
    """Throughputs ``count / s`` for each timing ``s`` (e.g. samples per second per repeat)."""
    return [float(count) / s if s > 0 else float("nan") for s in seconds]


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of one call of ``fn`` (``time.perf_counter``) and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved_timings(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: bool = True
) -> dict[str, list[float]]:
    """Seconds of each function per repeat, running them in turn (a, b, c, a, b, c, ...) so
    that drift of the machine affects all alike; one untimed call of each first if ``warmup``."""
    if warmup:
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            out[name].append(time_call(fn)[0])
    return out
