"""Where and how a run computes: the device, the neuron kernels, threads, determinism.

A :class:`~tks_lava.training.config.TrainConfig` may ask for ``device="auto"``, kernels the
machine cannot run, torch's default thread count or the default determinism.
:func:`resolve_runtime` turns those requests into what will run, once, when the run starts; the
resolved config is what ``config.json``, the checkpoints and the model card record, so the
card's command pins all four. :func:`pinned` applies them for the duration of a run and puts the
process back as it was afterwards (a notebook keeps its own settings).

**Determinism.** With it, training with the same command, code and library versions on the
same kind of machine gives bit-identical weights: torch uses its deterministic algorithms and a
fixed number of threads (a parallel reduction splits its sum by thread, so the thread count
changes the rounding). The default is on for the CPU, where it costs little. It is off for CUDA:
torch's CUDA cross-entropy over per-step logits (N, C, T) - the per-step term of TKS and TET -
runs ``nll_loss2d``, which sums with atomics and has no deterministic version, so
``torch.use_deterministic_algorithms(True)`` would stop the first training step. Asked for on
CUDA (``--deterministic``), the run sets ``CUBLAS_WORKSPACE_CONFIG`` as torch requires, picks
deterministic cuDNN algorithms and lets torch *warn* about each op that stays nondeterministic
(best effort: not verified on a GPU here).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from tks_lava.training.config import ConfigError, TrainConfig, check_config

#: cuBLAS workspace setting torch requires for deterministic CUDA matmuls (torch's
#: reproducibility notes: ``:4096:8`` or ``:16:8``).
CUBLAS_WORKSPACE = ":4096:8"

F = TypeVar("F", bound=Callable[..., Any])


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other values are kept
    (:func:`~tks_lava.training.config.check_config` refuses ``cuda`` without a GPU)."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def resolve_runtime(config: TrainConfig) -> TrainConfig:
    """``config`` with ``device``, ``neuron_kernels``, ``threads`` and ``deterministic`` set to
    what will run on this machine (see the module docstring for the determinism default)."""
    from tks_lava.model.kernels import resolve_kernels

    check_config(config)
    device = resolve_device(config.device)
    on_cuda = device.startswith("cuda")
    try:
        kernels = resolve_kernels(config.neuron_kernels, torch.device(device))
    except ValueError as err:  # e.g. SLAYER's CPU loop asked for on a GPU
        raise ConfigError(str(err)) from None
    return dataclasses.replace(
        config,
        device=device,
        neuron_kernels=kernels,
        threads=int(config.threads or torch.get_num_threads()),
        deterministic=(not on_cuda) if config.deterministic is None else bool(config.deterministic),
    )


def describe_runtime(config: TrainConfig) -> str:
    """The one line a run prints first: device (threads or GPU), kernels, determinism."""
    from tks_lava.model.kernels import describe

    mode = "deterministic" if config.deterministic else "not deterministic"
    return f"device: {describe(config.neuron_kernels, torch.device(config.device))}; {mode}"


@contextmanager
def pinned(config: TrainConfig) -> Iterator[None]:
    """Apply a resolved config's threads and determinism inside the ``with``; restore after.

    Each training process enters it (a spawned worker does not inherit these settings).
    """
    if config.threads is None or config.deterministic is None:
        raise ValueError("pinned() takes a resolved config: call resolve_runtime(config) first")
    saved = _process_settings()
    torch.set_num_threads(config.threads)
    if config.deterministic:
        on_cuda = config.device.startswith("cuda")
        if on_cuda:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True, warn_only=on_cuda)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        _restore(saved)


def _process_settings() -> dict[str, Any]:
    return {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def _restore(saved: dict[str, Any]) -> None:
    torch.set_num_threads(saved["threads"])
    torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])
    torch.backends.cudnn.deterministic = saved["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]


def pinned_run(train_fn: F) -> F:
    """Decorate a ``train(config, ...)``: it receives the resolved config and runs
    :func:`pinned`, so every caller (CLI, study, notebooks) records and applies the same."""

    @functools.wraps(train_fn)
    def run(config: TrainConfig, *args: Any, **kwargs: Any) -> Any:
        config = resolve_runtime(config)
        with pinned(config):
            return train_fn(config, *args, **kwargs)

    return run  # type: ignore[return-value]


def run_environment(config: TrainConfig, invoked: str | None = None) -> dict[str, Any]:
    """What the model card records about where a resolved run computed and from which code:
    device (and GPU name), kernels, threads, determinism, git commit and dirtiness, CPU, and
    the command line as typed (``invoked``; the card's ``command`` pins every setting)."""
    from tks_lava.provenance import cpu_model, git_commit, git_dirty

    cuda = config.device.startswith("cuda")
    return {
        "device": config.device,
        "device_name": (
            torch.cuda.get_device_name(torch.device(config.device)) if cuda else cpu_model()
        ),
        "neuron_kernels": config.neuron_kernels,
        "threads": config.threads,
        "deterministic": config.deterministic,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "invoked": invoked,
    }
