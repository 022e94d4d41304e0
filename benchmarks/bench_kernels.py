"""Neuron kernels: SLAYER's CPU loop against the exact kernels, alone and in a training step.

Four figures, all on one CPU thread (``torch.set_num_threads(1)``), timed in turn per repeat so
drift of the machine affects all alike; wall-clock and process CPU seconds are both kept (on a
shared machine CPU seconds are the steadier figure):

* **neuron**: one CUBA neuron (the hidden-layer preset) forward + backward on a vgg_snn-sized
  layer, its first conv at 34x34, batch 8, T = 10: SLAYER's loop, the exact kernels with numba
  (what the CPU runs) and with the torch loop (what a GPU runs, here on the CPU);
* **train_step**: one vgg_snn optimizer step (forward, TKS loss, backward, AdamW) at 34x34, T =
  10, batch 8: the old path (``forward_padded``: latency padding + SLAYER's loop) against the new
  one (``forward`` without padding + exact kernels); the issue's target is a speed-up >= 3;
* **ncaltech_step**: the new path alone at N-Caltech101's default frames (2x48x48, T = 10, 101
  classes), batch 8: the samples/s an N-Caltech101 epoch projection divides by (measured, not
  scaled from 34x34; the old path there takes ~7 s per sample and is not re-timed);
* **compile**: seconds of the first exact call in a fresh process, with an empty numba cache
  (compiling) and with the cache it left (loading).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.settings import REPO, RunContext, Settings
from benchmarks.timing import paired_ratios, rates, summarize

NEURON_INPUT = (8, 64, 34, 34, 10)  # vgg_snn's first conv output at 34x34, batch 8, T = 10
STEP_INPUT = (2, 34, 34)
STEP_BATCH = 8
TIMESTEPS = 10
NUM_CLASSES = 10
#: N-Caltech101's default frames (tks_lava.data.ncaltech101: 48x48, 2 polarities) and classes
NCALTECH_INPUT = (2, 48, 48)
NCALTECH_CLASSES = 101
SPIKE_DENSITY = 0.1

_FIRST_CALL = (
    "import time, torch\n"
    "from tks_lava.model.kernels import integrator\n"
    "x = torch.randn(2, 8, 10, requires_grad=True)\n"
    "t0 = time.perf_counter()\n"
    "decay, state = torch.tensor([1024.0]), torch.zeros(1)\n"
    "y = integrator.exact_dynamics(x, decay, state, 4096, 1.25, 'numba')\n"
    "y.sum().backward()\n"
    "print(time.perf_counter() - t0)\n"
)


def _timed(fns: dict[str, Callable[[], Any]], repeats: int, log: Callable[[str], None], what: str):
    """Wall and CPU seconds of each function per repeat, in turn (one untimed call each first)."""
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
        log(
            f"  {what} repeat {r + 1}/{repeats}: "
            + ", ".join(f"{k} {wall[k][-1]:.3f} s ({cpu[k][-1]:.3f} s CPU)" for k in fns)
        )
    return wall, cpu


def neuron_case(kernels: str) -> Callable[[], None]:
    """Forward + backward of one hidden CUBA neuron through ``kernels``
    ("slayer", "numba" or "torch")."""
    from lava.lib.dl.slayer.neuron import cuba

    from tks_lava.model.architectures import DEFAULT_NEURON
    from tks_lava.model.kernels import integrator

    g = torch.Generator().manual_seed(0)
    x = torch.randn(NEURON_INPUT, generator=g) * 0.8
    grad = torch.randn(NEURON_INPUT, generator=g)
    neuron = cuba.Neuron(**DEFAULT_NEURON)
    integrator.route(neuron, exact=kernels != "slayer")
    backend = "auto" if kernels == "slayer" else kernels

    def call() -> None:
        xg = x.clone().requires_grad_()
        with integrator.use_backend(backend):
            neuron(xg).backward(grad)

    return call


class _Padded(torch.nn.Module):
    """The old training forward: ``forward_padded`` (latency padding, delay shifts on)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_padded(x)


def train_step_case(
    path: str, input_shape: tuple[int, int, int] = STEP_INPUT, classes: int = NUM_CLASSES
) -> Callable[[], None]:
    """One vgg_snn optimizer step on a fixed batch of ``STEP_BATCH`` random spike frames of
    ``input_shape`` x T: ``old`` = padded forward + SLAYER's loop, ``new`` = unpadded forward +
    exact kernels. Same initial weights (seed 0) for both."""
    from tks_lava.model.kernels import set_neuron_kernels
    from tks_lava.model.network import build_model, make_config
    from tks_lava.training.config import COMMON_DEFAULTS
    from tks_lava.training.losses import make_loss

    g = torch.Generator().manual_seed(1)
    x = (torch.rand(STEP_BATCH, *input_shape, TIMESTEPS, generator=g) < SPIKE_DENSITY).float()
    y = torch.randint(0, classes, (STEP_BATCH,), generator=g)
    torch.manual_seed(0)
    net = build_model(make_config("vgg_snn", input_shape, classes))
    set_neuron_kernels(net, "exact" if path == "new" else "slayer")
    model = net if path == "new" else _Padded(net)
    loss_fn = make_loss("tks", temperature=COMMON_DEFAULTS["temperature"])
    lam = COMMON_DEFAULTS["lam_max"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def call() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y, lam=lam).backward()
        opt.step()

    return call


def compile_seconds(timeout: float = 600) -> dict[str, float | str]:
    """First exact call in a fresh process: empty numba cache (compile), then that cache (load)."""
    out: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory(prefix="tks-numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(REPO)}
        for key in ("cold_s", "cached_s"):
            try:
                command = [sys.executable, "-c", _FIRST_CALL]
                done = subprocess.run(
                    command, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout
                )
                done.check_returncode()
                out[key] = float(done.stdout.strip().splitlines()[-1])
            except (subprocess.SubprocessError, ValueError, IndexError) as err:
                out[key] = f"failed: {err}"
    return out


def _figure(wall: dict[str, list[float]], cpu: dict[str, list[float]], ref: str) -> dict:
    """Summaries and paired speed-ups over ``ref`` (its time / each one's time, per repeat)."""
    return {
        "wall_s": {k: summarize(v) for k, v in wall.items()},
        "cpu_s": {k: summarize(v) for k, v in cpu.items()},
        "speedup_wall": {k: summarize(paired_ratios(wall[ref], v)) for k, v in wall.items()},
        "speedup_cpu": {k: summarize(paired_ratios(cpu[ref], v)) for k, v in cpu.items()},
    }


def _rates(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> dict[str, Any]:
    """Samples per wall second and per CPU second of ``STEP_BATCH``-sample steps."""
    return {
        "samples_per_s": {k: summarize(rates(STEP_BATCH, v)) for k, v in wall.items()},
        "samples_per_cpu_s": {k: summarize(rates(STEP_BATCH, v)) for k, v in cpu.items()},
    }


def ncaltech_step(repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The new path's training step at N-Caltech101's default frames (one thread, as set)."""
    log(f"kernels: vgg_snn step at {NCALTECH_INPUT}, new path, {repeats} repeat(s)")
    case = {"new": train_step_case("new", NCALTECH_INPUT, NCALTECH_CLASSES)}
    wall, cpu = _timed(case, repeats, log, "vgg_snn 48x48 step")
    return {
        "model": "vgg_snn",
        "input": [STEP_BATCH, *NCALTECH_INPUT, TIMESTEPS],
        "num_classes": NCALTECH_CLASSES,
        "loss": "tks",
        "new": "forward (no padding) + exact kernels (numba)",
        "wall_s": {k: summarize(v) for k, v in wall.items()},
        "cpu_s": {k: summarize(v) for k, v in cpu.items()},
        **_rates(wall, cpu),
    }


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """The four figures; returns the section's JSON payload."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ctx.log(f"kernels: neuron fwd+bwd at {NEURON_INPUT}, {settings.repeats} repeat(s)")
        cases = {k: neuron_case(k) for k in ("slayer", "numba", "torch")}
        neuron = _figure(*_timed(cases, settings.repeats, ctx.log, "neuron"), ref="slayer")
        reps = settings.vgg_repeats
        ctx.log(f"kernels: vgg_snn training step, batch {STEP_BATCH}, {reps} repeat(s)")
        steps = {p: train_step_case(p) for p in ("old", "new")}
        wall, cpu = _timed(steps, reps, ctx.log, "vgg_snn step")
        step = {**_figure(wall, cpu, ref="old"), **_rates(wall, cpu)}
        steps.clear()
        ncaltech = ncaltech_step(reps, ctx.log)
    finally:
        torch.set_num_threads(threads)
    ctx.log("kernels: first-call compile time (fresh processes)")
    return {
        "neuron": {"input": list(NEURON_INPUT), **neuron},
        "train_step": {
            "model": "vgg_snn",
            "input": [STEP_BATCH, *STEP_INPUT, TIMESTEPS],
            "loss": "tks",
            "old": "forward_padded + SLAYER's CPU loop",
            "new": "forward (no padding) + exact kernels (numba)",
            **step,
        },
        "ncaltech_step": ncaltech,
        "compile": compile_seconds(),
        "torch_threads": 1,
    }
