"""Run a NetX HDF5 network in Lava over many samples and read out per-step logits.

Timing conventions (measured, and checked by the tests against SLAYER):

* Lava's step s (1-based) plays input column s - 1; every delay-shifted layer adds one step and
  the readout voltage recorded at step s equals SLAYER's raw output at s - 2. With the model's
  ``latency`` (number of delay-shifted blocks), the logit of input-aligned step t of a sample
  whose window starts at column ``n * window`` is at recorded column
  ``n * window + t + latency + 1``.
* Samples are played back to back in windows of ``window = T + latency + 2`` columns: T input
  frames, then silence long enough for the last spikes to leave the pipeline. The network resets
  every neuron at the first step of each window (``reset_interval=window, reset_offset=1``;
  the default offset 0 resets one step late and lets the previous sample leak in), so every
  sample sees a fresh network, exactly as in a separate run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import tks_lava  # noqa: F401  (Lava Python 3.11 fix)
from tks_lava.deploy.session import LavaSession
from tks_lava.model.network import encode_spikes

BACKENDS = ("sim", "loihi2")


@dataclass
class LavaRun:
    """Per-step logits from Lava plus what it cost."""

    logits: np.ndarray  # (N, classes, T) float, input-aligned
    backend: str
    window: int
    steps: int
    compile_s: float
    run_s: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.run_s if self.run_s > 0 else float("nan")

    @property
    def samples_per_s(self) -> float:
        return len(self.logits) / self.run_s if self.run_s > 0 else float("nan")

    @classmethod
    def concat(cls, runs: list[LavaRun], run_s: float) -> LavaRun:
        """Runs over consecutive blocks of samples as one run (``run_s``: the wall time)."""
        return cls(
            logits=np.concatenate([r.logits for r in runs]),
            backend=runs[0].backend,
            window=runs[0].window,
            steps=sum(r.steps for r in runs),
            compile_s=sum(r.compile_s for r in runs),
            run_s=run_s,
        )


def sample_window(timesteps: int, latency: int) -> int:
    """Lava steps given to one sample: its T frames, then the pipeline flush."""
    return timesteps + latency + 2


def lava_layout(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """SLAYER frames (N, C, H, W, T) -> binary spikes in Lava's layout (N, X=W, Y=H, C, T), int8."""
    x = torch.as_tensor(frames)
    if x.dim() != 5:
        raise ValueError(f"frames must be (N, C, H, W, T), got shape {tuple(x.shape)}")
    return encode_spikes(x).to(torch.int8).numpy().transpose(0, 3, 2, 1, 4)


def frames_to_raster(frames: torch.Tensor | np.ndarray, window: int) -> np.ndarray:
    """SLAYER frames (N, C, H, W, T) -> Lava spike raster (X=W, Y=H, C, N * window), int8.

    Sample n occupies columns ``[n * window, n * window + T)``; the rest of its window is zero.
    """
    spikes = lava_layout(frames)
    n, w, h, c, t = spikes.shape
    if t > window:
        raise ValueError(f"window {window} is shorter than the {t} frames of a sample")
    raster = np.zeros((w, h, c, n * window), dtype=np.int8)
    for i in range(n):
        raster[..., i * window : i * window + t] = spikes[i]
    return raster


def logit_columns(n_samples: int, timesteps: int, latency: int, window: int) -> np.ndarray:
    """Recorded columns (0-based steps) holding input-aligned step t of sample n: (N, T)."""
    return np.arange(n_samples)[:, None] * window + np.arange(timesteps)[None, :] + latency + 1


def gather_logits(
    recorded: np.ndarray, n_samples: int, timesteps: int, latency: int, window: int
) -> np.ndarray:
    """Recorded readout voltages (classes, steps) -> input-aligned logits (N, classes, T)."""
    from tks_lava.deploy.adapters.cpu import VOLTAGE_SCALE

    cols = logit_columns(n_samples, timesteps, latency, window)
    if cols.max() >= recorded.shape[-1]:
        raise ValueError(
            f"recorded {recorded.shape[-1]} steps, need {cols.max() + 1} for "
            f"{n_samples} samples of window {window}"
        )
    return (recorded[:, cols].transpose(1, 0, 2) / VOLTAGE_SCALE).astype(np.float64)


#: NetX layer types that become a synapse + neuron block (one step of delay each)
NEURON_LAYERS = ("conv", "dense", "dense_rec")


def netx_latency(net_path: str | Path) -> int:
    """Pipeline latency of a NetX file, read from the file (no network is built): its neuron
    layers (``input`` ones with a neuron included; ``flatten`` has none) except the readout."""
    import h5py

    with h5py.File(net_path, "r") as h:
        layers = h["layer"]
        count = 0
        for i in range(len(layers)):
            group = layers[str(i)]
            kind = np.asarray(group["type"]).ravel()[0]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            count += kind in NEURON_LAYERS or (kind == "input" and "neuron" in group)
    return count - 1


def check_run_args(frames: torch.Tensor | np.ndarray, backend: str, jobs: int) -> torch.Tensor:
    """The checks every Lava run makes (backend known and, for Loihi 2, present; a non-empty
    (N, C, H, W, T) batch; jobs >= 1); the frames as a tensor."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "loihi2":
        from tks_lava.deploy import loihi2

        loihi2.require()
    x = torch.as_tensor(frames)
    if x.dim() != 5 or len(x) == 0:
        raise ValueError(f"frames must be a non-empty (N, C, H, W, T) batch, got {tuple(x.shape)}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    return x


def build_network(
    net_path: str | Path, frame_shape: tuple[int, ...], latency: int, **netx_kw: Any
) -> Any:
    """The NetX network of ``net_path`` for (C, H, W) frames, checked against the file's
    ``latency`` (:func:`netx_latency`): if NetX and the file disagree the logits cannot be
    aligned."""
    from lava.lib.dl import netx

    c, h, w = frame_shape
    net = netx.hdf5.Network(net_config=str(net_path), input_shape=(w, h, c), **netx_kw)
    if len(net.layers) - 1 != latency:  # the file's layer types and NetX disagree: do not guess
        raise ValueError(
            f"{net_path}: NetX built {len(net.layers)} layers, the file lists {latency + 1} "
            "neuron layers; cannot align the logits"
        )
    return net


def run_lava(
    net_path: str | Path,
    frames: torch.Tensor | np.ndarray,
    *,
    backend: str = "sim",
    models: str = "fast",
    jobs: int = 1,
    chunk: int = 50,
    progress: bool = True,
) -> LavaRun:
    """Run the NetX network on every sample of ``frames`` (N, C, H, W, T) in one Lava run.

    Returns input-aligned per-step logits (N, classes, T). ``models``: the simulator's process
    models, ``fast`` (the project's, bit-exact) or ``reference`` (Lava's stock ones), see
    :func:`~.process_models.run_config`. ``jobs`` > 1 splits the samples over that many
    independent Lava runtimes (:func:`run_lava_parallel`); the logits are identical. ``chunk``
    samples are run per ``run()`` call only to drive the progress bar; the network is compiled
    once per runtime.
    """
    x = check_run_args(frames, backend, jobs)
    if jobs > 1 and len(x) > 1:  # each worker runs its block in one go (chunk: all of it)
        options = dict(backend=backend, models=models, chunk=len(x))
        return run_lava_parallel(net_path, x, jobs=jobs, progress=progress, **options)
    n, t = len(x), x.shape[-1]
    latency = netx_latency(net_path)
    window = sample_window(t, latency)
    net = build_network(
        net_path, tuple(x.shape[1:4]), latency, reset_interval=window, reset_offset=1
    )
    readout, run_cfg = window_io(net, x, latency, window, backend, models)
    with LavaSession(net, run_cfg) as session:
        t1 = time.perf_counter()
        with tqdm(total=n, desc=f"Lava {backend}", unit="sample", disable=not progress) as bar:
            for k in chunk_sizes(n, chunk):
                session.run(k * window)
                bar.update(k)
        run_s = time.perf_counter() - t1
        recorded = np.asarray(readout.data.get())
    return LavaRun(
        logits=gather_logits(recorded, n, t, latency, window),
        backend=backend,
        window=window,
        steps=n * window,
        compile_s=session.compile_s,
        run_s=run_s,
    )


def chunk_sizes(n: int, chunk: int) -> list[int]:
    """Samples per ``run()`` call: ``chunk`` at a time, the rest last (they sum to ``n``)."""
    return [min(chunk, n - done) for done in range(0, n, chunk)]


def window_io(
    net: Any, x: torch.Tensor, latency: int, window: int, backend: str, models: str
) -> tuple[Any, Any]:
    """(readout, run config) of the fixed-window run of ``x`` (N, C, H, W, T): the raster
    played into ``net``'s input and the readout voltage recorded on the steps holding a logit,
    by the project's CPU adapters or, on Loihi 2, by :func:`tks_lava.deploy.loihi2.build_io`."""
    n, t = len(x), x.shape[-1]
    raster, steps = frames_to_raster(x, window), n * window
    if backend == "loihi2":
        from tks_lava.deploy import loihi2

        source, readout, run_cfg = loihi2.build_io(net, raster, steps)
    else:
        from tks_lava.deploy.adapters import LogitReadout, SpikeFrameSource
        from tks_lava.deploy.process_models import run_config

        source = SpikeFrameSource(raster)
        record = np.zeros(steps, bool)
        record[logit_columns(n, t, latency, window).ravel()] = True
        readout = LogitReadout(net.out_layer.neuron.v, steps, record)
        run_cfg = run_config(models)
    source.s_out.connect(net.inp)
    return readout, run_cfg


#: fewest samples worth a worker of their own (a worker spends seconds importing torch and Lava)
MIN_SAMPLES_PER_JOB = 64


#: usable cores one Lava runtime keeps busy (measured: ~150% CPU for the shipped model on an
#: idle 2-core machine, where a second runtime made the run slower, not faster)
CORES_PER_JOB = 2


def default_jobs(n_samples: int) -> int:
    """Lava runtimes to run side by side: one per :data:`CORES_PER_JOB` usable cores, and
    none for fewer than :data:`MIN_SAMPLES_PER_JOB` samples."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(cores // CORES_PER_JOB, n_samples // MIN_SAMPLES_PER_JOB))


def _job(runner: Callable[..., Any], net_path: str, frames: np.ndarray, kw: dict) -> Any:
    """One worker's share: ``runner(net_path, frames, **kw)`` in a Lava runtime of its own, one
    BLAS/torch thread (the worker is spawned: it inherits no threads; Lava forks from it)."""
    from tks_lava.deploy.process_models.threads import spawned_worker_setup

    spawned_worker_setup()
    return runner(net_path, frames, progress=False, **kw)


def run_lava_parallel(
    net_path: str | Path,
    frames: torch.Tensor,
    *,
    jobs: int,
    runner: Callable[..., Any] | None = None,
    progress: bool = True,
    **kw: Any,
) -> Any:
    """``runner`` (default :func:`run_lava`) with the samples split over ``jobs`` worker
    processes, merged in order by the result type's ``concat``; ``kw`` go to ``runner`` (a
    module-level function: the workers are spawned and receive it by name).

    Each task is a contiguous block of samples run in a fresh Lava runtime inside a spawned
    worker (Lava forks its own children there). Every sample starts on a fresh network in
    either runner, so the results equal a single run's. On any error, Ctrl-C or SIGTERM every
    worker is stopped (:func:`tks_lava.stopping.worker_pool`) and its Lava session stops its
    children on the way out. Called from a script without ``if __name__ == "__main__":`` it
    raises :class:`~tks_lava.stopping.MainGuardError`, which says what to add.
    """
    from concurrent.futures import as_completed

    from tks_lava.stopping import worker_pool

    runner = runner or run_lava
    x = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    n = len(x)
    jobs = min(jobs, n)
    # a few tasks per worker, so the progress bar moves and uneven runtimes even out
    bounds = np.linspace(0, n, min(n, 4 * jobs) + 1).astype(int)
    blocks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    results: dict[int, Any] = {}
    t0 = time.perf_counter()
    desc = f"Lava {kw.get('backend', 'sim')} x{jobs}"
    with worker_pool(jobs, f"a Lava run with jobs={jobs}") as pool:
        futures = {
            pool.submit(_job, runner, str(net_path), x[a:b], kw): i
            for i, (a, b) in enumerate(blocks)
        }
        with tqdm(total=n, desc=desc, unit="sample", disable=not progress) as bar:
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                bar.update(blocks[i][1] - blocks[i][0])
    runs = [results[i] for i in range(len(blocks))]
    return type(runs[0]).concat(runs, run_s=time.perf_counter() - t0)


@torch.no_grad()
def torch_logits(model: torch.nn.Module, frames: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """The PyTorch (SLAYER) model's input-aligned per-step logits (N, classes, T), float64."""
    from tks_lava.model.evaluation import forward_logits

    labels = torch.zeros(len(frames), dtype=torch.long)
    return forward_logits(model, (frames, labels), batch_size)[0].double().numpy()
