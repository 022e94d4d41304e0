"""A training run from start (or a checkpoint) to the exported, published model.

One process trains alone; under ``torchrun`` every process runs :func:`train` on its part of each
batch (:mod:`.distributed`), and rank 0 alone logs and writes files.
"""

from __future__ import annotations

import functools
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
from tks_lava.model.kernels import set_neuron_kernels
from tks_lava.model.network import SpikingNet
from tks_lava.training import checkpoint as ckpt
from tks_lava.training import distributed
from tks_lava.training.augment import augment_batch, parse_augment
from tks_lava.training.config import (
    ConfigError,
    TrainConfig,
    check_architecture,
    check_config,
    check_same_run,
)
from tks_lava.training.data import DataBundle, EpochBatches, load_data, make_loader
from tks_lava.training.distributed import Dist
from tks_lava.training.logs import epoch_line, write_metrics
from tks_lava.training.losses import lam_schedule
from tks_lava.training.run_card import model_card
from tks_lava.training.runtime import describe_runtime, pinned_run
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
    On the ranks > 0 of a distributed run, ``card`` is None and ``paths`` lacks the exports
    (rank 0 writes them).
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


@dataclass
class _Run:
    """The state of a run between epochs: the network (``net``: in DDP when distributed),
    optimizer, schedule, what is done so far and the training data feed."""

    model: SpikingNet
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    loader: torch.utils.data.DataLoader
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": 0, "acc": -1.0})
    start: int = 0


def _state(config: TrainConfig, run: _Run, epoch: int) -> dict[str, Any]:
    """Checkpoint contents after ``epoch`` finished epochs (see :mod:`.checkpoint`)."""
    return {
        "config": config.to_dict(),
        "model_config": run.model.config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
        "optimizer": run.opt.state_dict(),
        "scheduler": run.sched.state_dict(),
        "epoch": epoch,
        "rng": ckpt.rng_state(),
        "history": run.history,
        "best": run.best,
    }


@pinned_run  # resolves device auto, kernels, threads; determinism on for the call
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
    Under torchrun (``RANK``/``WORLD_SIZE`` set) each process trains its part of every batch.
    """
    state = ckpt.load_checkpoint(resume) if isinstance(resume, str | Path) else resume
    with distributed.session(config) as d:
        say = log if verbose and d.main else (lambda _msg: None)  # ranks > 0: silent
        progress = progress and d.main
        data, paths = _open_run(config, state, progress, download, say, d)
        run = _start(config, data, state, paths, say, d)
        end = config.epochs if stop_after is None else min(config.epochs, stop_after)
        for epoch in range(run.start, end):
            row = run_epoch(
                run.net, run.opt, run.sched, config, data, epoch, progress, loader=run.loader, d=d
            )
            _record_epoch(config, run, row, paths, d)
            say(epoch_line(row, config.epochs))
        out, best = paths["last"].parent, run.best
        result = TrainResult(config, out, run.history, best["epoch"], best["acc"], False, paths)
        if len(run.history) < config.epochs:
            done = f"{len(run.history)}/{config.epochs}"
            say(f"stopped after epoch {done}; continue with --resume {out}")
            return result
        return finish(result, run.model, data, command=command, progress=progress, log=say, d=d)


def _open_run(
    config: TrainConfig,
    state: dict[str, Any] | None,
    progress: bool,
    download: bool,
    say: Callable[[str], None],
    d: Dist,
) -> tuple[DataBundle, dict[str, Path]]:
    """Check the settings, open the data and the run folder (refusing to overwrite a run);
    the data and the paths of the run's files. Rank 0 writes ``config.json``."""
    if state is not None:
        check_same_run(TrainConfig.from_dict(state["config"]), config)
    check_config(config)
    say(describe_runtime(config))
    if d.active:
        if config.batch_size < d.world:
            raise ConfigError(
                f"batch size {config.batch_size} is smaller than the {d.world} processes (each "
                "takes part of every batch): raise --batch-size or start fewer processes"
            )
        per = -(-config.batch_size // d.world)
        say(f"distributed: {d.world} processes ({d.backend}), {per} of each batch per process")
    deploy = check_architecture(config)
    checked = f"{deploy.layers} NetX layers, checked in {deploy.seconds:.1f} s"
    say(f"{config.model}: deployable to Lava ({checked})")
    with distributed.local_leader_first(d):
        data = load_data(config, progress, download)
    out = Path(config.out_dir)
    if state is None and (out / ckpt.LAST).exists():
        raise ConfigError(
            f"{out} already holds a run ({ckpt.LAST}); resume it with --resume {out} "
            "or choose another --out-dir"
        )
    paths = {
        "config": out / "config.json",
        "metrics_jsonl": out / "metrics.jsonl",
        "metrics_csv": out / "metrics.csv",
        "last": out / ckpt.LAST,
        "best": out / ckpt.BEST,
    }
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(paths["config"], (config.to_json() + "\n").encode())
    return data, paths


def _start(
    config: TrainConfig,
    data: DataBundle,
    state: dict[str, Any] | None,
    paths: dict[str, Path],
    say: Callable[[str], None],
    d: Dist,
) -> _Run:
    """The network, optimizer and data feed of a run, restored from ``state`` when resuming."""
    model = make_model(config, data)
    batches = EpochBatches(
        data.train_labels, config.batch_size, config.seed, config.balanced, d.rank, d.world
    )
    opt, sched = make_optimizer(model, config, len(batches))
    pin = config.device.startswith("cuda")
    run = _Run(model, model, opt, sched, make_loader(data.train, batches, config.workers, pin))
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        run.history, run.best = list(state["history"]), dict(state["best"])
        run.start = int(state["epoch"])
        ckpt.set_rng_state(state["rng"])
        if d.main:
            write_metrics(paths["last"].parent, run.history)  # drop rows after the checkpoint
        say(f"resumed {state['path']} after epoch {run.start}/{config.epochs}")
    run.net = distributed.wrap(model, d, config.device)
    say(
        f"run: {paths['last'].parent}  ({len(data.train_labels)} train / "
        f"{len(data.val_labels)} validation / {len(data.test_labels)} test samples, "
        f"{config.model}, {config.method}, T={config.timesteps}, frames {data.input_shape}; "
        f"exports the {'best-validation' if config.select == 'val' else 'last'} epoch)"
    )
    return run


def _record_epoch(
    config: TrainConfig, run: _Run, row: dict[str, Any], paths: dict[str, Path], d: Dist
) -> None:
    """Add the epoch's metrics row, apply the selection rule, checkpoint (``best.pt`` when the
    epoch is the new best by validation, always ``last.pt``). Rank 0 writes; every rank waits
    for the files, so all may read them next."""
    run.history.append(row)
    epoch = int(row["epoch"])
    new_best = config.select == "val" and row["val_acc"] > run.best["acc"]
    if new_best:
        run.best = {"epoch": epoch, "acc": row["val_acc"]}
    elif config.select == "last":
        run.best = {"epoch": epoch, "acc": row.get("val_acc", float("nan"))}
    if d.main:
        write_metrics(paths["last"].parent, run.history)
        if new_best:
            ckpt.save_checkpoint(paths["best"], _state(config, run, epoch))
        ckpt.save_checkpoint(paths["last"], _state(config, run, epoch))
    distributed.barrier(d)


def run_epoch(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    config: TrainConfig,
    data: DataBundle,
    epoch: int,
    progress: bool,
    *,
    loader: torch.utils.data.DataLoader | None = None,
    d: Dist = distributed.ALONE,
) -> dict[str, Any]:
    """Train 0-based ``epoch`` and evaluate on the validation split (never the test split);
    the metrics row of the epoch.

    ``loader``: the run's training feed (its ``batch_sampler`` an :class:`EpochBatches`);
    None = a new single-process one. ``d``: this process's place in a distributed run.
    """
    t0 = time.perf_counter()
    lam = lam_schedule(epoch, config.epochs, config.lam_max) if config.method == "tks" else 0.0
    lr = sched.get_last_lr()[0]
    if loader is None:
        batches = EpochBatches(data.train_labels, config.batch_size, config.seed, config.balanced)
        loader = make_loader(data.train, batches, config.workers, pin=False)
    batches = loader.batch_sampler
    if not isinstance(batches, EpochBatches):
        raise TypeError("run_epoch needs a loader batched by EpochBatches (data.make_loader)")
    batches.set_epoch(epoch)
    desc = f"epoch {epoch + 1}/{config.epochs}"
    augment = _augmenter(config, epoch, d.rank)
    sync = {"share": batches.share, "total": functools.partial(distributed.all_sum, d=d)}
    stats = train_one_epoch(model, loader, opt, sched, config, lam, progress, desc, augment, **sync)
    t1 = time.perf_counter()
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "lam": lam}
    row.update({f"train_{k}": v for k, v in stats.items() if k not in ("train_s", "samples_per_s")})
    if data.val is not None:
        acc = accuracies(*distributed.split_logits(model, data.val, config, d, progress))
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


def _augmenter(
    config: TrainConfig, epoch: int, rank: int = 0
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The epoch's augmentation, drawn from a generator seeded by (seed, epoch, rank): exact
    resume. Each process of a distributed run draws its own (rank 0 as a process alone)."""
    ops = parse_augment(config.augment)
    if not ops:
        return None
    seed = int(config.seed) * 7_919 + int(epoch) + 1 + int(rank) * 1_000_003
    g = torch.Generator().manual_seed(seed % (2**63))
    return lambda x: augment_batch(x, ops, g)


def finish(
    result: TrainResult,
    model: SpikingNet,
    data: DataBundle,
    *,
    command: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
    d: Dist = distributed.ALONE,
) -> TrainResult:
    """Load the selected checkpoint, evaluate it on the test split (the only test read of a
    run), export ``model.net`` + ``network.pt`` + card, keep the per-sample test logits.

    Distributed: every rank evaluates its shard of the test split; rank 0 exports."""
    config = result.config
    chosen = result.paths["best" if config.select == "val" else "last"]
    model.load_state_dict(ckpt.load_checkpoint(chosen)["model"])
    model.eval()
    set_neuron_kernels(model, "exact")  # the card's accuracy in Lava's arithmetic (parity)
    logits, labels = distributed.split_logits(model, data.test, config, d, progress)
    acc = accuracies(logits, labels)
    if d.main:
        result.card = _export(result, model, data, logits, labels, acc, command, log, d.world)
    distributed.barrier(d)
    result.finished = True
    result.per_step, result.cumulative = acc["per_step"], acc["cumulative"]
    return result


def _export(
    result: TrainResult,
    model: SpikingNet,
    data: DataBundle,
    logits: torch.Tensor,
    labels: torch.Tensor,
    acc: dict[str, list[float]],
    command: str | None,
    log: Callable[[str], None],
    world_size: int,
) -> ModelCard:
    """Write the test logits, ``model.net``, ``network.pt`` and the card (and publish);
    ``world_size``: the processes that trained the last epochs, for the card."""
    config, out, paths = result.config, result.out_dir, result.paths
    paths["test_logits"] = save_logits(out / TEST_LOGITS_FILE, logits, labels)
    cpu_model = model.to("cpu")
    paths["net"] = export.export_netx(cpu_model, out / export.NET_FILE)
    paths["weights"] = export.save_weights(cpu_model, out / export.WEIGHTS_FILE)
    digest = sha256_file(paths["net"])
    card = model_card(
        config,
        data,
        cpu_model,
        result.history,
        result.best_epoch,
        acc,
        digest,
        command,
        world_size=world_size,
    )
    paths["card"] = card.write(out / CARD_FILE)
    if config.publish:
        pub = export.publish(paths["card"], config.publish, config.publish_dir)
        paths.update({f"published_{k}": v for k, v in pub.items()})
        log(f"published: {pub['net']}, {pub['weights'].name}, {pub['card'].name}")
    log(
        f"exported epoch {result.best_epoch} ({config.select}): test acc "
        f"{acc['cumulative'][-1]:.4f}; "
        f"exported {paths['net']} + {paths['weights'].name} + {paths['card'].name}"
    )
    return card


def save_logits(path: Path, logits: torch.Tensor, labels: torch.Tensor) -> Path:
    """Write per-step logits (N, C, T) and labels (N,) as an ``.npz``, atomically."""
    return write_npz_atomic(path, logits=logits.numpy().astype(np.float32), labels=labels.numpy())
