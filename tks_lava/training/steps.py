"""The network, its optimizer, one training epoch and evaluation (per-step logits)."""

from __future__ import annotations

import math
import time

import torch
from torch.utils.data import DataLoader, Dataset

from tks_lava import checkpoint as ckpt
from tks_lava.losses import make_loss, tks_components
from tks_lava.metrics import cumulative_accuracy, per_step_accuracy
from tks_lava.models import (
    ArchitectureError,
    SpikingNet,
    build_model,
    make_config,
)
from tks_lava.training.config import ConfigError, TrainConfig, architecture
from tks_lava.training.data import DataBundle, make_loader


def make_model(config: TrainConfig, data: DataBundle) -> SpikingNet:
    """Seed everything from ``config.seed`` and build the network for ``data``."""
    ckpt.seed_everything(config.seed)
    try:
        model_config = make_config(architecture(config), data.input_shape, len(data.classes))
    except ArchitectureError as err:
        raise ConfigError(str(err)) from None
    return build_model(model_config).to(config.device)


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


def batch_loss(
    config: TrainConfig, logits: torch.Tensor, target: torch.Tensor, lam: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch and its logged parts (TKS: ``ce``, ``tks``, ``teacher_frac``)."""
    if config.method == "tks":
        terms = tks_components(logits, target, temperature=config.temperature, lam=lam)
        parts = {"ce": terms.ce.item(), "tks": terms.tks.item(), "teacher_frac": terms.teacher_frac}
        return terms.loss, parts
    return make_loss(config.method, **config.loss_hparams())(logits, target), {}


def train_one_epoch(
    model: SpikingNet,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    lam: float,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over ``loader``; sample-weighted means of the loss, its parts and accuracy."""
    from tqdm import tqdm

    model.train()
    sums: dict[str, float] = {}
    n_seen = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress)
    for x, y in bar:
        x, y = x.to(config.device), y.to(config.device)
        logits = model(x)
        loss, parts = batch_loss(config, logits, y, lam)
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


@torch.no_grad()
def evaluate(
    model: SpikingNet,
    data: Dataset | tuple[torch.Tensor, torch.Tensor],
    batch_size: int = 128,
    device: str = "cpu",
    progress: bool = False,
    workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step logits (N, C, T) on the CPU and labels (N,) of a dataset or (frames, labels).

    The model is put in eval mode for the pass and its previous mode restored.
    """
    from tqdm import tqdm

    if isinstance(data, tuple):
        frames, labels = data
        batches = (
            (frames[i : i + batch_size], labels[i : i + batch_size])
            for i in range(0, len(labels), batch_size)
        )
        total = math.ceil(len(labels) / batch_size)
    else:
        batches = make_loader(data, batch_size, None, workers)
        total = len(batches)
    was_training = model.training
    model.eval()
    outs, ys = [], []
    try:
        for x, y in tqdm(batches, total=total, desc="eval", leave=False, disable=not progress):
            outs.append(model(x.to(device)).float().cpu())
            ys.append(torch.as_tensor(y).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), torch.cat(ys).long()


def accuracies(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, list[float]]:
    """Per-step and running-mean accuracy at t = 1..T, as lists."""
    return {
        "per_step": [float(v) for v in per_step_accuracy(logits, labels)],
        "cumulative": [float(v) for v in cumulative_accuracy(logits, labels)],
    }
