"""The ``data`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_stat, get, median
from tks_lava.io import markdown_table

#: the table's rows: label (``{dataset}``, ``{shape}`` filled in), results key, events/s shown
PATHS = [
    ("read AER file + bin ({dataset}, {shape})", "read_bin", True),
    ("bin only (events in memory)", "bin_only", True),
    ("frame cache: open only (scan files, check key)", "cache_open", False),
    ("frame cache: read all + float32 tensors (already open)", "cache_read", False),
    ("frame cache: open + read all + float32 tensors", "cache_bulk", False),
    ("frame cache: open + per-sample reads (lazy HDF5)", "cache_lazy", False),
]


def summary(sec: Section | None) -> dict[str, Any]:
    """samples/s of the frame cache and of binning, events/s of binning (medians)."""
    r = get(sec, "results") or {}
    return {
        "cached_frames_samples_per_s": median(r, "cache_bulk", "samples_per_s"),
        "cached_frames_lazy_samples_per_s": median(r, "cache_lazy", "samples_per_s"),
        "binning_samples_per_s": median(r, "read_bin", "samples_per_s"),
        "binning_events_per_s": median(r, "read_bin", "events_per_s"),
        "binning_only_samples_per_s": median(r, "bin_only", "samples_per_s"),
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: the cache and binning samples/s."""
    return [
        [label, fmt_num(summary.get(key)), key]
        for label, key in (
            ("frames from the cache (open + read all), samples/s", "cached_frames_samples_per_s"),
            ("read + bin events, samples/s", "binning_samples_per_s"),
        )
    ]


def _rows(r: dict[str, Any]) -> list[list[Any]]:
    shape = "x".join(str(s) for s in r["frame_shape"])
    rows = []
    for label, key, events in PATHS:
        p = r[key]
        rows.append(
            [
                label.format(dataset=r["dataset"], shape=shape),
                p["samples"],
                fmt_stat(p["samples_per_s"]),
                fmt_stat(p["events_per_s"]) if events else "",
            ]
        )
    nc = r["ncaltech_bin_only"]
    size, steps = nc["frames"]["size"], nc["frames"]["timesteps"]
    label = (
        f"bin only, synthetic N-Caltech101-shaped ({nc['events'] // nc['samples']:,} events, "
        f"240x180 -> 2x{size[0]}x{size[1]}x{steps})"
    )
    rows.append([label, nc["samples"], fmt_stat(nc["samples_per_s"]), fmt_stat(nc["events_per_s"])])
    return rows


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    lines = [
        f"Test split of `{r['dataset']}`, cache `{r['cache_file']}` ({r['cache_dtype']}, lzf). "
        "The paths run interleaved, after one untimed pass of each (warm OS file cache).",
        "",
        markdown_table(["path", "samples", "samples/s", "events/s"], _rows(r), "lrrr"),
    ]
    speedup = r.get("cache_speedup_over_read_bin")
    if speedup and speedup.get("median") is not None:
        events = r["read_bin"]["events"] // max(r["read_bin"]["samples"], 1)
        lines += [
            "",
            f"Frame cache (open + read all) over read + bin, samples/s, paired per repeat: "
            f"{fmt_stat(speedup)}x. {r['dataset']} recordings are small (~{events:,} events), "
            "so binning them is cheap; binning costs grow with the event count (last row), which "
            "is what the cache saves on real datasets.",
        ]
    return lines
