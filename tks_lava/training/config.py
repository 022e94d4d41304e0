"""Training settings: the config of a run, its checks, resuming, the CLI round trip.

:class:`TrainConfig` is everything that decides a run; :func:`resolve_config` fills what is not
given from :func:`dataset_defaults` (:mod:`.defaults`: the dataset's framing + the training
table); the architecture is checked for Lava before any data is read
(:func:`check_architecture`). Where and how the run computes (``device`` ``auto``, kernels,
threads, determinism) is resolved when it starts, by :mod:`.runtime`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tks_lava.data.frames import FrameConfig, parse_frame_size
from tks_lava.data.registry import get_spec
from tks_lava.model.deployable import DeployCheck, check_deployable
from tks_lava.model.kernels import NEURON_KERNELS
from tks_lava.model.network import (
    ARCHITECTURES,
    NEURON_PRESETS,
    ArchitectureError,
    ModelConfig,
    load_arch_file,
    make_config,
)
from tks_lava.training.augment import parse_augment
from tks_lava.training.defaults import (  # noqa: F401  (re-exported: config's vocabulary)
    COMMON_DEFAULTS,
    DATASET_DEFAULTS,
    dataset_defaults,
)
from tks_lava.training.losses import LOSSES, NO_TEACHER, TEACHER_REDUCE, LossFn, make_loss


class ConfigError(ValueError):
    """A training configuration that cannot run (the message says which setting and why)."""


#: Settings a resumed run may change: where things are and how fast, never what is computed.
#: (``neuron_kernels``, ``threads`` and ``deterministic`` round differently, but a resumed run on
#: another machine must be able to pick what runs there.)
RUNTIME_FIELDS = (
    "data_root",
    "cache_dir",
    "out_dir",
    "device",
    "neuron_kernels",
    "threads",
    "deterministic",
    "workers",
    "publish",
    "publish_dir",
)
#: How the exported epoch is chosen (never by test accuracy).
SELECT_RULES = ("val", "last")


_ND = dataset_defaults("ndigits")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved as ``config.json`` beside its outputs).

    Field defaults are the ndigits row of :data:`DATASET_DEFAULTS`; use :func:`resolve_config`
    to get another dataset's defaults.

    Parameters:
        dataset: registered dataset name (``tks_lava.data.DATASETS``).
        method: loss, one of ``tks``, ``baseline``, ``tet``, ``ls`` (``tks_lava.training.losses``).
        model: architecture name (``tks_lava.model.network.ARCHITECTURES``); with ``arch_file``, the
            name the file gives its architecture.
        arch_file: a JSON architecture of one's own (:func:`tks_lava.model.network.load_arch_file`).
        timesteps: frames per sample T.
        frame_size: frame (H, W); None = the sensor's native size.
        epochs, batch_size, lr, weight_decay: AdamW with a cosine schedule over all steps.
        warmup_epochs: linear lr warm-up before the cosine decay.
        temperature, lam_max: TKS tau and the maximum of the linear lambda ramp.
        tks_detach_teacher, tks_teacher, tks_no_teacher, tks_tau2: the TKS loss's
            ``detach_teacher``, ``teacher_reduce``, ``no_teacher``, ``tau2`` (reference defaults).
        balanced: draw classes equally often (with replacement) instead of shuffling.
        val_fraction: share of each class of the train split held out for model selection
            (whole source groups; :func:`tks_lava.training.data.validation_split`).
        select: which epoch is exported: ``val`` (best validation accuracy) or ``last``. The
            test split is read once, by the exported model, and never chooses anything.
        augment: training-time augmentation, ``none`` or a comma list of ``crop``, ``flip``,
            ``rotate`` (:mod:`tks_lava.training.augment`).
        neuron: hidden-neuron preset (``tks_lava.model.network.NEURON_PRESETS``); None = the
            architecture's own.
        seed: seeds weights (torch, numpy, random) and, with the epoch, each epoch's data order.
        data_root, cache_dir: dataset root and frame-cache folder (None = the data layer's).
        out_dir: run folder. workers: DataLoader processes.
        device: ``auto`` (CUDA when available, else ``cpu``), ``cpu``, ``cuda`` or ``cuda:N``.
        neuron_kernels: ``exact`` (Lava's arithmetic, any device), ``slayer`` (SLAYER's CPU
            loop) or ``slayer-cuda`` (SLAYER's CUDA build; ``exact`` where it cannot build for
            the GPU). See ``tks_lava.model.kernels``.
        threads: CPU threads of torch; None = torch's default on this machine.
        deterministic: deterministic torch algorithms with a fixed thread count, so the same
            command on the same kind of machine gives the same bits; None = on for the CPU, off
            for CUDA (:func:`tks_lava.training.runtime.resolve_runtime` says why).
        The four above are resolved when the run starts; config.json and the card hold what ran.
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
    tks_detach_teacher: bool = _ND["tks_detach_teacher"]
    tks_teacher: str = _ND["tks_teacher"]
    tks_no_teacher: str = _ND["tks_no_teacher"]
    tks_tau2: bool = _ND["tks_tau2"]
    balanced: bool = _ND["balanced"]
    val_fraction: float = _ND["val_fraction"]
    select: str = _ND["select"]
    augment: str = _ND["augment"]
    neuron: str | None = _ND["neuron"]
    seed: int = _ND["seed"]
    data_root: str | None = None
    cache_dir: str | None = None
    out_dir: str = "runs/ndigits-tks"
    device: str = _ND["device"]
    neuron_kernels: str = _ND["neuron_kernels"]
    threads: int | None = None
    deterministic: bool | None = None
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

    def framing(self) -> FrameConfig:
        """The framing of this run: the dataset's reference framing with T and size set."""
        ref = get_spec(self.dataset).default_frames(self.timesteps)
        return dataclasses.replace(ref, timesteps=self.timesteps, size=self.frame_size)

    def loss(self) -> LossFn:
        """The run's loss; call it with the epoch's TKS weight (``lam_schedule``)."""
        if self.method != "tks":
            return make_loss(self.method)
        return make_loss(
            "tks",
            temperature=self.temperature,
            detach_teacher=self.tks_detach_teacher,
            teacher_reduce=self.tks_teacher,
            no_teacher=self.tks_no_teacher,
            tau2=self.tks_tau2,
        )


FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _frame_size(value: Any) -> tuple[int, int] | None:
    try:
        return parse_frame_size(value)
    except ValueError as err:
        raise ConfigError(str(err)) from None


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
    values = dataset_defaults(dataset)
    values.update(given, dataset=dataset)
    if "warmup_epochs" not in given:  # a table warm-up takes at most a quarter of a short run
        values["warmup_epochs"] = min(values["warmup_epochs"], values["epochs"] // 4)
    if "frame_size" in given:
        values["frame_size"] = _frame_size(given["frame_size"])
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
        (c.tks_teacher in TEACHER_REDUCE, f"tks_teacher: {TEACHER_REDUCE}, not {c.tks_teacher!r}"),
        (c.tks_no_teacher in NO_TEACHER, f"tks_no_teacher: {NO_TEACHER}, not {c.tks_no_teacher!r}"),
        (0 <= c.val_fraction < 1, f"val_fraction must lie in [0, 1), got {c.val_fraction}"),
        (c.select in SELECT_RULES, f"select must be one of {SELECT_RULES}, got {c.select!r}"),
        (
            c.select != "val" or c.val_fraction > 0,
            "select 'val' needs a validation split: set val_fraction > 0 or select 'last'",
        ),
        (
            c.neuron is None or c.neuron in NEURON_PRESETS,
            f"neuron must be one of {sorted(NEURON_PRESETS)} (or unset), got {c.neuron!r}",
        ),
        (c.workers >= 0, f"workers must be >= 0, got {c.workers}"),
        (c.limit_train is None or c.limit_train >= 1, f"limit_train must be >= 1: {c.limit_train}"),
        (c.limit_test is None or c.limit_test >= 1, f"limit_test must be >= 1: {c.limit_test}"),
        (
            c.device in ("auto", "cpu", "cuda") or c.device.startswith("cuda:"),
            f"device must be auto, cpu, cuda or cuda:N, got {c.device!r}",
        ),
        (c.threads is None or c.threads >= 1, f"threads must be >= 1, got {c.threads}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if c.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {c.device!r} requested but CUDA is not available; use cpu or auto"
        )
    if c.neuron_kernels not in NEURON_KERNELS:
        raise ConfigError(
            f"neuron_kernels must be one of {NEURON_KERNELS}, got {c.neuron_kernels!r}"
        )
    if c.publish is not None and (Path(c.publish).name != c.publish or c.publish.startswith(".")):
        raise ConfigError(f"publish name must be a plain file stem, got {c.publish!r}")
    c.framing()  # FrameConfig checks (size, crop)
    try:
        parse_augment(c.augment)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def resume_config(
    saved: TrainConfig,
    overrides: Mapping[str, Any] | argparse.Namespace | None,
    run_dir: str | Path,
) -> TrainConfig:
    """The saved config of a run to resume, with runtime settings (:data:`RUNTIME_FIELDS`)
    replaced where given. Any other given setting must equal the saved one."""
    given = _given(overrides)
    if "frame_size" in given:
        given["frame_size"] = _frame_size(given["frame_size"])
    if "dataset" in given:
        given["dataset"] = get_spec(given["dataset"]).name
    check_same_run(saved, dataclasses.replace(saved, **given))
    runtime = {
        k: str(v) if k.endswith(("_dir", "_root")) else v
        for k, v in given.items()
        if k in RUNTIME_FIELDS
    }
    runtime.setdefault("out_dir", str(run_dir))
    config = dataclasses.replace(saved, **runtime)
    check_config(config)
    return config


def check_same_run(saved: TrainConfig, config: TrainConfig) -> None:
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


def architecture(config: TrainConfig) -> str | dict[str, Any]:
    """The run's architecture: a registered name, or the spec read from ``arch_file``."""
    return load_arch_file(config.arch_file) if config.arch_file else config.model


def planned_input_shape(config: TrainConfig) -> tuple[int, int, int]:
    """(C, H, W) of the run's frames, from the dataset's sensor and the framing (no data read)."""
    width, height, polarities = get_spec(config.dataset).sensor_size
    h, w = config.frame_size or (height, width)
    return (int(polarities), int(h), int(w))


def model_config(
    config: TrainConfig, input_shape: tuple[int, ...], num_classes: int
) -> ModelConfig:
    """The run's network: its architecture at this input, with the neuron preset if set."""
    arch = architecture(config)
    extra = {"neuron": dict(NEURON_PRESETS[config.neuron])} if config.neuron else {}
    return make_config(arch, input_shape, num_classes, **extra)


def check_architecture(config: TrainConfig) -> DeployCheck:
    """Refuse, before any data is read, an architecture/input size that Lava cannot run.

    The class count is not known before the data is read; the readout is a dense layer, which
    deploys for any count, so the check uses the spec's own or 2.
    """
    arch = architecture(config)
    classes = arch.get("num_classes", 2) if isinstance(arch, dict) else 2
    try:
        return check_deployable(model_config(config, planned_input_shape(config), classes))
    except ArchitectureError as err:
        raise ConfigError(f"{err}\n(checked before training: nothing was written)") from None
