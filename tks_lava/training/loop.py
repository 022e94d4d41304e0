"""A training run from start (or a checkpoint) to the exported, published model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tks_lava.io import sha256_file, write_bytes_atomic, write_npz_atomic
from tks_lava.model import export
from tks_lava.model.card import CARD_FILE, ModelCard
from tks_lava.model.evaluation import forward_logits
from tks_lava.model.network import SpikingNet
from tks_lava.training import checkpoint as ckpt
from tks_lava.training.augment import augment_batch, parse_augment
from tks_lava.training.config import (
    ConfigError,
    TrainConfig,
    check_architecture,
    check_config,
    check_same_run,
)
from tks_lava.training.data import DataBundle, epoch_order, load_data, make_loader
from tks_lava.training.logs import epoch_line, write_metrics
from tks_lava.training.losses import lam_schedule
from tks_lava.training.run_card import model_card
from tks_lava.training.steps import (
    accuracies,
    make_model,
    make_optimizer,
    train_one_epoch,
)

#: Per-sample test logits of the exported model (N, C, T) and labels, for paired statistics.
TEST_LOGITS_FILE = "test_logits.npz"


@dataclass
class TrainResult:
    """What :func:`train` produced. ``paths`` has ``config``, ``metrics_jsonl``,
    ``metrics_csv``, ``last``, ``best`` and, once finished, ``net``, ``weights``, ``card``,
    ``test_logits`` (plus ``published_net/_weights/_card`` with ``publish``).

    ``best_epoch``/``best_acc``: the epoch chosen by ``config.select`` and its validation
    accuracy (NaN without a validation split); ``per_step``/``cumulative``: its test accuracy.
    """

    config: TrainConfig
    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_acc: float
    finished: bool
    paths: dict[str, Path] = field(default_factory=dict)
    per_step: list[float] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)
    card: ModelCard | None = None

    @property
    def card_path(self) -> Path | None:
        return self.paths.get("card")


def _state(
    config: TrainConfig,
    model: SpikingNet,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    epoch: int,
    history: list[dict[str, Any]],
    best: dict[str, Any],
) -> dict[str, Any]:
    """Checkpoint contents after ``epoch`` finished epochs (see :mod:`.checkpoint`)."""
    return {
        "config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epoch": epoch,
        "rng": ckpt.rng_state(),
        "history": history,
        "best": best,
    }


def train(
    config: TrainConfig,
    progress: bool = True,
    *,
    verbose: bool = True,
    resume: str | Path | dict[str, Any] | None = None,
    stop_after: int | None = None,
    command: str | None = None,
    download: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train, score every epoch on the validation split, checkpoint, and at the end export the
    epoch ``config.select`` chooses and measure it once on the test split.

    ``resume``: a run folder, a checkpoint file or a loaded checkpoint; the run continues
    exactly where it stopped (``config`` must match the saved one up to :data:`RUNTIME_FIELDS`).
    ``stop_after``: stop once this many epochs are done in total (no export then; resume later).
    ``command``: the command line recorded in the model card (default: an equivalent CLI call).
    ``download``: fetch a missing real dataset first (see :func:`load_data`).
    """
    state = ckpt.load_checkpoint(resume) if isinstance(resume, str | Path) else resume
    if state is not None:
        check_same_run(TrainConfig.from_dict(state["config"]), config)
    check_config(config)
    say = log if verbose else (lambda _msg: None)
    deploy = check_architecture(config)
    say(f"{config.model}: deployable to Lava ({deploy.layers} NetX layers, checked in "
        f"{deploy.seconds:.1f} s)")  # fmt: skip
    data = load_data(config, progress, download)
    out = Path(config.out_dir)
    if state is None and (out / ckpt.LAST).exists():
        raise ConfigError(
            f"{out} already holds a run ({ckpt.LAST}); resume it with --resume {out} "
            "or choose another --out-dir"
        )
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "config": out / "config.json",
        "metrics_jsonl": out / "metrics.jsonl",
        "metrics_csv": out / "metrics.csv",
        "last": out / ckpt.LAST,
        "best": out / ckpt.BEST,
    }
    write_bytes_atomic(paths["config"], (config.to_json() + "\n").encode())

    model = make_model(config, data)
    steps = math.ceil(len(data.train_labels) / config.batch_size)
    opt, sched = make_optimizer(model, config, steps)
    history: list[dict[str, Any]] = []
    best = {"epoch": 0, "acc": -1.0}
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, best, start = list(state["history"]), dict(state["best"]), int(state["epoch"])
        ckpt.set_rng_state(state["rng"])
        write_metrics(out, history)  # drop rows of epochs after the checkpoint, if any
        say(f"resumed {state['path']} after epoch {start}/{config.epochs}")
    say(
        f"run: {out}  ({len(data.train_labels)} train / {len(data.val_labels)} validation / "
        f"{len(data.test_labels)} test samples, {config.model}, {config.method}, "
        f"T={config.timesteps}, frames {data.input_shape}; exports the "
        f"{'best-validation' if config.select == 'val' else 'last'} epoch)"
    )

    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start, end):
        row = run_epoch(model, opt, sched, config, data, epoch, progress)
        history.append(row)
        write_metrics(out, history)
        if config.select == "val" and row["val_acc"] > best["acc"]:
            best = {"epoch": row["epoch"], "acc": row["val_acc"]}
            ckpt.save_checkpoint(
                paths["best"], _state(config, model, opt, sched, epoch + 1, history, best)
            )
        elif config.select == "last":
            best = {"epoch": row["epoch"], "acc": row.get("val_acc", float("nan"))}
        ckpt.save_checkpoint(
            paths["last"], _state(config, model, opt, sched, epoch + 1, history, best)
        )
        say(epoch_line(row, config.epochs))

    result = TrainResult(config, out, history, best["epoch"], best["acc"], False, paths)
    if len(history) < config.epochs:
        say(f"stopped after epoch {len(history)}/{config.epochs}; continue with --resume {out}")
        return result
    return finish(result, model, data, command=command, progress=progress, log=say)


def run_epoch(
    model: SpikingNet,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    config: TrainConfig,
    data: DataBundle,
    epoch: int,
    progress: bool,
) -> dict[str, Any]:
    """Train 0-based ``epoch`` and evaluate on the validation split (never the test split);
    the metrics row of the epoch."""
    t0 = time.perf_counter()
    lam = lam_schedule(epoch, config.epochs, config.lam_max) if config.method == "tks" else 0.0
    lr = sched.get_last_lr()[0]
    order = epoch_order(data.train_labels, epoch, config.seed, config.balanced)
    loader = make_loader(data.train, config.batch_size, order, config.workers)
    desc = f"epoch {epoch + 1}/{config.epochs}"
    stats = train_one_epoch(
        model, loader, opt, sched, config, lam, progress, desc, _augmenter(config, epoch)
    )
    t1 = time.perf_counter()
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "lam": lam}
    row.update({f"train_{k}": v for k, v in stats.items() if k not in ("train_s", "samples_per_s")})
    if data.val is not None:
        logits, labels = forward_logits(
            model, data.val, config.batch_size, config.device, progress, config.workers
        )
        acc = accuracies(logits, labels)
        row.update(
            val_acc=acc["cumulative"][-1],
            val_per_step=acc["per_step"],
            val_cumulative=acc["cumulative"],
        )
    row.update(
        train_s=stats["train_s"],
        eval_s=time.perf_counter() - t1,
        epoch_s=time.perf_counter() - t0,
        samples_per_s=stats["samples_per_s"],
    )
    return row


def _augmenter(config: TrainConfig, epoch: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The epoch's augmentation, drawn from a generator seeded by (seed, epoch): exact resume."""
    ops = parse_augment(config.augment)
    if not ops:
        return None
    g = torch.Generator().manual_seed((int(config.seed) * 7_919 + int(epoch) + 1) % (2**63))
    return lambda x: augment_batch(x, ops, g)


def finish(
    result: TrainResult,
    model: SpikingNet,
    data: DataBundle,
    *,
    command: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Load the selected checkpoint, evaluate it on the test split (the only test read of a
    run), export ``model.net`` + ``network.pt`` + card, keep the per-sample test logits."""
    config, out = result.config, result.out_dir
    chosen = result.paths["best" if config.select == "val" else "last"]
    model.load_state_dict(ckpt.load_checkpoint(chosen)["model"])
    model.eval()
    logits, labels = forward_logits(
        model, data.test, config.batch_size, config.device, progress, config.workers
    )
    acc = accuracies(logits, labels)
    paths = result.paths
    paths["test_logits"] = save_logits(out / TEST_LOGITS_FILE, logits, labels)
    cpu_model = model.to("cpu")
    paths["net"] = export.export_netx(cpu_model, out / export.NET_FILE)
    paths["weights"] = export.save_weights(cpu_model, out / export.WEIGHTS_FILE)
    card = model_card(
        config,
        data,
        cpu_model,
        result.history,
        result.best_epoch,
        acc,
        sha256_file(paths["net"]),
        command,
    )
    paths["card"] = card.write(out / CARD_FILE)
    if config.publish:
        pub = export.publish(paths["card"], config.publish, config.publish_dir)
        paths.update({f"published_{k}": v for k, v in pub.items()})
        log(f"published: {pub['net']}, {pub['weights'].name}, {pub['card'].name}")
    result.finished, result.card = True, card
    result.per_step, result.cumulative = acc["per_step"], acc["cumulative"]
    log(
        f"exported epoch {result.best_epoch} ({config.select}): test acc "
        f"{acc['cumulative'][-1]:.4f}; "
        f"exported {paths['net']} + {paths['weights'].name} + {paths['card'].name}"
    )
    return result


def save_logits(path: Path, logits: torch.Tensor, labels: torch.Tensor) -> Path:
    """Write per-step logits (N, C, T) and labels (N,) as an ``.npz``, atomically."""
    return write_npz_atomic(path, logits=logits.numpy().astype(np.float32), labels=labels.numpy())
