"""The data of a run: both splits (frame caches), fixed subsets and each epoch's sample order."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from tks_lava.data.frames import FrameConfig
from tks_lava.data.registry import get_spec
from tks_lava.training.config import ConfigError, TrainConfig


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


def make_loader(ds: Dataset, batch_size: int, order: list[int] | None, workers: int) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=order if order is not None else range(len(ds)),  # type: ignore[arg-type]
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),  # keeps the global RNG untouched
        persistent_workers=False,
    )
