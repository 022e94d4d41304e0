"""Early exit: accuracy vs. mean timesteps used, and SynOps per sample, TKS vs. baseline.

Logits are the PyTorch (SLAYER) model's on the whole test split: Lava's are bit-identical
(checked by the test suite, and on the deployment benchmark's samples by ``bench_lava``), and
the Lava CPU simulation would take minutes per model for the 510 samples. Accuracy and SynOps
are deterministic, so this section runs once (no repeats).

Per model: per-step and running-mean accuracy at every t (``t = 1, 3, T`` in the tables),
confidence early exit for each threshold of :data:`benchmarks.settings.THRESHOLDS` (mean steps,
accuracy, SynOps spent until exit), AURC, and SynOps (:mod:`benchmarks.synops`) per sample per
step, per layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.settings import THRESHOLDS, Settings
from benchmarks.shipped import find_shipped, load_test_split
from benchmarks.synops import SynOpsCounter, ops_at_exit

BATCH = 64


def logits_and_synops(
    model: torch.nn.Module, frames: torch.Tensor, batch: int = BATCH
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-step logits (N, C, T), SynOps (N, T) and input spikes (N, T) per weighted layer."""
    from tks_lava.deploy.window import torch_logits

    with SynOpsCounter(model, frames.shape[-1]) as counter:
        logits = torch_logits(model, frames, batch)
    return logits, counter.per_layer, counter.input_spikes


def t_points(timesteps: int) -> list[int]:
    """The steps reported in the tables: 1, 3 and T (those that exist, no duplicates)."""
    return sorted({t for t in (1, 3, timesteps) if 1 <= t <= timesteps})


def evaluate_model(logits: np.ndarray, labels: np.ndarray, ops: dict[str, np.ndarray],
                   spikes: dict[str, np.ndarray]) -> dict[str, Any]:  # fmt: skip
    """Accuracy, early exit and SynOps figures of one model (JSON-ready)."""
    from tks_lava import metrics

    n, _, t = logits.shape
    total = sum(ops.values())  # (N, T)
    per_step = metrics.per_step_accuracy(logits, labels)
    cum = metrics.cumulative_accuracy(logits, labels)
    exits = []
    for th in THRESHOLDS:
        ee = metrics.early_exit(logits, labels, th)
        spent = ops_at_exit(total, ee.exit_steps)
        exits.append(
            {
                "threshold": th,
                "mean_steps": ee.mean_steps,
                "accuracy": ee.accuracy,
                "synops_per_sample": float(spent.mean()),
            }
        )
    full = float(total.sum(axis=1).mean())
    return {
        "samples": n,
        "timesteps": t,
        "per_step_accuracy": per_step,
        "cumulative_accuracy": cum,
        "accuracy_at": {str(k): float(cum[k - 1]) for k in t_points(t)},
        "step_accuracy_at": {str(k): float(per_step[k - 1]) for k in t_points(t)},
        "aurc": metrics.aurc(logits, labels),
        "early_exit": exits,
        "synops": {
            "per_sample": full,
            "per_sample_per_step": full / t,
            "per_step": total.mean(axis=0),  # mean over samples, (T,)
            "cumulative_per_step": np.cumsum(total.mean(axis=0)),
            "per_layer_per_sample_per_step": {k: float(v.mean()) for k, v in ops.items()},
            "input_spikes_per_sample_per_step": {k: float(v.mean()) for k, v in spikes.items()},
        },
    }


def plot(results: dict[str, dict[str, Any]], path: Path) -> Path:
    """Accuracy vs. mean steps (threshold sweep), with fixed-t running-mean accuracy dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tks_lava.metrics import plots

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (name, r) in enumerate(results.items()):
        ee = r["early_exit"]
        steps = [e["mean_steps"] for e in ee]
        acc = [100 * e["accuracy"] for e in ee]
        ax.plot(steps, acc, "o-", color=f"C{i}", label=f"{name}: confidence exit")
        t = np.arange(1, r["timesteps"] + 1)
        ax.plot(t, 100 * np.asarray(r["cumulative_accuracy"]), "x--", color=f"C{i}", alpha=0.6,
                label=f"{name}: fixed t (running mean)")  # fmt: skip
    ax.set(
        title=f"Early exit on the test split ({next(iter(results.values()))['samples']} samples)",
        xlabel="mean timesteps used per sample",
        ylabel="test accuracy (%)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=f"thresholds {min(THRESHOLDS)}..{max(THRESHOLDS)}")
    plots.save(fig, path)
    plt.close(fig)
    return path


def run(
    settings: Settings,
    models_dir: str | Path | None = None,
    plot_path: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from tks_lava.model.export import load_torch_model

    found, skipped = find_shipped(models_dir)
    for name, why in skipped.items():
        log(f"early_exit: SKIP {name}: {why}")
    out: dict[str, Any] = {
        "logits": "PyTorch (SLAYER) forward; bit-identical to Lava (see the deployment section)",
        "thresholds": list(THRESHOLDS),
        "models": {},
        "skipped": skipped,
        "plot": None,
    }
    labels_by_model = {}
    for name, shipped in found.items():
        frames, labels = load_test_split(shipped, limit=settings.eval_samples)
        log(f"early_exit: {name} on {len(frames)} test samples")
        model = load_torch_model(shipped.weights)
        logits, ops, spikes = logits_and_synops(model, frames)
        out["models"][name] = evaluate_model(logits, labels, ops, spikes)
        out["models"][name]["method"] = shipped.card.method
        labels_by_model[name] = labels
    names = list(out["models"])
    if len(names) == 2 and np.array_equal(*labels_by_model.values()):
        a, b = (out["models"][k]["synops"]["per_sample"] for k in names)
        out["synops_ratio"] = {"pair": names, "ratio": a / b if b else None}
    if out["models"] and plot_path is not None:
        out["plot"] = str(plot(out["models"], plot_path))
    return out
