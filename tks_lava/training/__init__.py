"""Training loop: TKS and its baselines on event frames with SLAYER, checkpoints, NetX export.

The library API behind ``python -m tks_lava.train`` (notebooks call it directly)::

    from tks_lava.training import resolve_config, train
    result = train(resolve_config(dataset="ndigits", method="tks", epochs=3))
    result.card_path, result.per_step, result.cumulative

* :class:`TrainConfig` is everything that decides a run; :func:`resolve_config` fills what is
  not given from :func:`dataset_defaults` (the dataset's framing + the training table) and
  checks it.
* :func:`train` writes into ``config.out_dir``: ``config.json``, ``metrics.jsonl`` and
  ``metrics.csv`` (one row per epoch), ``last.pt`` and ``best.pt`` checkpoints (best = highest
  final running-mean *validation* accuracy; the validation split is carved from train), and at
  the end ``model.net`` (NetX HDF5), ``network.pt``, ``model_card.json`` and
  ``test_logits.npz`` of the selected epoch (``select``: best validation or last). The test
  split is read once, by the selected model; it never chooses anything.
* Resuming is exact: the checkpoint holds model, optimizer, scheduler, epoch and RNG states,
  and each epoch's data order is drawn from a generator seeded by ``(seed, epoch)`` only.

Epoch numbers in logs, metrics and cards are 1-based (epoch 1 is the first); the TKS weight of
epoch ``e`` is ``lam_schedule(e - 1, epochs, lam_max)``.
"""

from __future__ import annotations

from tks_lava.training.config import (
    COMMON_DEFAULTS,
    DATASET_DEFAULTS,
    FIELDS,
    RUNTIME_FIELDS,
    SELECT_RULES,
    ConfigError,
    TrainConfig,
    architecture,
    check_architecture,
    check_config,
    config_to_argv,
    dataset_defaults,
    planned_input_shape,
    resolve_config,
    resume_config,
)
from tks_lava.training.data import DataBundle, epoch_order, load_data, validation_split
from tks_lava.training.logs import format_accuracy_table, write_metrics
from tks_lava.training.loop import TrainResult, finish, run_epoch, train
from tks_lava.training.run_card import model_card
from tks_lava.training.steps import (
    accuracies,
    make_model,
    make_optimizer,
    train_one_epoch,
)

__all__ = [
    "COMMON_DEFAULTS",
    "ConfigError",
    "DATASET_DEFAULTS",
    "DataBundle",
    "FIELDS",
    "RUNTIME_FIELDS",
    "SELECT_RULES",
    "TrainConfig",
    "TrainResult",
    "accuracies",
    "architecture",
    "check_architecture",
    "check_config",
    "config_to_argv",
    "dataset_defaults",
    "epoch_order",
    "finish",
    "format_accuracy_table",
    "load_data",
    "make_model",
    "make_optimizer",
    "model_card",
    "planned_input_shape",
    "resolve_config",
    "resume_config",
    "run_epoch",
    "train",
    "train_one_epoch",
    "validation_split",
    "write_metrics",
]
