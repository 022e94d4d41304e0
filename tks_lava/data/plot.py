"""Picture of a few samples' frames over time (ON - OFF counts per time bin)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tks_lava.data.frames import time_bin_index
from tks_lava.io import atomic_path

if TYPE_CHECKING:
    from tks_lava.data.torch_data import FrameDataset


def pick_samples(labels: np.ndarray, n: int) -> list[int]:
    """First sample of ``n`` classes spread over the label range (deterministic)."""
    classes = np.unique(labels)
    chosen = classes[np.linspace(0, classes.size - 1, min(n, classes.size)).round().astype(int)]
    return [int(np.flatnonzero(labels == c)[0]) for c in chosen]


def _bin_edges_ms(dataset: FrameDataset, i: int) -> list[str] | None:
    """ "a-b ms" labels of the time bins of sample ``i`` (None if its events cannot be read)."""
    cfg = dataset.frame_config
    try:
        events, _ = dataset.spec.read_events(dataset.files[i])
    except Exception:  # only a caption: never fail the plot for it
        return None
    t = events["t"] - events["t"][0]
    b = time_bin_index(events["t"], cfg.timesteps, cfg.binning)
    out = []
    for k in range(cfg.timesteps):
        tk = t[b == k]
        out.append(f"{tk.min() / 1e3:.0f}-{tk.max() / 1e3:.0f} ms" if tk.size else "empty")
    return out


def plot_samples(dataset: FrameDataset, path: str | os.PathLike, n_samples: int = 4) -> Path:
    """Save a grid: one row per sample, one column per time bin (colour = ON minus OFF events per
    pixel, red ON, blue OFF) and a last column with all events of the recording (grey).
    Written atomically; returns the path.

    Draws on a standalone ``Figure`` (no pyplot): the caller's backend and open figures are
    never touched, so notebooks keep showing their own plots inline.
    """
    from matplotlib.figure import Figure

    idx = pick_samples(dataset.labels, n_samples)
    t = dataset.timesteps
    fig = Figure(figsize=(1.25 * (t + 1) + 1.0, 1.45 * len(idx) + 1.0))
    axes = fig.subplots(len(idx), t + 1, squeeze=False)
    vmax = 1.0
    rows = []
    for i in idx:
        x = dataset[i][0].numpy()  # (C, H, W, T)
        diff = x[1] - x[0] if x.shape[0] > 1 else x[0]
        rows.append((diff, x.sum(axis=(0, 3))))
        vmax = max(vmax, float(np.abs(diff).max()))
    im = None
    for r, (i, (diff, total)) in enumerate(zip(idx, rows, strict=True)):
        edges = _bin_edges_ms(dataset, i)
        for k in range(t + 1):
            ax = axes[r, k]
            if k < t:
                im = ax.imshow(
                    diff[..., k], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest"
                )
            else:  # all events of the recording, both polarities (grey scale, own range)
                ax.imshow(total, cmap="Greys", vmin=0, interpolation="nearest")
                if r == len(idx) - 1:
                    ax.set_xlabel(f"ON + OFF, max\n{total.max():.0f} / px", fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"bin {k}" if k < t else "all (ON+OFF)", fontsize=8)
            if k < t and edges is not None:
                ax.set_xlabel(edges[k], fontsize=6)
        axes[r, 0].set_ylabel(f"class {dataset.classes[dataset.labels[i]]}\n#{i}", fontsize=8)
    fig.suptitle(
        f"{dataset.name} ({dataset.split}): {t} {dataset.frame_config.binning} bins, "
        f"{dataset.input_shape[1]}x{dataset.input_shape[2]} px; colour = ON - OFF events",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.06, right=0.9, top=0.86, bottom=0.06, wspace=0.08, hspace=0.3)
    cax = fig.add_axes([0.92, 0.1, 0.015, 0.7])
    fig.colorbar(im, cax=cax, label="ON - OFF events per pixel (bins)")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
