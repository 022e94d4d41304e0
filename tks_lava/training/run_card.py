"""The model card of a finished run: what it is, how it was trained and chosen, how accurate."""

from __future__ import annotations

import shlex
import time
from typing import Any

import torch

from tks_lava.model import export
from tks_lava.model.card import ModelCard
from tks_lava.model.network import SpikingNet
from tks_lava.provenance import versions
from tks_lava.training.augment import parse_augment
from tks_lava.training.config import TrainConfig, config_to_argv
from tks_lava.training.data import DataBundle
from tks_lava.training.runtime import run_environment


def model_card(
    config: TrainConfig,
    data: DataBundle,
    model: SpikingNet,
    history: list[dict[str, Any]],
    epoch: int,
    acc: dict[str, list[float]],
    sha256: str,
    command: str | None,
    *,
    world_size: int = 1,
) -> ModelCard:
    """The card of a run whose exported model is ``epoch`` (1-based) with test accuracy ``acc``.

    ``config`` is the resolved one (:func:`tks_lava.training.runtime.resolve_runtime`): the
    card's ``command`` sets every field of it, so it reruns the same settings whatever the
    defaults are then; ``command`` (as typed, if any) is kept as ``environment["invoked"]``.
    """
    return ModelCard(
        net_file=export.NET_FILE,
        sha256=sha256,
        weights_file=export.WEIGHTS_FILE,
        dataset=config.dataset,
        framing=data.framing,
        dataset_params=data.dataset_params,
        input_shape=tuple(data.input_shape),
        classes=list(data.classes),
        latency=int(model.latency),
        model_config=model.config,
        method=config.method,
        hyperparameters=hyperparameters(config, world_size),
        selection={"rule": config.select, "epoch": int(epoch), "val": data.val_split},
        torch_accuracy={
            "split": "test",
            "n": int(len(data.test_labels)),
            "protocol": "prefix",
            **acc,
        },
        history=history,
        train_time_s=float(sum(r["epoch_s"] for r in history)),
        command="python -m tks_lava.train " + shlex.join(config_to_argv(config)),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        versions=versions(),
        environment=run_environment(config, command),
    )


def hyperparameters(config: TrainConfig, world_size: int = 1) -> dict[str, Any]:
    """The training settings a reader of the card needs to judge and repeat the run.

    ``batch_size`` is the global batch (one optimizer step); ``world_size`` processes
    (torchrun) each took ``batch_per_process`` of it."""
    return {
        "optimizer": "AdamW",
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "schedule": "cosine (per step)",
        "warmup_epochs": config.warmup_epochs,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "world_size": int(world_size),
        "global_batch": config.batch_size,
        "batch_per_process": -(-config.batch_size // int(world_size)),
        "temperature": config.temperature,
        "lam_max": config.lam_max,
        "tks_detach_teacher": config.tks_detach_teacher,
        "tks_teacher": config.tks_teacher,
        "tks_no_teacher": config.tks_no_teacher,
        "tks_tau2": config.tks_tau2,
        "lam_schedule": "linear: lam_max * epoch / epochs, epoch = 0 .. epochs-1",
        "balanced_sampling": config.balanced,
        "augment": list(parse_augment(config.augment)),
        "neuron_preset": config.neuron,
        "seed": config.seed,
        "limit_train": config.limit_train,
        "limit_test": config.limit_test,
        "torch_threads": config.threads or torch.get_num_threads(),
    }
