"""The model card of an exported model: what it is, how it was trained, how accurate it is."""

from __future__ import annotations

import shlex
import time
from typing import Any

import numpy as np
import torch

from tks_lava import export
from tks_lava.models import SpikingNet
from tks_lava.training.config import TrainConfig, config_to_argv
from tks_lava.training.data import DataBundle


def model_card(
    config: TrainConfig,
    data: DataBundle,
    model: SpikingNet,
    history: list[dict[str, Any]],
    best_epoch: int,
    acc: dict[str, list[float]],
    sha256: str,
    command: str | None,
) -> dict[str, Any]:
    """The model card dict of an exported model (keys: ``tks_lava.export.CARD_KEYS``)."""
    c, h, w = data.input_shape
    epoch_s = [r["epoch_s"] for r in history]
    card: dict[str, Any] = {
        "format": export.CARD_FORMAT,
        "net_file": export.NET_FILE,
        "sha256": sha256,
        "weights_file": export.WEIGHTS_FILE,
        "dataset": config.dataset,
        "frames": data.frames.to_dict(),
    }
    if data.dataset_params is not None:
        card["dataset_params"] = data.dataset_params
    card.update(
        input_shape=[c, h, w],
        lava_input_shape=[w, h, c],
        classes=list(data.classes),
        num_classes=len(data.classes),
        timesteps=config.timesteps,
        latency=int(model.latency),
        model_config=model.config.to_dict(),
        method=config.method,
        hyperparameters=_hyperparameters(config),
        torch_accuracy={"split": "test", "n": int(len(data.test_labels)), **acc},
        epoch=int(best_epoch),
        train_time_s=float(sum(epoch_s)),
        seconds_per_epoch=float(np.mean(epoch_s)) if epoch_s else 0.0,
        command=command or "python -m tks_lava.train " + shlex.join(config_to_argv(config)),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        versions=export.versions(),
    )
    return card


def _hyperparameters(config: TrainConfig) -> dict[str, Any]:
    return {
        "optimizer": "AdamW",
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "schedule": "cosine (per step)",
        "warmup_epochs": config.warmup_epochs,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "temperature": config.temperature,
        "lam_max": config.lam_max,
        "lam_schedule": "linear: lam_max * epoch / epochs, epoch = 0 .. epochs-1",
        "balanced_sampling": config.balanced,
        "seed": config.seed,
        "limit_train": config.limit_train,
        "limit_test": config.limit_test,
        "torch_threads": torch.get_num_threads(),
    }
