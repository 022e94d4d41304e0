"""PyTorch-side evaluation: a model card's data under either protocol, and per-step logits.

The card's data is framed for the *prefix* or the *re-binned* protocol, and the SLAYER model's
per-step logits are computed in batches without gradients (the one such loop in the project).

Two definitions of "accuracy at t" appear everywhere and are labelled: *prefix* (the first t
of the T trained frames; online early exit, what Lava runs) and *re-binned* (the whole
recording framed into T' frames; the paper's "trained with T = 10, tested with T = 1").
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from tks_lava.model.card import ModelCard

PROTOCOLS = ("prefix", "rebinned")


class ModelMismatchError(ValueError):
    """The model card, the .net file and the dataset do not fit together."""


def class_interleaved_order(labels: np.ndarray) -> np.ndarray:
    """Indices visiting the classes round-robin (each class in its own order).

    Splits are stored class by class, so "the first N samples" would be a few classes only;
    any prefix of this order is as class-balanced as N allows and stays deterministic.
    """
    labels = np.asarray(labels)
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return np.lexsort((labels, rank))


def load_eval_data(
    card: ModelCard,
    *,
    dataset: str | None = None,
    split: str = "test",
    limit: int | None = None,
    rebin: int | None = None,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, np.ndarray]:
    """Frames (N, C, H, W, T) and labels of the card's dataset, checked against the card.

    ``rebin``: frame each whole recording into this many frames instead of the card's T (the
    *re-binned* protocol); default: the card's framing (the *prefix* protocol cuts it later).
    """
    from tks_lava.data import FrameDataset

    name = dataset or card.dataset
    framing = card.framing if rebin is None else dataclasses.replace(card.framing, timesteps=rebin)
    ds = FrameDataset(
        name, split=split, frames=framing, root=data_root, cache_dir=cache_dir, progress=progress
    )
    if tuple(ds.input_shape) != tuple(card.input_shape):
        raise ModelMismatchError(
            f"model expects input (C, H, W) = {tuple(card.input_shape)} but dataset "
            f"{name!r} gives {tuple(ds.input_shape)}; use the dataset the model was trained on "
            f"({card.dataset!r}) or retrain"
        )
    if ds.num_classes != card.num_classes:
        raise ModelMismatchError(
            f"model has {card.num_classes} classes but dataset {name!r} has "
            f"{ds.num_classes}; use the dataset the model was trained on ({card.dataset!r})"
        )
    frames, labels = ds.as_tensors()
    if limit is not None:  # a class-balanced prefix, not the first (class-sorted) samples
        keep = torch.as_tensor(class_interleaved_order(labels.numpy())[:limit])
        frames, labels = frames[keep], labels[keep]
    return frames, labels.numpy()


@torch.no_grad()
def forward_logits(
    model: torch.nn.Module,
    data: Dataset | tuple[torch.Tensor, torch.Tensor],
    batch_size: int = 128,
    device: str = "cpu",
    progress: bool = False,
    workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step logits (N, C, T) float32 on the CPU and labels (N,) of a dataset or of
    (frames, labels). The model is put in eval mode for the pass and its mode restored."""
    from tqdm import tqdm

    if isinstance(data, tuple):
        frames, labels = data
        batches = (
            (frames[i : i + batch_size], labels[i : i + batch_size])
            for i in range(0, len(labels), batch_size)
        )
        total = math.ceil(len(labels) / batch_size)
    else:
        batches = DataLoader(data, batch_size=batch_size, num_workers=workers)
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


def rebinned_logits(
    card: ModelCard,
    weights: str | Path,
    timesteps: int,
    *,
    data_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-split logits (N, C, T') of the card's model when each recording is framed into
    ``timesteps`` frames (the re-binned protocol)."""
    from tks_lava.model.export import load_torch_model

    frames, labels = load_eval_data(
        card, rebin=timesteps, data_root=data_root, cache_dir=cache_dir, progress=progress
    )
    return forward_logits(load_torch_model(weights), (frames, torch.as_tensor(labels)))
