"""Data: event-to-frame binning throughput vs. loading frames from the HDF5 frame cache.

Measured on the test split of the offline default dataset (ndigits, 34x34, T=10). The paths
run interleaved, each repeat all of them in turn, after one untimed pass of each (so the OS file
cache is warm for every path alike):

* ``read_bin``: read each AER file and bin it (``spec.read_events`` + ``events_to_frames``):
  what every epoch would cost without the cache (and what building the cache costs).
* ``bin_only``: ``events_to_frames`` on events already in memory.
* ``cache_open``: ``FrameDataset(...)`` when the cache exists (find the files, check the cache
  key, read labels) without reading frames.
* ``cache_read``: ``as_tensors()`` of an opened dataset: read + decompress every frame and
  convert to float32.
* ``cache_bulk``: ``FrameDataset(..., in_memory=True).as_tensors()``: open + read every frame
  + convert to float32 tensors, what training and evaluation do for datasets <= 1 GiB.
* ``cache_lazy``: open with ``in_memory=False`` and read ``ds[i]`` one by one (the per-item
  HDF5 path a DataLoader takes for datasets > 1 GiB).

Plus ``ncaltech_bin_only``: binning synthetic events shaped like N-Caltech101 recordings
(240x180 sensor, ~100k events, 300 ms) into the reference 2x48x48x10 frames (bin + bilinear
resize), to show how binning cost scales with event count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.settings import RunContext, Settings
from benchmarks.timing import interleaved_timings, paired_ratios, rates, summarize

DATASET = "ndigits"
SPLIT = "test"


def synthetic_events(n_events: int, sensor_size: tuple[int, int, int], seed: int) -> np.ndarray:
    """Uniform random events over the sensor and 300 ms, time-sorted, in tks_lava's dtype."""
    from tks_lava.data import EVENT_DTYPE

    rng = np.random.default_rng(seed)
    ev = np.zeros(n_events, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, sensor_size[0], n_events)
    ev["y"] = rng.integers(0, sensor_size[1], n_events)
    ev["p"] = rng.integers(0, sensor_size[2], n_events)
    ev["t"] = np.sort(rng.integers(0, 300_000, n_events))
    return ev


def _cache_dtype(path: Any) -> str:
    import h5py

    with h5py.File(path, "r") as h5:
        return str(h5["frames"].dtype)


def _figure(seconds: list[float], samples: int, events: int | None = None) -> dict[str, Any]:
    fig = {
        "samples": samples,
        "seconds": summarize(seconds),
        "samples_per_s": summarize(rates(samples, seconds)),
    }
    if events is not None:
        fig["events"] = events
        fig["events_per_s"] = summarize(rates(events, seconds))
    return fig


def timed_paths(settings: Settings) -> tuple[Any, dict[str, Callable[[], Any]], dict[str, tuple]]:
    """The opened test split, every path as a call and its (samples, events) per call."""
    from tks_lava.data import FrameDataset, events_to_frames, get_spec

    spec, nc = get_spec(DATASET), get_spec("ncaltech101")
    frames_cfg, nc_cfg = spec.default_frames(), nc.default_frames()

    def open_lazy() -> Any:
        return FrameDataset(DATASET, SPLIT, frames=frames_cfg, progress=False, in_memory=False)

    ds = open_lazy()
    n = len(ds) if settings.data_samples is None else min(settings.data_samples, len(ds))
    files = ds.files[:n]
    loaded = [spec.read_events(f)[0] for f in files]
    k, n_ev = settings.ncaltech_samples, settings.ncaltech_events
    synth = [synthetic_events(n_ev, nc.sensor_size, seed) for seed in range(k)]

    def read_bin() -> None:
        for f in files:
            events, _ = spec.read_events(f)
            events_to_frames(events, spec.sensor_size, frames_cfg)

    def cache_bulk() -> None:
        FrameDataset(DATASET, SPLIT, frames=frames_cfg, progress=False, in_memory=True).as_tensors()

    def cache_lazy() -> None:
        lazy = open_lazy()
        for i in range(n):
            lazy[i]

    def bin_all(events: list[np.ndarray], sensor: Any, cfg: Any) -> Callable[[], None]:
        def bin_each() -> None:
            for e in events:
                events_to_frames(e, sensor, cfg)

        return bin_each

    n_events = int(sum(e.size for e in loaded))
    paths = {  # name: (call, samples, events) per call
        "read_bin": (read_bin, n, n_events),
        "bin_only": (bin_all(loaded, spec.sensor_size, frames_cfg), n, n_events),
        "cache_open": (open_lazy, len(ds), None),
        "cache_read": (ds.as_tensors, len(ds), None),
        "cache_bulk": (cache_bulk, len(ds), None),
        "cache_lazy": (cache_lazy, n, None),
        "ncaltech_bin_only": (bin_all(synth, nc.sensor_size, nc_cfg), k, k * n_ev),
    }
    return ds, {k: v[0] for k, v in paths.items()}, {k: v[1:] for k, v in paths.items()}


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Every data path of the test split, interleaved; returns the section's JSON payload."""
    from tks_lava.data import get_spec

    ds, fns, counts = timed_paths(settings)
    n, k = counts["read_bin"][0], counts["ncaltech_bin_only"][0]
    reps = settings.repeats
    ctx.log(
        f"data: {n} of {len(ds)} {DATASET} {SPLIT} recordings, {k} synthetic N-Caltech101-shaped "
        f"({settings.ncaltech_events:,} events); {len(fns)} paths interleaved x {reps}"
    )
    seconds = interleaved_timings(fns, reps)
    out: dict[str, Any] = {
        "dataset": DATASET,
        "split": SPLIT,
        "frames": get_spec(DATASET).default_frames().to_dict(),
        "frame_shape": [*ds.input_shape, ds.timesteps],
        "cache_file": ds.cache_path.name,
        "cache_dtype": _cache_dtype(ds.cache_path),
        "repeats": reps,
    }
    for name, (samples, events) in counts.items():
        out[name] = _figure(seconds[name], samples, events)
    nc = get_spec("ncaltech101")
    out["ncaltech_bin_only"]["frames"] = nc.default_frames().to_dict()
    out["ncaltech_bin_only"]["sensor_size"] = list(nc.sensor_size)
    # per-sample speed of the cache over reading + binning, paired within each repeat
    out["cache_speedup_over_read_bin"] = summarize(
        paired_ratios(rates(len(ds), seconds["cache_bulk"]), rates(n, seconds["read_bin"]))
    )
    return out
