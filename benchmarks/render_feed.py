"""The ``feed`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts).

How fast the training DataLoader serves cached frames (RAM or lazy HDF5, 0 or 2 workers), and
how that compares with how fast training consumes them: on this CPU the ``kernels`` section's
vgg_snn rate (the Summary table divides the two), on a GPU ``make gpu-check``'s.
"""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_ratio, fmt_stat, get, median
from tks_lava.io import markdown_table

#: summary key of the CPU training rate the feed is compared with (``kernels`` section)
TRAIN_KEY = "train_vgg_samples_per_s_cpu"
MODE_NAMES = {"memory": "RAM (cache <= 1 GiB)", "lazy": "HDF5, lazy (cache > 1 GiB)"}


def summary(sec: Section | None) -> dict[str, Any]:
    """Samples/s of every loader, the 2-worker speed-ups, and the fastest loader's samples/s."""
    r = get(sec, "results") or {}
    loaders = r.get("loaders") or {}
    rates = {k: median(v, "samples_per_s") for k, v in loaders.items()}
    measured = [v for v in rates.values() if v is not None]
    return {
        "feed_samples_per_s": rates or None,
        "feed_samples_per_s_best": max(measured) if measured else None,
        "feed_workers_speedup": {
            k: get(v, "median") for k, v in (r.get("workers_speedup") or {}).items()
        }
        or None,
    }


def feed_over_training(summary: dict[str, Any]) -> float | None:
    """The fastest loader's samples/s over the CPU vgg_snn training samples/s (None if either
    section is missing)."""
    feed, train = summary.get("feed_samples_per_s_best"), summary.get(TRAIN_KEY)
    return None if not feed or not train else feed / train


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table row ``[label, value, key]``: the fastest feed and its ratio to training."""
    best = summary.get("feed_samples_per_s_best")
    ratio = feed_over_training(summary)
    value = fmt_num(best)
    if ratio is not None:
        value += f" ({fmt_num(ratio)}x the vgg_snn CPU training rate)"
    return [
        [
            "training DataLoader, cached ndigits frames, samples/s (fastest of RAM/HDF5 x 0/2 "
            "workers)",
            value,
            "feed_samples_per_s_best",
        ]
    ]


def _row(name: str, lo: dict[str, Any]) -> list[str]:
    return [
        MODE_NAMES.get(lo["mode"], lo["mode"]),
        lo["workers"],
        lo["samples"],
        f"{lo['first_epoch_s']:.2f}",
        fmt_stat(lo["seconds"], lambda x: f"{x:.3f}"),
        fmt_stat(lo["samples_per_s"]),
    ]


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    c, h, w, t = r["frame_shape"]
    heads = ["frames", "workers", "samples", "first epoch s", "epoch s", "samples/s"]
    rows = [_row(k, lo) for k, lo in r["loaders"].items()]
    speedups = ", ".join(
        f"{MODE_NAMES.get(k, k)} {fmt_stat(v, fmt_ratio)}" for k, v in r["workers_speedup"].items()
    )
    best = summary(sec)["feed_samples_per_s_best"]
    return [
        f"The training loader (`tks_lava.training.data.make_loader`: persistent workers, "
        f"prefetch, pinned memory {'on' if r['pin_memory'] else 'off (no CUDA here)'}) over the "
        f"cached {r['dataset']} {r['split']} frames ({c}x{h}x{w}, T = {t}), batch "
        f"{r['batch_size']}, every batch read and summed; {r['repeats']} timed epochs per loader, "
        "interleaved, after an untimed first epoch (worker start-up).",
        "",
        markdown_table(heads, rows),
        "",
        f"2 workers over the main process alone (paired per repeat): {speedups}. On a 2-core "
        "machine the workers compete with the main process for the cores; on a GPU machine the "
        "main process waits on CUDA and the workers keep the next batches ready.",
        "",
        f"Against training: the fastest loader serves {fmt_num(best)} samples/s; training "
        f"consumes `{TRAIN_KEY}` on this CPU (vgg_snn, the `kernels` section; the Summary table "
        "gives feed / training) and, on a GPU, `gpu_vgg_samples_per_s`, which `make gpu-check` "
        "records in `benchmarks/results/gpu.json` (not measured by this run). The frames here "
        "are ndigits' 34x34; N-Caltech101's 48x48 frames hold twice the bytes per sample.",
    ]
