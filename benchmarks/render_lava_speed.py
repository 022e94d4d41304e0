"""The ``lava_speed`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts).

The N-Caltech101 projection is derived here from the measured one-job ``vgg_snn`` rate.
"""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import (
    Page,
    Section,
    fmt_num,
    fmt_ratio,
    fmt_stat,
    get,
    median,
    section_cores,
    skipped_lines,
)
from tks_lava.io import markdown_table

#: N-Caltech101 test split: per class the last 10% of the 8,709 recordings
NCALTECH_TEST = 870
#: cores one Lava runtime keeps busy (its processes and the Python driver)
CORES_PER_RUNTIME = 1.5
SMALL_HEADERS = [
    "shipped model",
    "samples x repeats",
    "stock samples/s",
    "fast samples/s",
    "fast / stock",
    "PyTorch b1, 1 thread",
    "PyTorch / Lava fast",
    "fast == stock",
]


def ncaltech_hours(r: dict[str, Any]) -> float | None:
    """Hours for the N-Caltech101 test split in Lava at the measured one-job vgg_snn rate.

    No parallel speed-up is assumed: one runtime keeps ~1.5 cores busy, so a 16-core machine
    runs several side by side and can only be faster than this (not measured here).
    """
    rate = get(r, "vgg", "samples_per_s_fast")
    return None if not rate else NCALTECH_TEST / rate / 3600


def summary(sec: Section | None) -> dict[str, Any]:
    """Fast over stock process models, Lava against PyTorch, parallel runtimes, projection."""
    r = get(sec, "results") or {}
    return {
        "lava_fast_over_reference_vgg": get(r, "vgg", "fast_over_reference"),
        "lava_vgg_step_s_reference": get(r, "vgg", "step_s", "reference"),
        "lava_vgg_step_s_fast": get(r, "vgg", "step_s", "fast"),
        "lava_vgg_samples_per_s": get(r, "vgg", "samples_per_s_fast"),
        "lava_fast_over_reference_small": median(r, "small", "fast_over_reference"),
        "lava_over_torch_b1_small": median(r, "small", "torch_b1_over_lava_fast"),
        "lava_jobs_speedup": get(r, "jobs", "speedup"),
        "lava_ncaltech101_test_hours_one_job": ncaltech_hours(r),
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: the process-model and parallel speed-ups."""
    model = summary.get("lava_model") or "no shipped model"
    rows = [
        (
            "Lava vgg_snn 48x48 step, stock / fast models (goal >= 50x)",
            "lava_fast_over_reference_vgg",
            fmt_ratio,
        ),
        (
            f"Lava samples/s, fast / stock models ({model}; goal >= 3x)",
            "lava_fast_over_reference_small",
            fmt_ratio,
        ),
        (
            "PyTorch b1 (1 thread) / Lava fast samples/s (stretch goal <= 2x)",
            "lava_over_torch_b1_small",
            fmt_ratio,
        ),
        ("Lava vgg_snn 48x48 samples/s (fast, one job, T=10)", "lava_vgg_samples_per_s", fmt_num),
        ("Lava speed-up, one job per core / one job", "lava_jobs_speedup", fmt_ratio),
        (
            "projected hours, N-Caltech101 test split in Lava, one job (vgg_snn 48x48)",
            "lava_ncaltech101_test_hours_one_job",
            fmt_num,
        ),
    ]
    return [[label, fmt(summary.get(key)), key] for label, key, fmt in rows]


def _small_lines(r: dict[str, Any]) -> list[str]:
    sm = r["small"]
    sp = sm["samples_per_s"]
    row = [
        r["small_model"],
        f"{sm['samples']} x {sp['fast']['n']}",
        fmt_stat(sp["reference"]),
        fmt_stat(sp["fast"]),
        fmt_stat(sm["fast_over_reference"]),
        fmt_stat(sp["torch_b1"]),
        fmt_stat(sm["torch_b1_over_lava_fast"]),
        "yes" if sm["fast_equals_reference"] else "**no**",
    ]
    return [markdown_table(SMALL_HEADERS, [row]), ""]


def _vgg_line(v: dict[str, Any]) -> str:
    return (
        f"vgg_snn at {'x'.join(map(str, v['input_shape'][1:]))}, {v['input_rate']:.0%} of input "
        f"pixels on: stock models {v['step_s']['reference']:.2f} s per Lava step "
        f"({v['steps_timed']['reference']} steps timed), fast models "
        f"{1e3 * v['step_s']['fast']:.1f} ms per step ({v['steps_timed']['fast']} steps): "
        f"**{v['fast_over_reference']:.0f}x**. Whole samples (T = 10, window {v['window']} "
        f"steps), fast, one job: {v['samples_per_s_fast']:.3f} samples/s."
    )


def _jobs_line(j: dict[str, Any]) -> str:
    return (
        f"Parallel runtimes: {j['samples']} samples, `--jobs 1` {j['wall_s']['1']:.1f} s, "
        f"`--jobs {j['cores']}` {j['wall_s'][str(j['cores'])]:.1f} s (wall, worker start-up "
        f"included): {j['speedup']:.2f}x; logits identical: "
        f"{'yes' if j['identical'] else '**no**'}."
    )


def _projection_line(hours: float, cores: int) -> str:
    """The projection sentence; why no parallel speed-up is assumed depends on the cores of the
    machine the section ran on."""
    if cores < 2 * CORES_PER_RUNTIME:
        why = f"on this {cores}-core machine a second job only competes with the first"
    else:
        why = f"this {cores}-core machine can run several side by side, which is not counted"
    return (
        f"Projection: the N-Caltech101 test split ({NCALTECH_TEST} samples, vgg_snn 48x48, "
        f"T = 10) at the one-job rate above takes **{hours:.2f} h**; no parallel speed-up is "
        f"assumed (one runtime keeps about {CORES_PER_RUNTIME} cores busy, so {why})."
    )


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    lines = [
        "Lava's stock process models (`--lava-models reference`) against the project's "
        "bit-exact fast ones (`fast`, the default); see `benchmarks/bench_lava_speed.py`.",
        "",
    ]
    if "small" in r:
        lines += _small_lines(r)
    lines.append(_vgg_line(r["vgg"]))
    if "jobs" in r:
        lines += ["", _jobs_line(r["jobs"])]
    hours = ncaltech_hours(r)
    if hours is not None:
        lines += ["", _projection_line(hours, section_cores(sec))]
    return lines + skipped_lines(r.get("skipped"))
