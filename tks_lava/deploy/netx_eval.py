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
from tks_lava.model.export import default_publish_dir
from tks_lava.model.shipped import SHIPPED_TKS

__all__ = [
    "DEFAULT_MODEL",
    "ModelMismatchError",
    "NetxEvaluation",
    "check_netx_file",
    "class_interleaved_order",
    "evaluate_netx",
    "load_eval_data",
    "resolve_card_path",
]

DEFAULT_MODEL = SHIPPED_TKS


def resolve_card_path(model: str | Path | None) -> Path:
    """Card path for ``model``: a card, a ``.net`` with its card beside it, or a published name."""
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix == ".net":
        candidates = [path.with_suffix(".json"), path.parent / "model_card.json"]
    elif path.suffix == ".json":
        candidates = [path]
    else:  # a published name
        candidates = [default_publish_dir() / f"{model}.json"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"no model card for {model!r} (looked for {', '.join(map(str, candidates))}); "
        "train and publish one with `python -m tks_lava.train --publish NAME`, or pass "
        "--model netx_models/NAME.json"
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


def evaluate_netx(
    model: str | Path | None = None,
    *,
    t: int | None = None,
    rebin: int | None = None,
    dataset: str | None = None,
    split: str = "test",
    limit: int | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    backend: str = "sim",
    models: str = "fast",
    jobs: int | None = None,
    parity: bool = True,
    exit_in_lava: float | None = None,
    progress: bool = True,
) -> NetxEvaluation:
    """Run a published model in Lava on the first ``t`` frames of each sample (default: all),
    or with ``rebin`` on each whole recording framed into that many frames (re-binned protocol).

    ``models``: ``fast`` or ``reference`` process models (:mod:`tks_lava.deploy.process_models`);
    ``jobs``: Lava runtimes side by side (default: :func:`tks_lava.deploy.window.default_jobs`).
    ``exit_in_lava``: also run the samples with early exit inside Lava at this threshold
    (:func:`tks_lava.deploy.early_exit.run_lava_exit`), to set against the fixed-window run.
    """
    from tks_lava.deploy.window import default_jobs, run_lava, torch_logits
    from tks_lava.model.export import load_torch_model

    card_path = resolve_card_path(model)
    card = ModelCard.load(card_path)
    files = card.files(card_path)
    check_netx_file(files["net"])
    card.verify(files["net"])
    if rebin is not None and (t is not None or rebin < 1):
        raise ValueError(f"--rebin takes a frame count >= 1 and excludes --t, got {rebin}")
    window = card.timesteps if rebin is None else int(rebin)
    t = window if t is None else int(t)
    if not 1 <= t <= window:
        raise ValueError(f"--t must be between 1 and the model's {window} timesteps, got {t}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")

    t0 = time.perf_counter()
    frames, labels = load_eval_data(
        card, dataset=dataset, split=split, limit=limit, rebin=rebin, data_root=data_root,
        cache_dir=cache_dir, progress=progress,
    )  # fmt: skip
    frames = frames[..., :t]
    jobs = default_jobs(len(frames)) if jobs is None else jobs
    lava = run_lava(
        files["net"], frames, backend=backend, models=models, jobs=jobs, progress=progress
    )
    exit_run = None
    if exit_in_lava is not None:
        from tks_lava.deploy.early_exit import run_lava_exit

        exit_run = run_lava_exit(
            files["net"], frames, exit_in_lava, backend=backend, models=models, jobs=jobs,
            progress=progress,
        )  # fmt: skip
    torch_out = None
    if parity:
        torch_out = torch_logits(load_torch_model(files["weights"]), frames)
    timings = {
        "wall_s": time.perf_counter() - t0,
        "lava_compile_s": lava.compile_s,
        "lava_run_s": lava.run_s,
        "steps_per_s": lava.steps_per_s,
        "samples_per_s": lava.samples_per_s,
        "lava_steps": lava.steps,
        "window": lava.window,
        "lava_models": models,
        "jobs": jobs,
    }
    return NetxEvaluation(
        name=card_path.stem,
        card=card,
        labels=labels,
        lava_logits=lava.logits,
        torch_logits=torch_out,
        backend=backend,
        timings=timings,
        protocol="prefix" if rebin is None else "rebinned",
        exit_run=exit_run,
    )
