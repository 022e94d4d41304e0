"""Training throughput: baseline vs TKS vs TET loss, same model, same inputs, interleaved.

One timed unit is ``steps`` optimizer steps (forward + loss + backward + AdamW step) on a fixed
batch. Each method trains its own copy of the same initial model with its own AdamW. After one
untimed warm-up step per method, the methods are timed in turn, one round per repeat (baseline,
tks, tet, then tks, tet, baseline, ...: the order rotates so no method is always first), so
drift of the machine affects all of them alike, and the TKS/baseline time ratio is taken per
repeat (same round) before the median.

Configurations: the offline default (ndigits frames, ``small_snn``, 2x34x34, T=10) and
N-Caltech101-shaped random spikes (2x48x48, T=10, 101 classes, 10 % of pixels spiking) with the
small default model and the reference ``vgg_snn``. ``vgg_snn`` takes seconds per step on a CPU,
so it gets a small batch and few steps (see :class:`benchmarks.settings.Settings`). The TKS
hyper-parameters are the training defaults (:data:`tks_lava.training.config.COMMON_DEFAULTS`:
the paper's event-data values, lam at its maximum).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.settings import METHODS, RunContext, Settings
from benchmarks.timing import paired_ratios, rates, summarize
from tks_lava.training.config import COMMON_DEFAULTS

NCALTECH_SHAPE = (2, 48, 48)
NCALTECH_CLASSES = 101
TIMESTEPS = 10
SPIKE_DENSITY = 0.1
#: hyper-parameters of the timed losses and the TKS weight lam (the training defaults)
LOSS_HPARAMS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "tks": {"temperature": COMMON_DEFAULTS["temperature"]},
    "tet": {},
}
TKS_LAM = COMMON_DEFAULTS["lam_max"]


def ndigits_batch(batch: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The first ``batch`` training samples of the offline default dataset (lazy cache reads)."""
    from tks_lava.data import FrameDataset

    ds = FrameDataset("ndigits", "train", progress=False, in_memory=False)
    # spread over classes (the split is sorted by class)
    idx = torch.linspace(0, len(ds) - 1, batch).long().tolist()
    x = torch.stack([ds[i][0] for i in idx])
    y = torch.tensor([ds[i][1] for i in idx])
    return x, y, ds.num_classes


def random_batch(
    batch: int, shape: tuple[int, int, int] = NCALTECH_SHAPE, classes: int = NCALTECH_CLASSES
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Random binary spikes (N, C, H, W, T) and labels, seeded."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, *shape, TIMESTEPS, generator=g) < SPIKE_DENSITY).float()
    y = torch.randint(0, classes, (batch,), generator=g)
    return x, y, classes


def rotated(items: tuple[str, ...], r: int) -> tuple[str, ...]:
    """``items`` rotated left by ``r``: repeat r starts with a different method each time."""
    k = r % len(items)
    return items[k:] + items[:k]


def make_step(model: torch.nn.Module, method: str) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One optimizer step with ``method``'s loss: forward, loss, backward, AdamW step."""
    from tks_lava.training.losses import make_loss

    loss_fn = make_loss(method, **LOSS_HPARAMS[method])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y, lam=TKS_LAM)
        loss.backward()
        opt.step()

    return step


def time_methods(
    arch: str,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    steps: int,
    repeats: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Interleaved timing of every method on ``arch``; samples/s and paired time ratios."""
    from tks_lava.model.kernels import set_neuron_kernels
    from tks_lava.model.network import build_model, make_config

    config = make_config(arch, tuple(x.shape[1:4]), num_classes)
    steppers = {}
    for m in METHODS:  # the same initial weights for every method (deepcopy fails on SLAYER)
        torch.manual_seed(0)
        net = build_model(config)
        set_neuron_kernels(net, "exact")  # what the trainer runs (training.steps.make_model)
        steppers[m] = make_step(net, m)
    for m in METHODS:  # warm-up: allocations, lazy shapes, AdamW state
        steppers[m](x, y)
    seconds: dict[str, list[float]] = {m: [] for m in METHODS}
    for r in range(repeats):
        for m in rotated(METHODS, r):
            t0 = time.perf_counter()
            for _ in range(steps):
                steppers[m](x, y)
            seconds[m].append(time.perf_counter() - t0)
        log(
            f"  {arch} {tuple(x.shape)} repeat {r + 1}/{repeats}: "
            + ", ".join(f"{m} {seconds[m][-1] / steps:.2f} s/step" for m in METHODS)
        )
    n = steps * len(x)
    return {
        "model": arch,
        "input_shape": list(x.shape[1:]),
        "num_classes": num_classes,
        "batch": len(x),
        "steps_per_repeat": steps,
        "repeats": repeats,
        "seconds": {m: summarize(seconds[m]) for m in METHODS},
        "samples_per_s": {m: summarize(rates(n, seconds[m])) for m in METHODS},
        "time_ratio_over_baseline": {
            m: summarize(paired_ratios(seconds[m], seconds["baseline"]))
            for m in METHODS
            if m != "baseline"
        },
    }


def configs(s: Settings) -> list[tuple[str, str, Callable, int, int, int]]:
    """The timed configurations: key, architecture, data, batch, steps and repeats."""
    small = (s.train_batch, s.train_steps, s.train_repeats)
    vgg = (s.vgg_batch, s.vgg_steps, s.vgg_repeats)
    return [
        ("ndigits/small_snn", "small_snn", ndigits_batch, *small),
        ("ncaltech-shape/small_snn", "small_snn", random_batch, *small),
        ("ncaltech-shape/vgg_snn", "vgg_snn", random_batch, *vgg),
    ]


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """All training configurations; returns the section's JSON payload."""
    results = {}
    for key, arch, data_fn, batch, steps, repeats in configs(settings):
        ctx.log(f"training: {key}, batch {batch}, {steps} step(s) x {repeats} repeat(s) per method")
        x, y, classes = data_fn(batch)
        t0 = time.perf_counter()
        results[key] = time_methods(arch, x, y, classes, steps, repeats, ctx.log)
        results[key]["data"] = (
            "ndigits train frames (offline default)"
            if data_fn is ndigits_batch
            else f"random spikes, density {SPIKE_DENSITY} (N-Caltech101 shape)"
        )
        results[key]["wall_s"] = time.perf_counter() - t0
    return {
        "configs": results,
        "methods": list(METHODS),
        "loss_hparams": LOSS_HPARAMS,
        "tks_lam": TKS_LAM,
        "optimizer": "AdamW(lr=1e-3, weight_decay=0.01)",
        "torch_threads": torch.get_num_threads(),
    }
