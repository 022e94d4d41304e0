"""Training loop: TKS and its baselines on event frames with SLAYER, checkpoints, NetX export.

The library API behind ``python -m tks_lava.train`` (notebooks call it directly)::

    from tks_lava.training import resolve_config, train
    result = train(resolve_config(dataset="ndigits", method="tks", epochs=3))
    result.card_path, result.per_step, result.cumulative

* :class:`TrainConfig` is everything that decides a run; :func:`resolve_config` fills what is
  not given from :data:`DATASET_DEFAULTS` (the per-dataset table, one place) and checks it.
* :func:`train` writes into ``config.out_dir``: ``config.json``, ``metrics.jsonl`` and
  ``metrics.csv`` (one row per epoch), ``last.pt`` and ``best.pt`` checkpoints (best = highest
  final running-mean test accuracy), and at the end ``model.net`` (NetX HDF5), ``network.pt``
  and ``model_card.json`` of the best model (see :mod:`tks_lava.export`).
* Resuming is exact: the checkpoint holds model, optimizer, scheduler, epoch and RNG states,
  and each epoch's data order is drawn from a generator seeded by ``(seed, epoch)`` only.

Epoch numbers in logs, metrics and cards are 1-based (epoch 1 is the first); the TKS weight of
epoch ``e`` is ``lam_schedule(e - 1, epochs, lam_max)``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from tks_lava import checkpoint as ckpt
from tks_lava import export
from tks_lava.data.frames import FrameConfig
from tks_lava.data.paths import write_bytes_atomic
from tks_lava.data.registry import get_spec
from tks_lava.deployable import DeployCheck, check_deployable
from tks_lava.losses import LOSSES, lam_schedule, make_loss, tks_components
from tks_lava.metrics import cumulative_accuracy, per_step_accuracy
from tks_lava.models import (
    ARCHITECTURES,
    ArchitectureError,
    SpikingNet,
    build_model,
    load_arch_file,
    make_config,
)

__all__ = [
    "COMMON_DEFAULTS",
    "DATASET_DEFAULTS",
    "RUNTIME_FIELDS",
    "ConfigError",
    "DataBundle",
    "TrainConfig",
    "TrainResult",
    "config_to_argv",
    "epoch_order",
    "evaluate",
    "format_accuracy_table",
    "load_data",
    "resolve_config",
    "resume_config",
    "train",
]


class ConfigError(ValueError):
    """A training configuration that cannot run (the message says which setting and why)."""


#: Defaults shared by every dataset (the method spec: AdamW, weight decay 0.01, cosine schedule).
COMMON_DEFAULTS: dict[str, Any] = {
    "method": "tks",
    "weight_decay": 0.01,
    "warmup_epochs": 0,
    "temperature": 5.0,  # event datasets (paper)
    "lam_max": 0.3,  # event datasets (paper)
    "balanced": False,
    "seed": 0,
    "device": "cpu",
    "workers": 0,
}

#: Per-dataset defaults (the one table). ``frame_size`` None = the sensor's native size.
#: ndigits is sized to train in minutes on 2 CPU cores (small_snn: ~35 s per epoch there);
#: the 48 x 48 event datasets follow the method spec (VGG-SNN, T = 10, batch 128, reference
#: lr 5e-3 x batch / 1024 with 5 warm-up epochs); N-Caltech101 samples classes evenly.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "ndigits": {"model": "small_snn", "timesteps": 10, "frame_size": None, "epochs": 12,
                "batch_size": 64, "lr": 3e-3, "warmup_epochs": 1},
    "nmnist": {"model": "small_snn", "timesteps": 10, "frame_size": None, "epochs": 20,
               "batch_size": 128, "lr": 3e-3, "warmup_epochs": 1},
    "ncaltech101": {"model": "vgg_snn", "timesteps": 10, "frame_size": (48, 48), "epochs": 100,
                    "batch_size": 128, "lr": 5e-3 * 128 / 1024, "warmup_epochs": 5,
                    "balanced": True},
    "cifar10dvs": {"model": "vgg_snn", "timesteps": 10, "frame_size": (48, 48), "epochs": 100,
                   "batch_size": 128, "lr": 5e-3 * 128 / 1024, "warmup_epochs": 5},
    "dvsgesture": {"model": "vgg_snn", "timesteps": 20, "frame_size": (32, 32), "epochs": 100,
                   "batch_size": 32, "lr": 1e-3, "warmup_epochs": 5},
}  # fmt: skip

#: Settings a resumed run may change: where things are and how fast, never what is computed.
RUNTIME_FIELDS = (
    "data_root",
    "cache_dir",
    "out_dir",
    "device",
    "workers",
    "publish",
    "publish_dir",
)
_ND = {**COMMON_DEFAULTS, **DATASET_DEFAULTS["ndigits"]}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved as ``config.json`` beside its outputs).

    Field defaults are the ndigits row of :data:`DATASET_DEFAULTS`; use :func:`resolve_config`
    to get another dataset's defaults.

    Parameters:
        dataset: registered dataset name (``tks_lava.data.DATASETS``).
        method: loss, one of ``tks``, ``baseline``, ``tet``, ``ls`` (``tks_lava.losses``).
        model: architecture name (``tks_lava.models.ARCHITECTURES``); with ``arch_file``, the
            name the file gives its architecture.
        arch_file: a JSON architecture of one's own (:func:`tks_lava.models.load_arch_file`).
        timesteps: frames per sample T.
        frame_size: frame (H, W); None = the sensor's native size.
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule over all steps.
        warmup_epochs: linear lr warm-up before the cosine decay.
        temperature, lam_max: TKS tau and the maximum of the linear lambda ramp.
        balanced: draw classes equally often (with replacement) instead of shuffling.
        seed: seeds weights (torch, numpy, random) and, with the epoch, each epoch's data order.
        data_root, cache_dir: dataset root and frame-cache folder (None = the data layer's).
        out_dir: run folder. device: ``cpu`` or ``cuda``. workers: DataLoader processes.
        limit_train, limit_test: use a fixed random subset of this many samples (tiny runs).
        publish, publish_dir: also copy the exported model to ``publish_dir/<publish>.*``.
    """

    dataset: str = "ndigits"
    method: str = _ND["method"]
    model: str = _ND["model"]
    arch_file: str | None = None
    timesteps: int = _ND["timesteps"]
    frame_size: tuple[int, int] | None = _ND["frame_size"]
    epochs: int = _ND["epochs"]
    batch_size: int = _ND["batch_size"]
    lr: float = _ND["lr"]
    weight_decay: float = _ND["weight_decay"]
    warmup_epochs: int = _ND["warmup_epochs"]
    temperature: float = _ND["temperature"]
    lam_max: float = _ND["lam_max"]
    balanced: bool = _ND["balanced"]
    seed: int = _ND["seed"]
    data_root: str | None = None
    cache_dir: str | None = None
    out_dir: str = "runs/ndigits-tks"
    device: str = _ND["device"]
    workers: int = _ND["workers"]
    limit_train: int | None = None
    limit_test: int | None = None
    publish: str | None = None
    publish_dir: str | None = None

    def __post_init__(self) -> None:
        if self.frame_size is not None:
            object.__setattr__(self, "frame_size", tuple(int(v) for v in self.frame_size))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frame_size"] = list(self.frame_size) if self.frame_size is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown TrainConfig field(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))

    def frames(self) -> FrameConfig:
        """The framing of this run: the dataset's reference framing with T and size set."""
        ref = get_spec(self.dataset).default_frames(self.timesteps)
        return dataclasses.replace(ref, timesteps=self.timesteps, size=self.frame_size)

    def loss_hparams(self) -> dict[str, Any]:
        """Fixed keyword arguments of :func:`tks_lava.losses.make_loss` for ``method``."""
        return {"temperature": self.temperature} if self.method == "tks" else {}


FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _parse_frame_size(value: Any) -> tuple[int, int] | None:
    """(H, W) from a pair, ``"HxW"`` or ``"native"``/None (the sensor size)."""
    if value is None or (isinstance(value, str) and value.lower() == "native"):
        return None
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ConfigError(f"frame size must be HxW (e.g. 48x48) or 'native', got {value!r}")
        value = parts
    size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"frame size must be two positive ints (H, W), got {value!r}")
    return size  # type: ignore[return-value]


def _given(overrides: Mapping[str, Any] | argparse.Namespace | None, **kw: Any) -> dict[str, Any]:
    """The TrainConfig fields given (not None) in ``overrides`` and ``kw``."""
    src = vars(overrides) if isinstance(overrides, argparse.Namespace) else dict(overrides or {})
    if not isinstance(overrides, argparse.Namespace):
        unknown = (set(src) | set(kw)) - set(FIELDS)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
    src.update(kw)
    return {k: v for k, v in src.items() if k in FIELDS and v is not None}


def resolve_config(
    overrides: Mapping[str, Any] | argparse.Namespace | None = None, **kw: Any
) -> TrainConfig:
    """A checked :class:`TrainConfig`: given settings over the dataset's defaults.

    ``overrides`` (a dict or argparse namespace; None values count as not given) and ``kw``
    name TrainConfig fields; ``frame_size`` also takes ``"HxW"`` or ``"native"``. ``out_dir``
    defaults to ``runs/<dataset>-<method>-<YYYYmmdd-HHMMSS>``.
    """
    given = _given(overrides, **kw)
    try:
        dataset = get_spec(given.get("dataset", "ndigits")).name
    except ValueError as err:
        raise ConfigError(str(err)) from None
    values = {**COMMON_DEFAULTS, **(DATASET_DEFAULTS.get(dataset) or _fallback_defaults(dataset))}
    values.update(given, dataset=dataset)
    if "warmup_epochs" not in given:  # a table warm-up takes at most a quarter of a short run
        values["warmup_epochs"] = min(values["warmup_epochs"], values["epochs"] // 4)
    if "frame_size" in given:
        values["frame_size"] = _parse_frame_size(given["frame_size"])
    if values.get("arch_file") is not None:
        values["arch_file"] = str(values["arch_file"])
        try:
            values["model"] = str(load_arch_file(values["arch_file"])["name"])
        except ArchitectureError as err:
            raise ConfigError(str(err)) from None
    if "out_dir" not in given:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        values["out_dir"] = str(Path("runs") / f"{dataset}-{values['method']}-{stamp}")
    for key in ("data_root", "cache_dir", "out_dir", "publish_dir"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    config = TrainConfig(**values)
    check_config(config)
    return config


def _fallback_defaults(dataset: str) -> dict[str, Any]:
    """Defaults for a registered dataset missing from the table: its reference framing."""
    spec = get_spec(dataset)
    return {
        **DATASET_DEFAULTS["ncaltech101"],
        "timesteps": spec.default_timesteps,
        "frame_size": spec.default_frame_size,
        "balanced": False,
    }


def check_config(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first setting that cannot run."""
    c = config
    checks = [
        (c.method in LOSSES, f"method must be one of {sorted(LOSSES)}, got {c.method!r}"),
        (
            c.model in ARCHITECTURES or c.arch_file is not None,
            f"model must be one of {sorted(ARCHITECTURES)} (or use --arch-file), got {c.model!r}",
        ),
        (c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}"),
        (c.batch_size >= 1, f"batch size must be >= 1, got {c.batch_size}"),
        (c.timesteps >= 1, f"timesteps must be >= 1, got {c.timesteps}"),
        (c.lr > 0, f"lr must be > 0, got {c.lr}"),
        (c.weight_decay >= 0, f"weight decay must be >= 0, got {c.weight_decay}"),
        (c.warmup_epochs >= 0, f"warm-up epochs must be >= 0, got {c.warmup_epochs}"),
        (c.temperature > 0, f"temperature must be > 0, got {c.temperature}"),
        (0 <= c.lam_max <= 1, f"lam_max must lie in [0, 1], got {c.lam_max}"),
        (c.workers >= 0, f"workers must be >= 0, got {c.workers}"),
        (c.limit_train is None or c.limit_train >= 1, f"limit_train must be >= 1: {c.limit_train}"),
        (c.limit_test is None or c.limit_test >= 1, f"limit_test must be >= 1: {c.limit_test}"),
        (
            c.device in ("cpu", "cuda") or c.device.startswith("cuda:"),
            f"device must be cpu or cuda, got {c.device!r}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if c.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {c.device!r} requested but CUDA is not available; use cpu")
    if c.publish is not None and (Path(c.publish).name != c.publish or c.publish.startswith(".")):
        raise ConfigError(f"publish name must be a plain file stem, got {c.publish!r}")
    c.frames()  # FrameConfig checks (size, crop)


def resume_config(
    saved: TrainConfig,
    overrides: Mapping[str, Any] | argparse.Namespace | None,
    run_dir: str | Path,
) -> TrainConfig:
    """The saved config of a run to resume, with runtime settings (:data:`RUNTIME_FIELDS`)
    replaced where given. Any other given setting must equal the saved one."""
    given = _given(overrides)
    if "frame_size" in given:
        given["frame_size"] = _parse_frame_size(given["frame_size"])
    if "dataset" in given:
        given["dataset"] = get_spec(given["dataset"]).name
    _check_same_run(saved, dataclasses.replace(saved, **given))
    runtime = {
        k: str(v) if k.endswith(("_dir", "_root")) else v
        for k, v in given.items()
        if k in RUNTIME_FIELDS
    }
    runtime.setdefault("out_dir", str(run_dir))
    config = dataclasses.replace(saved, **runtime)
    check_config(config)
    return config


def _check_same_run(saved: TrainConfig, config: TrainConfig) -> None:
    """Raise :class:`ConfigError` if ``config`` differs from ``saved`` beyond runtime fields."""
    differ = [
        f"{k} (saved {getattr(saved, k)!r}, given {getattr(config, k)!r})"
        for k in FIELDS
        if k not in RUNTIME_FIELDS and getattr(saved, k) != getattr(config, k)
    ]
    if differ:
        raise ConfigError(
            "a resumed run continues its saved config; these settings differ: "
            + "; ".join(differ)
            + ". Start a new run (another --out-dir) to change them."
        )


def config_to_argv(config: TrainConfig) -> list[str]:
    """CLI arguments of ``python -m tks_lava.train`` that reproduce ``config``."""
    argv: list[str] = []
    for key, value in config.to_dict().items():
        if value is None or key in ("publish", "publish_dir"):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + key.replace("_", "-"))
        elif key == "frame_size":
            argv += [flag, "x".join(str(v) for v in value)]
        else:
            argv += [flag, str(value)]
    return argv


# ----------------------------------------------------------------------------- data
class DataBundle(NamedTuple):
    """Both splits of a run's data plus what the model and the model card need."""

    train: Dataset
    test: Dataset
    train_labels: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    input_shape: tuple[int, int, int]
    frames: FrameConfig
    dataset_params: dict[str, Any] | None


def _subset(ds: Any, limit: int | None, seed: int) -> tuple[Dataset, np.ndarray]:
    """A fixed random subset of ``limit`` samples (sorted indices) and its labels."""
    labels = np.asarray(ds.labels)
    if limit is None or limit >= len(labels):
        return ds, labels
    g = torch.Generator().manual_seed(seed)
    idx = np.sort(torch.randperm(len(labels), generator=g)[:limit].numpy())
    return Subset(ds, idx.tolist()), labels[idx]


def load_data(config: TrainConfig, progress: bool = True, download: bool = False) -> DataBundle:
    """Open (building the frame caches on first use) the train and test splits of a run.

    ``download``: fetch a missing real dataset first (``DatasetSpec.prepare``); ndigits is
    generated on first use anyway.
    """
    from tks_lava.data.ndigits import read_manifest
    from tks_lava.data.torch_data import FrameDataset

    spec = get_spec(config.dataset)
    if download and not spec.generated:
        spec.prepare(config.data_root, download=True, progress=progress)
    frames = config.frames()
    kw = {"frames": frames, "root": config.data_root, "cache_dir": config.cache_dir}
    train_ds = FrameDataset(config.dataset, "train", progress=progress, **kw)
    test_ds = FrameDataset(config.dataset, "test", progress=progress, **kw)
    if train_ds.classes != test_ds.classes:
        raise ConfigError(f"train and test classes differ under {train_ds.root}")
    train, train_labels = _subset(train_ds, config.limit_train, config.seed)
    test, test_labels = _subset(test_ds, config.limit_test, config.seed + 1)
    manifest = read_manifest(train_ds.root) if train_ds.spec.generated else None
    return DataBundle(
        train,
        test,
        train_labels,
        test_labels,
        list(train_ds.classes),
        train_ds.input_shape,
        frames,
        manifest["params"] if manifest else None,
    )


def epoch_order(labels: np.ndarray, epoch: int, seed: int, balanced: bool) -> list[int]:
    """Sample order of 0-based ``epoch``, a function of ``(seed, epoch)`` only.

    ``balanced``: ``len(labels)`` draws with replacement, class c with weight 1 / count(c) (the
    rule of ``tks_lava.data.balanced_sampler``); else a permutation.
    """
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch)) % (2**63))
    n = len(labels)
    if not balanced:
        return torch.randperm(n, generator=g).tolist()
    counts = np.bincount(labels)
    weights = torch.as_tensor(1.0 / counts[labels], dtype=torch.double)
    return torch.multinomial(weights, n, replacement=True, generator=g).tolist()


def _loader(ds: Dataset, batch_size: int, order: list[int] | None, workers: int) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=order if order is not None else range(len(ds)),  # type: ignore[arg-type]
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),  # keeps the global RNG untouched
        persistent_workers=False,
    )


# ----------------------------------------------------------------------------- model steps
def architecture(config: TrainConfig) -> str | dict[str, Any]:
    """The run's architecture: a registered name, or the spec read from ``arch_file``."""
    return load_arch_file(config.arch_file) if config.arch_file else config.model


def planned_input_shape(config: TrainConfig) -> tuple[int, int, int]:
    """(C, H, W) of the run's frames, from the dataset's sensor and the framing (no data read)."""
    width, height, polarities = get_spec(config.dataset).sensor_size
    h, w = config.frame_size or (height, width)
    return (int(polarities), int(h), int(w))


def check_architecture(config: TrainConfig) -> DeployCheck:
    """Refuse, before any data is read, an architecture/input size that Lava cannot run.

    The class count is not known before the data is read; the readout is a dense layer, which
    deploys for any count, so the check uses the spec's own or 2.
    """
    arch = architecture(config)
    classes = arch.get("num_classes", 2) if isinstance(arch, dict) else 2
    try:
        return check_deployable(make_config(arch, planned_input_shape(config), classes))
    except ArchitectureError as err:
        raise ConfigError(f"{err}\n(checked before training: nothing was written)") from None


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
        batches = _loader(data, batch_size, None, workers)
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


# ----------------------------------------------------------------------------- logging
def write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """(Re)write ``metrics.jsonl`` and ``metrics.csv`` from the whole history, atomically."""
    jsonl = "".join(json.dumps(row) + "\n" for row in history)
    write_bytes_atomic(out_dir / "metrics.jsonl", jsonl.encode())
    rows = [_flat_row(r) for r in history]
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(out_dir / "metrics.csv", buf.getvalue().encode())


def _flat_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if not isinstance(v, list)}
    for t, v in enumerate(row.get("test_per_step", []), 1):
        flat[f"test_step{t}"] = v
    for t, v in enumerate(row.get("test_cumulative", []), 1):
        flat[f"test_cum{t}"] = v
    return flat


def format_accuracy_table(per_step: list[float], cumulative: list[float]) -> str:
    """Text table: step t, accuracy of step t alone, accuracy of the mean of steps 1..t."""
    lines = [f"{'t':>3}  {'per-step':>9}  {'running-mean':>12}"]
    lines += [
        f"{t:>3}  {p:>9.4f}  {c:>12.4f}"
        for t, (p, c) in enumerate(zip(per_step, cumulative, strict=True), 1)
    ]
    return "\n".join(lines)


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = f" (ce {row['train_ce']:.3f}, tks {row['train_tks']:.3f})" if "train_ce" in row else ""
    return (
        f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}{parts}  "
        f"train acc {row['train_acc']:.3f}  test acc {row['test_acc']:.3f} "
        f"(t=1 alone {row['test_per_step'][0]:.3f})  lr {row['lr']:.2e}  lam {row['lam']:.3f}  "
        f"{row['epoch_s']:.1f} s ({row['samples_per_s']:.0f} samples/s)"
    )


# ----------------------------------------------------------------------------- the run
@dataclass
class TrainResult:
    """What :func:`train` produced. ``paths`` has ``config``, ``metrics_jsonl``,
    ``metrics_csv``, ``last``, ``best`` and, once finished, ``net``, ``weights``, ``card``
    (plus ``published_net/_weights/_card`` with ``publish``)."""

    config: TrainConfig
    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_acc: float
    finished: bool
    paths: dict[str, Path] = field(default_factory=dict)
    per_step: list[float] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)
    card: dict[str, Any] | None = None

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
    """Checkpoint contents after ``epoch`` finished epochs (see :mod:`tks_lava.checkpoint`)."""
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
    """Train, evaluate every epoch, checkpoint, and export the best model at the end.

    ``resume``: a run folder, a checkpoint file or a loaded checkpoint; the run continues
    exactly where it stopped (``config`` must match the saved one up to :data:`RUNTIME_FIELDS`).
    ``stop_after``: stop once this many epochs are done in total (no export then; resume later).
    ``command``: the command line recorded in the model card (default: an equivalent CLI call).
    ``download``: fetch a missing real dataset first (see :func:`load_data`).
    """
    state = ckpt.load_checkpoint(resume) if isinstance(resume, str | Path) else resume
    if state is not None:
        _check_same_run(TrainConfig.from_dict(state["config"]), config)
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
        f"run: {out}  ({len(data.train_labels)} train / {len(data.test_labels)} test samples, "
        f"{config.model}, {config.method}, T={config.timesteps}, frames {data.input_shape})"
    )

    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start, end):
        row = run_epoch(model, opt, sched, config, data, epoch, progress)
        history.append(row)
        write_metrics(out, history)
        if row["test_acc"] > best["acc"]:
            best = {"epoch": row["epoch"], "acc": row["test_acc"]}
            ckpt.save_checkpoint(
                paths["best"], _state(config, model, opt, sched, epoch + 1, history, best)
            )
        ckpt.save_checkpoint(
            paths["last"], _state(config, model, opt, sched, epoch + 1, history, best)
        )
        say(_epoch_line(row, config.epochs))

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
    """Train 0-based ``epoch`` and evaluate on the test split; the metrics row of the epoch."""
    t0 = time.perf_counter()
    lam = lam_schedule(epoch, config.epochs, config.lam_max) if config.method == "tks" else 0.0
    lr = sched.get_last_lr()[0]
    order = epoch_order(data.train_labels, epoch, config.seed, config.balanced)
    loader = _loader(data.train, config.batch_size, order, config.workers)
    desc = f"epoch {epoch + 1}/{config.epochs}"
    stats = train_one_epoch(model, loader, opt, sched, config, lam, progress, desc)
    t1 = time.perf_counter()
    logits, labels = evaluate(
        model, data.test, config.batch_size, config.device, progress, config.workers
    )
    acc = accuracies(logits, labels)
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "lam": lam}
    row.update({f"train_{k}": v for k, v in stats.items() if k not in ("train_s", "samples_per_s")})
    row.update(
        test_acc=acc["cumulative"][-1],
        test_per_step=acc["per_step"],
        test_cumulative=acc["cumulative"],
        train_s=stats["train_s"],
        eval_s=time.perf_counter() - t1,
        epoch_s=time.perf_counter() - t0,
        samples_per_s=stats["samples_per_s"],
    )
    return row


def finish(
    result: TrainResult,
    model: SpikingNet,
    data: DataBundle,
    *,
    command: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Load the best checkpoint, evaluate it, export ``model.net`` + ``network.pt`` + card."""
    config, out = result.config, result.out_dir
    best_state = ckpt.load_checkpoint(result.paths["best"])
    model.load_state_dict(best_state["model"])
    model.eval()
    logits, labels = evaluate(
        model, data.test, config.batch_size, config.device, progress, config.workers
    )
    acc = accuracies(logits, labels)
    cpu_model = model.to("cpu")
    paths = result.paths
    paths["net"] = export.export_netx(cpu_model, out / export.NET_FILE)
    paths["weights"] = export.save_weights(cpu_model, out / export.WEIGHTS_FILE)
    card = model_card(
        config,
        data,
        cpu_model,
        result.history,
        result.best_epoch,
        acc,
        export.sha256_file(paths["net"]),
        command,
    )
    paths["card"] = export.write_card(out / export.CARD_FILE, card)
    if config.publish:
        pub = export.publish(paths["card"], config.publish, config.publish_dir)
        paths.update({f"published_{k}": v for k, v in pub.items()})
        log(f"published: {pub['net']}, {pub['weights'].name}, {pub['card'].name}")
    result.finished, result.card = True, card
    result.per_step, result.cumulative = acc["per_step"], acc["cumulative"]
    log(
        f"best epoch {result.best_epoch}: test acc {acc['cumulative'][-1]:.4f}; "
        f"exported {paths['net']} + {paths['weights'].name} + {paths['card'].name}"
    )
    return result


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
