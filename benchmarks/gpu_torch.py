"""The GPU check's in-process steps: kernel and model parity with the CPU, training speed.

See :mod:`benchmarks.gpu_check`, which runs them (and the command-line steps) and records them.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

GRAD_RTOL = 1e-3  # parameter gradients, CUDA vs CPU: max |diff| <= GRAD_RTOL * max |grad|
NUM_CLASSES = 10
SPIKE_DENSITY = 0.1


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the GPU check, or the CPU dry run that exercises the plumbing."""

    device: str = "cuda"
    size: int = 48  # vgg_snn frames, size x size
    timesteps: int = 10
    batches: tuple[int, ...] = (32, 64)
    warmup: int = 2
    timed: int = 5
    parity_batch: int = 2
    train_model: str = "vgg_snn"
    train_args: tuple[str, ...] = ("--limit-train", "256", "--limit-test", "64")
    lava_args: tuple[str, ...] = ("--limit", "8")
    dist_model: str = "small_snn"
    timeout: int = 240  # seconds per subprocess (the whole check must end within 8 minutes)

    @classmethod
    def dry_run(cls) -> Plan:
        """The CPU at tiny sizes: every step's plumbing, no representative number."""
        tiny_train = ("--limit-train", "32", "--limit-test", "16", "--batch-size", "16")
        return cls(
            device="cpu",
            size=16,
            timesteps=4,
            batches=(2,),
            warmup=1,
            timed=1,
            parity_batch=1,
            train_model="tiny_snn",
            train_args=tiny_train,
            lava_args=("--limit", "2", "--t", "3"),
            dist_model="tiny_snn",
            timeout=600,
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(plan: Plan) -> dict[str, Any]:
    """Versions and the device."""
    import numpy as np

    from tks_lava.model.kernels import cuba_numba, describe, slayer_cuda

    device = torch.device(plan.device)
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numpy": np.__version__,
        "numba": cuba_numba.version(),
        "exact_kernels": describe("exact", device),
        "slayer_cuda_toolkit": slayer_cuda.toolkit_problem(device) or "ok",
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }
    if device.type == "cuda":
        info["capability"] = slayer_cuda.arch(device)
    info["ok"] = True
    return info


def _cases(seed: int) -> dict[str, tuple[torch.Tensor, float, float]]:
    """Integrator inputs (x, decay, threshold): random, threshold ties, states past 2**24."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 16, 12, 12, 20, generator=g) * 1.5
    ties = torch.full((64, 30), 1.25)
    ties[:, ::3] = 0.0
    large = (torch.rand(64, 16, generator=g) * 3e5).round() + 0.37
    return {
        "random": (x, 1024.0, 1.25 + 0.01 / 4096),
        "ties": (ties, 0.0, 1.25),
        "large": (large, 7.0, 3.0e5 + 0.01 / 4096),
    }


def kernel_parity(plan: Plan) -> dict[str, Any]:
    """Exact integrator: device (torch loop) vs CPU (numba) vs SLAYER's loop, bit for bit."""
    from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as li

    from tks_lava.model.kernels import integrator

    out: dict[str, Any] = {}
    for name, (x, decay, th) in _cases(0).items():
        d, state = torch.tensor([decay]), torch.zeros(1)
        grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        ref = li._li_dynamics_fwd(x, d, torch.zeros(x.shape[:-1]), th, 4096, dtype=torch.int64)
        ref_grad, _ = li._li_dynamics_bwd(grad, ref, d)
        got = {}
        cpu_backend = integrator.backend_for(torch.device("cpu"))  # numba where it imports
        for where, backend in (("cpu", cpu_backend), (plan.device, "torch")):
            xg = x.clone().to(where).requires_grad_()
            y = integrator.exact_dynamics(xg, d.to(where), state.to(where), 4096, th, backend)
            y.backward(grad.to(where))
            got[backend] = (y.detach().cpu(), xg.grad.cpu())
        out[name] = {
            f"{b}_equals_slayer": torch.equal(y, ref) and torch.equal(g, ref_grad)
            for b, (y, g) in got.items()
        }
        out[name]["spiked"] = int((ref >= th).sum())
    out["ok"] = all(v for case in out.values() for k, v in case.items() if k != "spiked")
    return out


def _vgg(plan: Plan, weight_norm: bool, device: str) -> torch.nn.Module:
    """vgg_snn with weights scaled so spikes reach the readout, exact kernels, on ``device``."""
    from tks_lava.model.kernels import set_neuron_kernels
    from tks_lava.model.network import build_model, make_config

    torch.manual_seed(0)
    shape = (2, plan.size, plan.size)
    model = build_model(make_config("vgg_snn", shape, NUM_CLASSES, weight_norm=weight_norm))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g") or (not weight_norm and name.endswith("weight")):
                p.mul_(4.0)
    set_neuron_kernels(model, "exact")
    return model.to(device)


def _run_vgg(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], list]:
    """Logits, each block's output and the parameter gradients, all on the CPU."""
    outputs: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        outputs.append(output.detach().cpu())

    hooks = [block.register_forward_hook(keep) for block in model.blocks]
    logits = model(x)
    for h in hooks:
        h.remove()
    weights = torch.linspace(-1, 1, logits.numel(), device=x.device).reshape(logits.shape)
    (logits * weights).sum().backward()
    grads = [p.grad.detach().cpu() for p in model.parameters() if p.grad is not None]
    return [logits.detach().cpu(), *outputs], grads


def _slayer_cuda_vs_exact(plan: Plan, x: torch.Tensor) -> dict[str, Any] | str:
    """How far SLAYER's CUDA kernels land from the exact ones on the same model (information:
    they are not expected to agree bit for bit)."""
    from tks_lava.model.kernels import set_neuron_kernels, slayer_cuda

    problem = slayer_cuda.build_problem(plan.device)
    if problem:
        return f"not built: {problem}"
    model = _vgg(plan, False, plan.device)
    with torch.no_grad():
        exact = model(x.to(plan.device))
        set_neuron_kernels(model, "slayer-cuda")
        theirs = model(x.to(plan.device))
    return {
        "logits_equal": torch.equal(exact, theirs),
        "share_of_logits_equal": float((exact == theirs).float().mean()),
        "max_abs_logit_diff": float((exact - theirs).abs().max()),
    }


def model_parity(plan: Plan) -> dict[str, Any]:
    """vgg_snn, exact kernels: the device against the CPU, with and without weight norm."""
    g = torch.Generator().manual_seed(2)
    shape = (plan.parity_batch, 2, plan.size, plan.size, plan.timesteps)
    x = (torch.rand(shape, generator=g) < SPIKE_DENSITY).float()
    out: dict[str, Any] = {"grad_rtol": GRAD_RTOL}
    for weight_norm in (False, True):
        cpu_out, cpu_grads = _run_vgg(_vgg(plan, weight_norm, "cpu"), x)
        dev_out, dev_grads = _run_vgg(_vgg(plan, weight_norm, plan.device), x.to(plan.device))
        rel = max(
            float((a - b).abs().max() / a.abs().max().clamp_min(1e-30))
            for a, b in zip(cpu_grads, dev_grads, strict=True)
        )
        pairs = list(zip(cpu_out[1:], dev_out[1:], strict=True))
        out[f"weight_norm_{weight_norm}"] = {
            "logits_equal": torch.equal(cpu_out[0], dev_out[0]),
            "block_outputs_equal": [torch.equal(a, b) for a, b in pairs],
            "nonzero_per_block": [round(float((a != 0).float().mean()), 4) for a, _ in pairs],
            "grad_max_rel_diff": rel,
        }
    out["slayer_cuda_vs_exact"] = _slayer_cuda_vs_exact(plan, x)
    plain = out["weight_norm_False"]
    out["ok"] = (
        plain["logits_equal"]
        and all(plain["block_outputs_equal"])
        and max(out[k]["grad_max_rel_diff"] for k in ("weight_norm_False", "weight_norm_True"))
        <= GRAD_RTOL
    )
    return out


def _step_fn(plan: Plan, kernels: str, batch: int) -> Callable[[], None]:
    """One vgg_snn optimizer step (TKS loss, AdamW) on a fixed random batch on the device."""
    from tks_lava.model.kernels import set_neuron_kernels
    from tks_lava.training.config import COMMON_DEFAULTS
    from tks_lava.training.losses import make_loss

    device = torch.device(plan.device)
    g = torch.Generator().manual_seed(3)
    shape = (batch, 2, plan.size, plan.size, plan.timesteps)
    x = (torch.rand(shape, generator=g) < SPIKE_DENSITY).float().to(device)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=g).to(device)
    model = _vgg(plan, True, plan.device)
    set_neuron_kernels(model, kernels)
    loss_fn = make_loss("tks", temperature=COMMON_DEFAULTS["temperature"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y, lam=COMMON_DEFAULTS["lam_max"]).backward()
        opt.step()

    return step


def train_speed(plan: Plan) -> dict[str, Any]:
    """Samples/s of vgg_snn training steps per kernel path and batch size."""
    from tks_lava.model.kernels import describe, resolve_kernels

    device = torch.device(plan.device)
    out: dict[str, Any] = {"size": plan.size, "timesteps": plan.timesteps}
    for requested in ("exact", "slayer-cuda"):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kernels = resolve_kernels(requested, device)
        entry: dict[str, Any] = {
            "resolved": kernels,
            "resolve_s": round(time.perf_counter() - t0, 2),
            "warnings": [str(w.message) for w in caught],
            "describe": describe(kernels, device),
        }
        out[requested] = entry
        if kernels != requested:
            continue  # the fallback is the exact path, timed above
        for batch in plan.batches:
            step = _step_fn(plan, kernels, batch)
            for _ in range(plan.warmup):
                step()
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(plan.timed):
                step()
            _sync(device)
            seconds = time.perf_counter() - t0
            entry[f"batch_{batch}"] = {
                "s_per_step": seconds / plan.timed,
                "samples_per_s": batch * plan.timed / seconds,
            }
            if device.type == "cuda":
                entry[f"batch_{batch}"]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
                torch.cuda.reset_peak_memory_stats()
    out["ok"] = all("batch_" + str(b) in out["exact"] for b in plan.batches)
    return out
