"""Lava speed: the project's fast process models vs Lava's stock ones, and parallel runtimes.

Figures (same machine, same run; repeats interleaved so ratios are paired):

* ``small``: the shipped ``small_snn`` on ``lava_samples`` test samples, whole Lava runs with
  ``models="reference"`` and ``models="fast"`` (one runtime each), and PyTorch batch 1 on one
  thread; logits of both Lava runs are compared.
* ``vgg``: ``vgg_snn`` at 48 x 48 x 2, 101 classes (N-Caltech101's shape), random weights scaled
  so spikes reach the readout, random input with ``VGG_INPUT_RATE`` of pixels on: seconds per
  Lava step with each model set (a few steps of the stock models, more of the fast ones), and
  fast samples/s over whole T = 10 windows.
* ``jobs``: ``jobs_samples`` shipped-model samples with ``--jobs 1`` and one job per core.
The projection for the N-Caltech101 test split is derived from these figures in
:func:`benchmarks.render_lava_speed.ncaltech_hours`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.machine import usable_cores
from benchmarks.settings import RunContext, Settings
from benchmarks.shipped_models import load_test_split
from benchmarks.timing import paired_ratios, rates, summarize
from tks_lava.model.shipped import find_shipped

VGG_SHAPE = (2, 48, 48)
VGG_CLASSES = 101
VGG_INPUT_RATE = 0.1


def _vgg_net(tmp: Path) -> tuple[Path, torch.Tensor]:
    from tks_lava.model.export import export_netx
    from tks_lava.model.network import build_model, make_config

    torch.manual_seed(0)
    model = build_model(make_config("vgg_snn", VGG_SHAPE, VGG_CLASSES)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(3.0)
    frames = (torch.rand(4, *VGG_SHAPE, 10) < VGG_INPUT_RATE).float()
    return export_netx(model, tmp / "vgg.net"), frames


def step_seconds(net_path: Path, frames: torch.Tensor, models: str, steps: int) -> float:
    """Seconds per Lava step of a NetX network fed ``frames``' first sample (compile excluded)."""
    from lava.lib.dl import netx

    from tks_lava.deploy.adapters import SpikeFrameSource
    from tks_lava.deploy.process_models import run_config
    from tks_lava.deploy.session import LavaSession
    from tks_lava.deploy.window import frames_to_raster

    c, h, w = frames.shape[1:4]
    net = netx.hdf5.Network(net_config=str(net_path), input_shape=(w, h, c))
    source = SpikeFrameSource(frames_to_raster(frames[:1], max(steps, frames.shape[-1])))
    source.s_out.connect(net.inp)
    with LavaSession(net, run_config(models)) as session:
        session.run(1)  # first step: lazy set-up in the children
        t0 = time.perf_counter()
        session.run(steps - 1)
        return (time.perf_counter() - t0) / (steps - 1)


def bench_small(shipped: dict[str, Any], settings: Settings, log: Callable[[str], None]) -> dict:
    from tks_lava.deploy.window import run_lava
    from tks_lava.model.export import load_torch_model

    frames, _ = load_test_split(shipped, limit=settings.lava_samples)
    n = len(frames)
    model = load_torch_model(shipped.weights).eval()
    figures: dict[str, list[float]] = {"reference": [], "fast": [], "torch_b1": []}
    identical = True
    threads = torch.get_num_threads()
    for r in range(settings.lava_repeats):
        runs = {
            m: run_lava(shipped.net, frames, models=m, chunk=n, progress=False)
            for m in ("reference", "fast")
        }
        identical &= bool(np.array_equal(runs["reference"].logits, runs["fast"].logits))
        for m, run in runs.items():
            figures[m].append(run.samples_per_s)
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                model(frames[:1])
                t0 = time.perf_counter()
                for i in range(n):
                    model(frames[i : i + 1])
                figures["torch_b1"].append(n / (time.perf_counter() - t0))
        finally:
            torch.set_num_threads(threads)
        log(
            f"  small repeat {r + 1}: reference {figures['reference'][-1]:.2f}, fast "
            f"{figures['fast'][-1]:.2f}, PyTorch b1 (1 thread) {figures['torch_b1'][-1]:.1f} "
            "samples/s"
        )
    return {
        "samples": n,
        "samples_per_s": {k: summarize(v) for k, v in figures.items()},
        "fast_over_reference": summarize(paired_ratios(figures["fast"], figures["reference"])),
        "torch_b1_over_lava_fast": summarize(paired_ratios(figures["torch_b1"], figures["fast"])),
        "fast_equals_reference": identical,
    }


def bench_vgg(settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    from tks_lava.deploy.window import run_lava

    ref_steps, fast_steps = (3, 6) if settings.quick else (4, 25)
    with tempfile.TemporaryDirectory(prefix="bench-vgg-") as tmp:
        net, frames = _vgg_net(Path(tmp))
        ref = step_seconds(net, frames, "reference", ref_steps)
        log(f"  vgg_snn 48x48: stock models {ref:.2f} s/step ({ref_steps - 1} steps)")
        fast = step_seconds(net, frames, "fast", fast_steps)
        log(f"  vgg_snn 48x48: fast models {fast * 1e3:.1f} ms/step ({fast_steps - 1} steps)")
        n = 2 if settings.quick else 4
        run = run_lava(net, frames[:n], models="fast", chunk=n, progress=False)
        log(f"  vgg_snn 48x48, T=10: {run.samples_per_s:.3f} samples/s ({run.window} steps each)")
    return {
        "input_shape": list(VGG_SHAPE),
        "input_rate": VGG_INPUT_RATE,
        "step_s": {"reference": ref, "fast": fast},
        "steps_timed": {"reference": ref_steps - 1, "fast": fast_steps - 1},
        "fast_over_reference": ref / fast,
        "samples_per_s_fast": run.samples_per_s,
        "window": run.window,
        "samples": n,
    }


def bench_jobs(shipped: dict[str, Any], settings: Settings, log: Callable[[str], None]) -> dict:
    from tks_lava.deploy.window import run_lava

    cores = usable_cores()
    frames, _ = load_test_split(shipped, limit=settings.jobs_samples)
    walls: dict[int, float] = {}
    logits = {}
    for jobs in (1, cores):
        t0 = time.perf_counter()
        run = run_lava(shipped.net, frames, models="fast", jobs=jobs, progress=False)
        walls[jobs] = time.perf_counter() - t0
        logits[jobs] = run.logits
        log(f"  jobs {jobs}: {len(frames)} samples in {walls[jobs]:.1f} s")
    return {
        "samples": len(frames),
        "cores": cores,
        "wall_s": {str(k): v for k, v in walls.items()},
        "samples_per_s": {str(k): rates(len(frames), [v])[0] for k, v in walls.items()},
        "speedup": walls[1] / walls[cores],
        "identical": bool(np.array_equal(logits[1], logits[cores])),
    }


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Stock vs fast process models and parallel runtimes; returns the section's JSON payload."""
    log = ctx.log
    found, skipped = find_shipped(ctx.models_dir)
    out: dict[str, Any] = {"skipped": skipped}
    shipped = next(iter(found.values()), None)
    if shipped is not None:
        out["small_model"] = shipped.card_path.stem
        log(f"lava_speed: {out['small_model']}, reference vs fast, {settings.lava_samples} samples")
        out["small"] = bench_small(shipped, settings, log)
    log("lava_speed: vgg_snn at 48x48, reference vs fast")
    out["vgg"] = bench_vgg(settings, log)
    if shipped is not None:
        log(f"lava_speed: jobs, {settings.jobs_samples} samples")
        out["jobs"] = bench_jobs(shipped, settings, log)
    return out
