"""Early exit: accuracy vs. mean timesteps used, and SynOps per sample, TKS vs. baseline.

Logits are the PyTorch (SLAYER) model's on the whole test split: Lava's are bit-identical
(checked by the test suite, and on the deployment benchmark's samples by ``bench_lava``), and
the Lava CPU simulation would take minutes per model for the 510 samples. Accuracy and SynOps
are deterministic, so this section runs once (no repeats).

Per model: per-step and running-mean accuracy at every t (``t = 1, 3, T`` in the tables),
confidence early exit for each threshold of :data:`tks_lava.metrics.accuracy.EXIT_THRESHOLDS`
(mean steps, accuracy, SynOps spent until exit), AURC, and SynOps
(:mod:`benchmarks.count_synops`) per sample per step, per layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.count_synops import SynOpsCounter, ops_at_exit
from benchmarks.settings import RunContext, Settings
from benchmarks.shipped_models import find_or_log, load_test_split
from tks_lava.metrics.accuracy import EXIT_THRESHOLDS

BATCH = 64
#: the plot's file name in the results folder (the section file stores the name)
PLOT = "early_exit.png"


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


def evaluate_model(
    logits: np.ndarray,
    labels: np.ndarray,
    ops: dict[str, np.ndarray],
    spikes: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Accuracy, early exit and SynOps figures of one model (JSON-ready)."""
    from tks_lava import metrics

    n, _, t = logits.shape
    total = sum(ops.values())  # (N, T)
    per_step = metrics.per_step_accuracy(logits, labels)
    cum = metrics.cumulative_accuracy(logits, labels)
    exits = []
    for th in EXIT_THRESHOLDS:
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


def plot(results: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Accuracy vs. mean steps over the threshold sweep
    (:func:`tks_lava.metrics.plots.early_exit_curve`), with the fixed-t running-mean accuracy
    dashed. ``results``: model name -> (logits (N, C, T), labels (N,))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tks_lava import metrics
    from tks_lava.metrics import plots

    n = len(next(iter(results.values()))[1])
    fig = plots.early_exit_curve(
        results, EXIT_THRESHOLDS, title=f"Early exit on the test split ({n} samples)"
    )
    ax = fig.axes[0]
    for i, (name, (logits, labels)) in enumerate(results.items()):
        t = np.arange(1, logits.shape[-1] + 1)
        acc = 100 * metrics.cumulative_accuracy(logits, labels)
        ax.plot(t, acc, "x--", color=f"C{i}", alpha=0.6, label=f"{name}: fixed t (running mean)")
    ax.legend(title="labels: confidence threshold", fontsize=8)
    plots.save(fig, path)
    plt.close(fig)
    return path


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Accuracy, early exit and SynOps of every shipped model; the section's JSON payload."""
    from tks_lava.model.export import load_torch_model

    found, skipped = find_or_log(ctx, "early_exit")
    out: dict[str, Any] = {
        "logits": "PyTorch (SLAYER) forward; bit-identical to Lava (see the deployment section)",
        "thresholds": list(EXIT_THRESHOLDS),
        "models": {},
        "skipped": skipped,
        "plot": None,
    }
    scored = {}
    for name, shipped in found.items():
        frames, labels = load_test_split(shipped, limit=settings.eval_samples)
        ctx.log(f"early_exit: {name} on {len(frames)} test samples")
        model = load_torch_model(shipped.weights)
        logits, ops, spikes = logits_and_synops(model, frames)
        out["models"][name] = evaluate_model(logits, labels, ops, spikes)
        out["models"][name]["method"] = shipped.card.method
        scored[name] = (logits, labels)
    names = list(out["models"])
    if len(names) == 2 and np.array_equal(*(labels for _, labels in scored.values())):
        a, b = (out["models"][k]["synops"]["per_sample"] for k in names)
        out["synops_ratio"] = {"pair": names, "ratio": a / b if b else None}
    if scored:
        out["plot"] = plot(scored, ctx.out_dir / PLOT).name
    return out
