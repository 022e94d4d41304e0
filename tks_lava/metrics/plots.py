"""Matplotlib figures of per-step results, shared by the notebooks, the demo and benchmarks.

Each function draws into a new figure (or the given axes) and returns the figure; ``save``
writes it atomically as PNG. Inputs are the arrays of :mod:`tks_lava.metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tks_lava import metrics


def _figure(ax=None, size=(6.4, 4.0)):  # noqa: ANN001, ANN202 - matplotlib objects
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=size)
    return ax.figure, ax


#: the two curves of :func:`per_step_accuracy`: (metric, line style, legend text)
STEP_CURVES = (
    (metrics.per_step_accuracy, "o-", "step t alone"),
    (metrics.cumulative_accuracy, "s--", "mean of steps 1..t"),
)


def _label_thresholds(ax, thresholds, x, y, i: int) -> None:  # noqa: ANN001 - matplotlib axes
    """Write each threshold beside its point (x, accuracy y in [0, 1]) of curve ``i``."""
    for th, xi, yi in zip(thresholds, x, y, strict=True):
        offset = (4, -10 if i else 4)  # the second curve's labels below its points
        text = {"textcoords": "offset points", "xytext": offset, "fontsize": 6, "color": f"C{i}"}
        ax.annotate(f"{th:g}", (xi, 100 * yi), **text)


def per_step_accuracy(results: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, ax=None):  # noqa: ANN001, ANN201
    """Accuracy of each step alone (solid) and of the running mean (dashed), per model.

    ``results`` maps a label to ``(logits (N, C, T), labels (N,))``.
    """
    fig, ax = _figure(ax)
    for i, (name, (logits, labels)) in enumerate(results.items()):
        color = f"C{i}"
        steps = np.arange(1, logits.shape[-1] + 1)
        for accuracy, style, what in STEP_CURVES:
            y = 100 * accuracy(logits, labels)
            ax.plot(steps, y, style, color=color, label=f"{name}: {what}")
    ax.set(
        title=title, xlabel="t: first t frames of T (prefix protocol)", ylabel="test accuracy (%)"
    )
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def early_exit_curve(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    thresholds: Sequence[float] = metrics.EXIT_THRESHOLDS,
    title: str = "Confidence early exit",
    ax=None,  # noqa: ANN001
):  # noqa: ANN201
    """Accuracy vs mean timesteps used, sweeping the confidence threshold, per model."""
    fig, ax = _figure(ax)
    for i, (name, (logits, labels)) in enumerate(results.items()):
        curve = metrics.early_exit_curve(logits, labels, thresholds)
        ax.plot(curve.mean_steps, 100 * curve.accuracy, "o-", color=f"C{i}", label=name)
        _label_thresholds(ax, curve.thresholds, curve.mean_steps, curve.accuracy, i)
    ax.set(
        title=title,
        xlabel="mean frames used per sample (prefix, confidence exit)",
        ylabel="test accuracy (%)",
    )
    ax.grid(alpha=0.3)
    ax.legend(title="labels: confidence threshold", fontsize=8)
    return fig


def lava_exit_steps(
    runs: Mapping[str, tuple[object, np.ndarray]],
    title: str = "Early exit inside Lava",
    ax=None,  # noqa: ANN001
):  # noqa: ANN201
    """Lava steps each sample occupied against its post-hoc exit step, per model.

    ``runs``: name -> (:class:`tks_lava.deploy.early_exit.LavaExitRun`, post-hoc exit steps (N,)).
    Marker area counts the samples; the dashed line is the fixed window every sample gets
    without early exit, the dotted one the pipeline's minimum (exit step + latency + 1).
    """
    fig, ax = _figure(ax)
    first, post0 = next(iter(runs.values()))
    window = first.window
    for i, (name, (run, post)) in enumerate(runs.items()):
        pairs, counts = np.unique(np.stack([post, run.lava_steps], 1), axis=0, return_counts=True)
        ax.scatter(
            pairs[:, 0] + 0.12 * (i - 0.5),
            pairs[:, 1],
            s=6 + 1.5 * counts,
            alpha=0.7,
            color=f"C{i}",
            label=f"{name}: {run.steps:,} steps vs {run.window_steps:,} (exit > {run.threshold:g})",
        )
    t = np.arange(1, first.timesteps + 1)
    ax.plot(t, t + first.latency + 1, ":", color="gray", label="exit step + latency + 1")
    ax.axhline(window, ls="--", color="gray", label=f"fixed window ({window} steps)")
    n = len(post0)
    ax.set(
        title=f"{title} (n={n})",
        xlabel="post-hoc exit step (frames seen)",
        ylabel="Lava steps the sample occupied",
        ylim=(0, window + 2),
    )
    ax.grid(alpha=0.3)
    legend = ax.legend(
        fontsize=7, loc="lower right", title="marker area: samples", title_fontsize=7
    )
    for handle in legend.legend_handles:
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([25])
    return fig


def parity(
    lava_logits: np.ndarray,
    torch_logits: np.ndarray,
    sample: int = 0,
    ax=None,  # noqa: ANN001
    class_names: Sequence[str] | None = None,
):  # noqa: ANN201
    """Lava vs PyTorch logits of one sample over time: a colour per class (lines: PyTorch,
    crosses: Lava fixed point)."""
    fig, ax = _figure(ax)
    steps = np.arange(1, lava_logits.shape[-1] + 1)
    names = list(class_names) if class_names is not None else list(range(lava_logits.shape[1]))
    for c in range(lava_logits.shape[1]):
        color, lava_label = f"C{c % 10}", "Lava (x)" if c == 0 else None
        ax.plot(
            steps, torch_logits[sample, c], "-", color=color, alpha=0.6, label=f"class {names[c]}"
        )
        ax.plot(steps, lava_logits[sample, c], "x", color=color, label=lava_label)
    diff = float(np.abs(lava_logits[sample] - torch_logits[sample]).max())
    ax.set(
        title=f"Sample {sample}: per-step logits, max |diff| = {diff:.3g}",
        xlabel="timestep t",
        ylabel="logit (readout voltage / 4096)",
    )
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, title="PyTorch (lines), Lava (x)")
    return fig


def per_class_accuracy(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    t: int = 1,
    ax=None,  # noqa: ANN001
):  # noqa: ANN201
    """Accuracy of step ``t`` alone, per class, one bar group per model, with 95% Wilson
    intervals (a class has few test samples, so the bars are coarse)."""
    from tks_lava.metrics.stats import wilson_interval

    fig, ax = _figure(ax, size=(7.5, 4.0))
    width = 0.8 / max(len(results), 1)
    x = np.arange(len(class_names))
    counts = None
    for i, (name, (logits, labels)) in enumerate(results.items()):
        acc = metrics.per_class_accuracy(logits, labels, t=t, num_classes=len(class_names))
        counts = np.bincount(np.asarray(labels), minlength=len(class_names))
        lo, hi = wilson_interval(np.round(acc * counts), counts)
        err = 100 * np.vstack([acc - lo, hi - acc])
        ax.bar(x + i * width, 100 * acc, width, yerr=err, capsize=2, label=name, color=f"C{i}")
    ax.set_xticks(x + width * (len(results) - 1) / 2, class_names)
    n = f"n = {int(counts.min())}-{int(counts.max())} per class" if counts is not None else ""
    ax.set(
        title=f"Per-class accuracy of step {t} alone ({n}, 95% Wilson CI)",
        xlabel="class",
        ylabel="test accuracy (%)",
        ylim=(0, 105),
    )
    ax.legend(fontsize=8)
    return fig


def _main_arms(study: Mapping) -> list[str]:
    return [n for n, a in study["arms"].items() if a["main"]]


def _sub(study: Mapping) -> str:
    return f"n={study['n_test']}, {len(study['seeds'])} seeds, mean ± sd"


def study_accuracy(study: Mapping, names: Sequence[str] | None = None):  # noqa: ANN201
    """The study's accuracy under both protocols: prefix (left; running mean solid, step t
    alone dotted) and re-binned (right), mean ± sd over seeds per arm (``study.json``)."""
    import matplotlib.pyplot as plt

    names = list(names or _main_arms(study))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for i, name in enumerate(names):
        s = study["arms"][name]["summary"]
        for key, style, label in (
            ("prefix_cumulative", "-", "mean of frames 1..t"),
            ("prefix_per_step", ":", "step t alone"),
        ):
            m, sd = 100 * np.array(s[key]["mean"]), 100 * np.array(s[key]["sd"])
            t = np.arange(1, len(m) + 1)
            ax1.plot(t, m, style, color=f"C{i}", marker="o", ms=3, label=f"{name}: {label}")
            ax1.fill_between(t, m - sd, m + sd, color=f"C{i}", alpha=0.15)
        ks = [int(k) for k in s["rebinned"]]
        ax2.errorbar(
            ks,
            [100 * s["rebinned"][str(k)]["mean"] for k in ks],
            yerr=[100 * s["rebinned"][str(k)]["sd"] for k in ks],
            fmt="o-",
            color=f"C{i}",
            capsize=3,
            label=name,
        )
    ax1.set(
        title="prefix: the first t of 10 frames",
        xlabel="t (frames seen)",
        ylabel="test accuracy (%)",
    )
    ax2.set(title="re-binned: the whole recording in T' frames", xlabel="T' (frames)")
    fig.suptitle(f"ndigits test split ({_sub(study)})", fontsize=10)
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return fig


def study_early_exit(study: Mapping, names: Sequence[str] | None = None):  # noqa: ANN201
    """The study's confidence early-exit curves, mean ± sd over seeds, thresholds labelled."""
    fig, ax = _figure(size=(6.4, 4.4))
    for i, name in enumerate(names or _main_arms(study)):
        arm = study["arms"][name]
        s = arm["summary"]
        x, y = (
            np.array(s["early_exit_mean_steps"]["mean"]),
            np.array(s["early_exit_accuracy"]["mean"]),
        )
        ax.errorbar(
            x,
            100 * y,
            xerr=s["early_exit_mean_steps"]["sd"],
            yerr=100 * np.array(s["early_exit_accuracy"]["sd"]),
            fmt="o-",
            color=f"C{i}",
            capsize=2,
            label=name,
        )
        _label_thresholds(ax, arm["runs"][0]["early_exit"]["thresholds"], x, y, i)
    ax.set(
        title=f"confidence early exit, labels: threshold ({_sub(study)})",
        xlabel="mean frames used (prefix)",
        ylabel="test accuracy (%)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def study_arms(study: Mapping):  # noqa: ANN201
    """Every arm's prefix accuracy at the pre-registered steps, mean ± sd over seeds."""
    names = list(study["arms"])
    fig, ax = _figure(size=(max(6.4, 1.1 * len(names)), 4.2))
    width = 0.8 / len(study["test_steps"])
    for j, t in enumerate(study["test_steps"]):
        curves = [study["arms"][a]["summary"]["prefix_cumulative"] for a in names]
        x = np.arange(len(names)) + j * width
        means, sds = (
            [100 * c["mean"][t - 1] for c in curves],
            [100 * c["sd"][t - 1] for c in curves],
        )
        ax.bar(x, means, width, yerr=sds, capsize=2, label=f"prefix t={t}")
    ax.set_xticks(np.arange(len(names)) + width, names, rotation=30, ha="right", fontsize=8)
    ax.set(title=f"all arms ({_sub(study)})", ylabel="test accuracy (%)")
    ax.legend(fontsize=8)
    return fig


def save(fig, path: str | os.PathLike) -> Path:  # noqa: ANN001
    """Write ``fig`` as PNG atomically (temp file + rename)."""
    from tks_lava.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)
