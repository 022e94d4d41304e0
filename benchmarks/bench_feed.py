"""Feed: samples/s of the training DataLoader over the cached ndigits frames, 0 vs 2 workers.

The loader is the one training uses (``tks_lava.training.data.make_loader`` over an
``EpochBatches`` of the split: persistent workers, ``PREFETCH_BATCHES`` batches read ahead by
each worker, pinned memory when CUDA is there). It is measured on the test split of the offline
default dataset (ndigits, 34x34, T=10), in two storage modes:

* ``memory``: frames held in RAM (what a frame cache <= 1 GiB gives): a batch is an index into
  an array plus the float32 conversion;
* ``lazy``: frames read from the HDF5 cache item by item (what a cache > 1 GiB gives): each
  worker opens the file itself, on first use.

Every loader serves one untimed epoch first (worker start-up, reported as ``first_epoch_s``),
then the timed epochs run interleaved, one per loader per repeat. A timed epoch walks every
batch and touches each tensor (its sum), as a training step would read it. On 2 cores the
workers compete with the main process, so they may not pay off here; on a GPU machine the main
process spends its time in CUDA calls and the workers keep the next batches ready.
"""

from __future__ import annotations

from typing import Any

from benchmarks.settings import RunContext, Settings
from benchmarks.timing import interleaved_timings, paired_ratios, rates, summarize, time_call

DATASET = "ndigits"
SPLIT = "test"
BATCH = 64  # ndigits' training batch (tks_lava.training.defaults)
WORKERS = (0, 2)
MODES = ("memory", "lazy")


def _loaders(settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The split's frame dataset and one training loader per (storage mode, workers)."""
    import numpy as np
    import torch
    from torch.utils.data import Subset

    from tks_lava.data import FrameDataset, get_spec
    from tks_lava.training.data import EpochBatches, make_loader

    frames = get_spec(DATASET).default_frames()
    loaders: dict[str, Any] = {}
    ds = None
    for mode in MODES:
        ds = FrameDataset(
            DATASET, SPLIT, frames=frames, progress=False, in_memory=(mode == "memory")
        )
        n = len(ds) if settings.data_samples is None else min(settings.data_samples, len(ds))
        part = ds if n == len(ds) else Subset(ds, list(range(n)))
        labels = np.asarray(ds.labels[:n])
        for workers in WORKERS:
            batches = EpochBatches(labels, BATCH, seed=0, balanced=False)
            loaders[f"{mode}_w{workers}"] = make_loader(
                part, batches, workers, pin=torch.cuda.is_available()
            )
    return ds, loaders


def _epoch(loader: Any) -> int:
    """One pass over ``loader``, reading every batch; the number of samples."""
    n = 0
    for x, y in loader:
        x.sum()
        n += len(y)
    return n


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Samples/s of each loader per repeat (interleaved); returns the section's JSON payload."""
    import torch

    ds, loaders = _loaders(settings)
    first = {name: time_call(lambda lo=lo: _epoch(lo)) for name, lo in loaders.items()}
    samples = {name: n for name, (_, n) in first.items()}
    reps = settings.repeats
    ctx.log(
        f"feed: {next(iter(samples.values()))} {DATASET} {SPLIT} samples, batch {BATCH}, "
        f"{len(loaders)} loaders ({', '.join(loaders)}) interleaved x {reps}"
    )
    fns = {name: (lambda lo=lo: _epoch(lo)) for name, lo in loaders.items()}
    seconds = interleaved_timings(fns, reps, warmup=False)
    out: dict[str, Any] = {
        "dataset": DATASET,
        "split": SPLIT,
        "batch_size": BATCH,
        "frame_shape": [*ds.input_shape, ds.timesteps],
        "pin_memory": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
        "repeats": reps,
        "loaders": {},
    }
    for name, secs in seconds.items():
        mode, workers = name.rsplit("_w", 1)
        out["loaders"][name] = {
            "mode": mode,
            "workers": int(workers),
            "samples": samples[name],
            "first_epoch_s": first[name][0],
            "seconds": summarize(secs),
            "samples_per_s": summarize(rates(samples[name], secs)),
        }
    # speed of 2 workers over the main process alone, paired within each repeat
    out["workers_speedup"] = {
        mode: summarize(
            paired_ratios(
                rates(samples[f"{mode}_w2"], seconds[f"{mode}_w2"]),
                rates(samples[f"{mode}_w0"], seconds[f"{mode}_w0"]),
            )
        )
        for mode in MODES
    }
    fns.clear()
    loaders.clear()  # the last references: their persistent workers stop here, not at exit
    return out
