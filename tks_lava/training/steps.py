"""The network, its optimizer, one training epoch and per-step accuracies."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

from tks_lava.metrics import cumulative_accuracy, per_step_accuracy
from tks_lava.model.network import ArchitectureError, SpikingNet, build_model
from tks_lava.training import checkpoint as ckpt
from tks_lava.training.config import ConfigError, TrainConfig, model_config
from tks_lava.training.data import DataBundle


def make_model(config: TrainConfig, data: DataBundle) -> SpikingNet:
    """Seed everything from ``config.seed`` and build the network for ``data``."""
    ckpt.seed_everything(config.seed)
    try:
        spec = model_config(config, data.input_shape, len(data.classes))
    except ArchitectureError as err:
        raise ConfigError(str(err)) from None
    return build_model(spec).to(config.device)


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
    model: SpikingNet,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    lam: float,
    progress: bool = False,
    desc: str = "train",
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; sample-weighted means of the loss, its parts and accuracy.

    ``augment``: applied to each CPU batch before it moves to the device.
    """
    from tqdm import tqdm

    model.train()
    sums: dict[str, float] = {}
    n_seen = 0
    start = time.perf_counter()
    loss_fn = config.loss()
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress)
    for x, y in bar:
        if augment is not None:
            x = augment(x)
        x, y = x.to(config.device), y.to(config.device)
        logits = model(x)
        loss, parts = loss_fn.terms(logits, y, lam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = len(y)
        acc = float((logits.detach().mean(-1).argmax(1) == y).float().mean())
        for k, v in {"loss": loss.item(), "acc": acc, **parts}.items():
            sums[k] = sums.get(k, 0.0) + v * n
        n_seen += n
        bar.set_postfix(loss=f"{sums['loss'] / n_seen:.3f}", acc=f"{sums['acc'] / n_seen:.3f}")
    seconds = time.perf_counter() - start
    out = {k: v / max(1, n_seen) for k, v in sums.items()}
    out.update(train_s=seconds, samples_per_s=n_seen / seconds if seconds else 0.0)
    return out


def accuracies(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, list[float]]:
    """Per-step and running-mean accuracy at t = 1..T, as lists."""
    return {
        "per_step": [float(v) for v in per_step_accuracy(logits, labels)],
        "cumulative": [float(v) for v in cumulative_accuracy(logits, labels)],
    }
