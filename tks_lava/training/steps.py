"""The network, its optimizer, one training epoch and per-step accuracies."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from tks_lava.metrics import cumulative_accuracy, per_step_accuracy
from tks_lava.model.kernels import set_neuron_kernels
from tks_lava.model.network import ArchitectureError, SpikingNet, build_model
from tks_lava.training import checkpoint as ckpt
from tks_lava.training.config import ConfigError, TrainConfig, model_config
from tks_lava.training.data import DataBundle


def make_model(config: TrainConfig, data: DataBundle) -> SpikingNet:
    """Seed everything from ``config.seed`` and build the network for ``data``, its neurons on
    ``config.neuron_kernels``."""
    ckpt.seed_everything(config.seed)
    try:
        spec = model_config(config, data.input_shape, len(data.classes))
    except ArchitectureError as err:
        raise ConfigError(str(err)) from None
    model = build_model(spec).to(config.device)
    set_neuron_kernels(model, config.neuron_kernels)
    return model


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW and a per-step schedule: linear warm-up, then cosine decay to 0 at the end."""
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warm = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    lam: float,
    progress: bool = False,
    desc: str = "train",
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    share: Callable[[int], tuple[int, float]] | None = None,
    total: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; sample-weighted means of the loss, its parts and accuracy.

    ``augment``: applied to each CPU batch before it moves to the device.
    ``share``: per step, (samples that count, loss scale) of this process's part of a global
    batch (``EpochBatches.share``, data-parallel runs); None = every batch whole, scale 1.
    ``total``: sums the per-process sums over the processes (``distributed.all_sum``).
    The running sums stay on the device: no host sync per step unless the bar is shown.
    """
    from tqdm import tqdm

    model.train()
    sums: torch.Tensor | None = None
    keys: list[str] = []
    n_seen = 0
    start = time.perf_counter()
    loss_fn = config.loss()
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress)
    for step, (x, y) in enumerate(bar):
        if augment is not None:
            x = augment(x)
        x = x.to(config.device, non_blocking=True)
        y = y.to(config.device, non_blocking=True)
        n, scale = share(step) if share is not None else (len(y), 1.0)
        logits = model(x)
        loss, parts = loss_fn.terms(logits, y, lam)
        optimizer.zero_grad(set_to_none=True)
        (loss if scale == 1.0 else loss * scale).backward()
        optimizer.step()
        scheduler.step()
        acc = (logits.detach().mean(-1).argmax(1) == y).double().mean()
        row = torch.stack([loss.detach().double(), acc, *map(acc.new_tensor, parts.values())])
        sums = row * n if sums is None else sums + row * n
        keys, n_seen = ["loss", "acc", *parts], n_seen + n
        if progress:
            mean = (sums / max(1, n_seen)).tolist()
            bar.set_postfix(loss=f"{mean[0]:.3f}", acc=f"{mean[1]:.3f}")
    return _means(sums, keys, n_seen, time.perf_counter() - start, total)


def _means(
    sums: torch.Tensor | None,
    keys: list[str],
    n_seen: int,
    seconds: float,
    total: Callable[[torch.Tensor], torch.Tensor] | None,
) -> dict[str, float]:
    """Per-sample means of the epoch's sums (over every process with ``total``) and speed."""
    local = sums.cpu() if sums is not None else torch.zeros(0, dtype=torch.float64)
    counted = torch.cat([local, torch.tensor([float(n_seen)], dtype=torch.float64)])
    if total is not None:
        counted = total(counted)
    n_all = float(counted[-1])
    out = {k: float(v) / max(1.0, n_all) for k, v in zip(keys, counted[:-1].tolist(), strict=True)}
    out.update(train_s=seconds, samples_per_s=n_all / seconds if seconds else 0.0)
    return out


def accuracies(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, list[float]]:
    """Per-step and running-mean accuracy at t = 1..T, as lists."""
    return {
        "per_step": [float(v) for v in per_step_accuracy(logits, labels)],
        "cumulative": [float(v) for v in cumulative_accuracy(logits, labels)],
    }
