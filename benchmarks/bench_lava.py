"""Deployment: Lava CPU simulation (``Loihi2SimCfg``, fixed point) vs. SLAYER's PyTorch forward.

For every shipped model, on the same first ``lava_samples`` test samples, each repeat runs in
turn (interleaved, so ratios are paired within a repeat):

* Lava: :func:`tks_lava.deploy.window.run_lava` builds, compiles and runs the network once over all
  samples back to back (``window = T + latency + 2`` steps each). ``compile_s`` (build +
  compile + start of the child processes) is reported apart from the run; steps/s and
  samples/s are over the run only.
* PyTorch on the CPU (``torch.no_grad``, eval mode): batch 1 (one sample per forward) and
  batch 32 (the same samples in batches of 32), after one warm-up forward each.

The first Lava run's logits are compared with PyTorch's on the same samples (they should be
bit-identical; the test suite checks it on a small network).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks.settings import RunContext, Settings
from benchmarks.shipped_models import find_or_log, load_test_split
from benchmarks.timing import paired_ratios, rates, summarize

TORCH_BATCH = 32
#: attributes of :class:`tks_lava.deploy.window.LavaRun` recorded per repeat
LAVA_FIGURES = ("compile_s", "run_s", "steps_per_s", "samples_per_s")


def _torch_seconds(model: torch.nn.Module, frames: torch.Tensor, batch: int) -> float:
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            model(frames[i : i + batch])
    return time.perf_counter() - t0


def _parity(lava: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """How far Lava's per-step logits are from PyTorch's on the same samples."""
    return {
        "max_abs_logit_diff": float(np.abs(lava - ref).max()),
        "bit_identical": bool(np.array_equal(lava, ref)),
        "argmax_agreement": float((lava.argmax(1) == ref.argmax(1)).mean()),
    }


def bench_model(
    name: str, shipped: dict[str, Any], settings: Settings, log: Callable[[str], None] = print
) -> dict[str, Any]:
    from tks_lava.deploy.window import run_lava, torch_logits
    from tks_lava.model.export import load_torch_model

    frames, labels = load_test_split(shipped, limit=settings.lava_samples)
    n = len(frames)
    model = load_torch_model(shipped.weights).eval()
    with torch.no_grad():  # warm-up
        model(frames[:1])
        model(frames[:TORCH_BATCH])
    lava: dict[str, list[float]] = {k: [] for k in LAVA_FIGURES}
    torch_s: dict[int, list[float]] = {1: [], TORCH_BATCH: []}
    parity: dict[str, Any] = {}
    steps = window = None
    for r in range(settings.lava_repeats):
        run = run_lava(shipped.net, frames, chunk=n, progress=False)
        steps, window = run.steps, run.window
        for key in lava:
            lava[key].append(float(getattr(run, key)))
        if r == 0:
            parity = _parity(run.logits, torch_logits(model, frames))
        for b in torch_s:
            torch_s[b].append(_torch_seconds(model, frames, b))
        log(
            f"  {name} repeat {r + 1}/{settings.lava_repeats}: Lava compile "
            f"{run.compile_s:.1f} s, {run.steps_per_s:.1f} steps/s, {run.samples_per_s:.2f} "
            f"samples/s; PyTorch batch 1 {n / torch_s[1][-1]:.1f} samples/s, batch "
            f"{min(TORCH_BATCH, n)} {n / torch_s[TORCH_BATCH][-1]:.1f} samples/s"
        )
    torch_rates = {b: rates(n, s) for b, s in torch_s.items()}
    return {
        "card": str(shipped.card_path.name),
        "method": shipped.card.method,
        "model": shipped.card.model_config.name,
        "samples": n,
        "timesteps": int(frames.shape[-1]),
        "window": window,
        "steps_per_run": steps,
        "repeats": settings.lava_repeats,
        "lava": {k: summarize(v) for k, v in lava.items()},
        "torch_cpu": {
            f"batch{b}": {
                "batch": min(b, n),
                "seconds": summarize(torch_s[b]),
                "samples_per_s": summarize(torch_rates[b]),
            }
            for b in torch_s
        },
        "torch_over_lava_speed": {
            f"batch{b}": summarize(paired_ratios(torch_rates[b], lava["samples_per_s"]))
            for b in torch_s
        },
        "parity_with_torch": parity,
        "labels_seen": int(len(set(np.asarray(labels).tolist()))),
    }


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Every shipped model in Lava and PyTorch; returns the section's JSON payload."""
    found, skipped = find_or_log(ctx, "lava")
    out: dict[str, Any] = {
        "backend": "Loihi2SimCfg(select_tag='fixed_pt') (Lava CPU simulation, fast models)",
        "torch_threads": torch.get_num_threads(),
        "models": {},
        "skipped": skipped,
    }
    for name, shipped in found.items():
        ctx.log(f"lava: {name}, {settings.lava_samples} samples x {settings.lava_repeats} repeats")
        out["models"][name] = bench_model(name, shipped, settings, ctx.log)
    return out
