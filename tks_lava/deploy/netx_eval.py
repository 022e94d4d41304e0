"""Evaluate a published NetX model in Lava on its dataset: per-step logits, metrics, parity.

The library behind ``python -m tks_lava.run_netx`` and the notebooks. A model is addressed by
its model card (``netx_models/NAME.json``, or the ``.net`` beside it); the card says which
dataset, frames and T it expects and pins the ``.net`` by sha256. The network runs on the
first ``t`` frames of each sample (early exit at a fixed step), and the PyTorch model runs on
the same frames for the parity check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tks_lava import metrics
from tks_lava.model.card import ModelCard
from tks_lava.model.evaluation import ModelMismatchError, class_interleaved_order, load_eval_data
from tks_lava.model.shipped import SHIPPED_TKS, find_models_dir, models_not_found

__all__ = [
    "DEFAULT_MODEL",
    "LavaSettings",
    "ModelMismatchError",
    "NetxEvaluation",
    "Samples",
    "check_netx_file",
    "class_interleaved_order",
    "evaluate_netx",
    "load_checked_card",
    "load_eval_data",
    "resolve_card_path",
]

DEFAULT_MODEL = SHIPPED_TKS


def resolve_card_path(
    model: str | Path | None, models_dir: str | Path | None = None, dataset: str | None = None
) -> Path:
    """Card path for ``model``: a card, a ``.net`` with its card beside it, or a published name
    in ``models_dir`` (default: :func:`~tks_lava.model.shipped.find_models_dir`); a NIR graph
    (``.nir``) is converted once into a card + ``.net`` + ``.pt`` (``dataset``: the data a
    graph from another framework classifies; :func:`tks_lava.nir.convert.card_for_nir`)."""
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix == ".nir":
        from tks_lava.nir.convert import card_for_nir

        return card_for_nir(path, dataset=dataset)
    if path.suffix == ".net":
        candidates = [path.with_suffix(".json"), path.parent / "model_card.json"]
    elif path.suffix == ".json":
        candidates = [path]
    elif (base := find_models_dir(models_dir)) is None:  # a published name, nowhere to look
        raise FileNotFoundError(models_not_found(f"model {model!r}"))
    else:
        candidates = [base / f"{model}.json"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no model card for {model!r} (looked for {', '.join(map(str, candidates))}); "
        "train and publish one with `python -m tks_lava.train --publish NAME`, pass "
        "--model netx_models/NAME.json, or name the models folder with --models-dir DIR or "
        "TKS_LAVA_MODELS=DIR"
    )


def check_netx_file(net_path: Path) -> None:
    """Fail clearly unless ``net_path`` is a readable NetX HDF5 file."""
    import h5py

    if not net_path.is_file():
        raise FileNotFoundError(f"{net_path}: NetX file not found")
    try:
        with h5py.File(net_path, "r") as h:
            if "layer" not in h or not len(h["layer"]):
                raise ModelMismatchError(
                    f"{net_path}: HDF5 file has no 'layer' group; not a NetX network "
                    "(export one with tks_lava.model.export.export_netx)"
                )
    except OSError as err:
        raise ModelMismatchError(f"{net_path}: not a readable HDF5 file ({err})") from err


@dataclass
class NetxEvaluation:
    """Lava and PyTorch per-step logits of one model on the same samples, with metrics."""

    name: str
    card: ModelCard
    labels: np.ndarray
    lava_logits: np.ndarray  # (N, classes, t)
    torch_logits: np.ndarray | None
    backend: str
    timings: dict[str, float] = field(default_factory=dict)
    protocol: str = "prefix"
    exit_run: Any = None  # tks_lava.deploy.early_exit.LavaExitRun, when early exit ran inside Lava

    @property
    def timesteps(self) -> int:
        return self.lava_logits.shape[-1]

    def summary(self, exit_threshold: float | None = None) -> dict[str, Any]:
        """JSON-ready results (the ``--out`` file of run_netx)."""
        logits, labels = self.lava_logits, self.labels
        out: dict[str, Any] = {
            "model": self.name,
            "method": self.card.method,
            "dataset": self.card.dataset,
            "backend": self.backend,
            "n_samples": int(len(labels)),
            "protocol": self.protocol,
            "timesteps": self.timesteps,
            "trained_timesteps": self.card.timesteps,
            "per_step_accuracy": metrics.per_step_accuracy(logits, labels).tolist(),
            "cumulative_accuracy": metrics.cumulative_accuracy(logits, labels).tolist(),
            "accuracy_at_t": metrics.accuracy_at(logits, labels, self.timesteps),
            **self.timings,
        }
        if self.torch_logits is not None:
            out["torch_agreement"] = {
                "argmax_agreement": metrics.argmax_agreement(logits, self.torch_logits),
                "max_abs_logit_diff": metrics.max_abs_diff(logits, self.torch_logits),
                "n_pairs": int(logits.shape[0] * logits.shape[-1]),
                "torch_cumulative_accuracy": metrics.cumulative_accuracy(
                    self.torch_logits, labels
                ).tolist(),
            }
        if exit_threshold is not None:
            ee = metrics.early_exit(logits, labels, exit_threshold)
            out["early_exit"] = {
                "threshold": exit_threshold,
                "accuracy": ee.accuracy,
                "mean_steps": ee.mean_steps,
            }
        if self.exit_run is not None:
            out["lava_early_exit"] = self.lava_exit_summary()
        return out

    def lava_exit_summary(self) -> dict[str, Any]:
        """The in-Lava early-exit run against the fixed-window run of the same samples
        (:meth:`tks_lava.deploy.early_exit.LavaExitRun.against_window`)."""
        return self.exit_run.against_window(
            self.lava_logits, self.timings["lava_run_s"], self.labels
        )


@dataclass(frozen=True)
class Samples:
    """Which samples, and under which protocol: the card's dataset (or ``dataset``), ``split``,
    the first ``limit`` in class round-robin order (:func:`class_interleaved_order`).

    *Prefix* protocol (default): the first ``t`` of the card's T frames (default: all).
    *Re-binned* (``rebin``): each whole recording framed into that many frames; excludes ``t``.
    """

    t: int | None = None
    rebin: int | None = None
    dataset: str | None = None
    split: str = "test"
    limit: int | None = None
    data_root: str | Path | None = None
    cache_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if self.rebin is not None and (self.t is not None or self.rebin < 1):
            raise ValueError(f"--rebin takes a frame count >= 1 and excludes --t, got {self.rebin}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")

    @property
    def protocol(self) -> str:
        return "prefix" if self.rebin is None else "rebinned"

    def load(self, card: ModelCard, progress: bool = True) -> tuple[Any, np.ndarray]:
        """Frames (N, C, H, W, t) and labels of these samples for the model of ``card``."""
        window = card.timesteps if self.rebin is None else int(self.rebin)
        t = window if self.t is None else int(self.t)
        if not 1 <= t <= window:
            raise ValueError(f"--t must be between 1 and the model's {window} timesteps, got {t}")
        frames, labels = load_eval_data(
            card,
            dataset=self.dataset,
            split=self.split,
            limit=self.limit,
            rebin=self.rebin,
            data_root=self.data_root,
            cache_dir=self.cache_dir,
            progress=progress,
        )
        return frames[..., :t], labels


@dataclass(frozen=True)
class LavaSettings:
    """How the samples go through Lava: ``backend`` (``sim`` or ``loihi2``), the simulator's
    process ``models`` (``fast`` or ``reference``, :mod:`tks_lava.deploy.process_models`),
    ``jobs`` runtimes side by side (default: :func:`tks_lava.deploy.window.default_jobs`), the
    PyTorch ``parity`` run, and ``exit_in_lava``: a threshold at which the samples are also run
    with early exit inside Lava (:func:`tks_lava.deploy.early_exit.run_lava_exit`)."""

    backend: str = "sim"
    models: str = "fast"
    jobs: int | None = None
    parity: bool = True
    exit_in_lava: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs}")
        if self.exit_in_lava is not None:
            metrics.check_threshold(self.exit_in_lava)


def load_checked_card(
    model: str | Path | None, dataset: str | None = None
) -> tuple[Path, ModelCard, dict[str, Path]]:
    """(card path, card, its files) of ``model`` (see :func:`resolve_card_path`), after checking
    that the ``.net`` is a NetX file and the one the card pins by sha256."""
    card_path = resolve_card_path(model, dataset=dataset)
    card = ModelCard.load(card_path)
    files = card.files(card_path)
    check_netx_file(files["net"])
    card.verify(files["net"])
    return card_path, card, files


def evaluate_netx(
    model: str | Path | None = None,
    samples: Samples = Samples(),
    lava: LavaSettings = LavaSettings(),
) -> NetxEvaluation:
    """Run a published model in Lava on ``samples`` (default: the card's whole test split,
    all T frames) as ``lava`` says (default: the simulator with the fast models, with the
    PyTorch parity run)."""
    from tks_lava.deploy.window import default_jobs, run_lava, torch_logits
    from tks_lava.model.export import load_torch_model

    card_path, card, files = load_checked_card(model, samples.dataset)
    t0 = time.perf_counter()
    frames, labels = samples.load(card, progress=lava.progress)
    jobs = default_jobs(len(frames)) if lava.jobs is None else lava.jobs
    options = dict(backend=lava.backend, models=lava.models, jobs=jobs, progress=lava.progress)
    run = run_lava(files["net"], frames, **options)
    exit_run = None
    if lava.exit_in_lava is not None:
        from tks_lava.deploy.early_exit import run_lava_exit

        exit_run = run_lava_exit(files["net"], frames, lava.exit_in_lava, **options)
    torch_out = None
    if lava.parity:
        torch_out = torch_logits(load_torch_model(files["weights"]), frames)
    timings = {
        "wall_s": time.perf_counter() - t0,
        "lava_compile_s": run.compile_s,
        "lava_run_s": run.run_s,
        "steps_per_s": run.steps_per_s,
        "samples_per_s": run.samples_per_s,
        "lava_steps": run.steps,
        "window": run.window,
        "lava_models": lava.models,
        "jobs": jobs,
    }
    return NetxEvaluation(
        name=card_path.stem,
        card=card,
        labels=labels,
        lava_logits=run.logits,
        torch_logits=torch_out,
        backend=lava.backend,
        timings=timings,
        protocol=samples.protocol,
        exit_run=exit_run,
    )
