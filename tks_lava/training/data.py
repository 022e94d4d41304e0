"""The data of a run: train/validation/test (frame caches), fixed subsets, each epoch's order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from tks_lava.data.frames import FrameConfig
from tks_lava.data.registry import get_spec
from tks_lava.training.config import ConfigError, TrainConfig

#: Seed of the validation split: one split for every training seed, so seeds differ only in
#: initialisation and data order and runs of different methods see the same training samples.
VAL_SEED = 0
#: Batches each DataLoader worker reads ahead (with ``workers`` > 0).
PREFETCH_BATCHES = 4


class DataBundle(NamedTuple):
    """The splits of a run's data plus what the model and the model card need.

    ``val`` is carved from the dataset's train split (:func:`validation_split`); ``train`` is
    the rest. ``val_split`` describes it for the card (fraction, seed, size, index hash).
    """

    train: Dataset
    val: Dataset | None
    test: Dataset
    train_labels: np.ndarray
    val_labels: np.ndarray
    test_labels: np.ndarray
    classes: list[str]
    input_shape: tuple[int, int, int]
    framing: FrameConfig
    dataset_params: dict[str, Any] | None
    val_split: dict[str, Any]


def validation_split(
    labels: np.ndarray, fraction: float, seed: int = VAL_SEED, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices: per class, whole groups drawn at random until the class has given
    ``ceil(fraction * n_c)`` samples to validation. A class with one group gives none.

    ``groups``: a group id per sample (e.g. the source image of ndigits' three variants), so no
    object lands in both parts; None = every sample its own group. Deterministic in ``seed``.
    """
    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        ids = np.unique(groups[idx])
        if fraction <= 0 or ids.size < 2:
            continue
        want = int(np.ceil(fraction * idx.size))
        taken: list[np.ndarray] = []
        for g in rng.permutation(ids)[:-1]:  # always leave one group for training
            if sum(t.size for t in taken) >= want:
                break
            taken.append(idx[groups[idx] == g])
        val += taken
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    return np.setdiff1d(np.arange(len(labels)), val_idx), val_idx


def _subset(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a fixed random subset of ``limit`` samples (all if None)."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    g = torch.Generator().manual_seed(seed)
    return np.sort(torch.randperm(len(labels), generator=g)[:limit].numpy())


def _part(ds: Any, idx: np.ndarray) -> Dataset:
    return ds if len(idx) == len(ds) else Subset(ds, idx.tolist())


def load_data(config: TrainConfig, progress: bool = True, download: bool = False) -> DataBundle:
    """Open (building the frame caches on first use) the train, validation and test splits.

    ``limit_train`` subsets the train split first; the validation part is carved from what is
    left (``config.val_fraction``). ``download``: fetch a missing real dataset first
    (``DatasetSpec.prepare``); a generated dataset (ndigits) is made on first use anyway.
    """
    from tks_lava.data.torch_data import FrameDataset

    spec = get_spec(config.dataset)
    if download:
        spec.prepare(config.data_root, download=True, progress=progress, cache_dir=config.cache_dir)
    framing = config.framing()
    kw = {"frames": framing, "root": config.data_root, "cache_dir": config.cache_dir}
    train_ds = FrameDataset(config.dataset, "train", progress=progress, **kw)
    test_ds = FrameDataset(config.dataset, "test", progress=progress, **kw)
    if train_ds.classes != test_ds.classes:
        raise ConfigError(f"train and test classes differ under {train_ds.root}")
    pool = _subset(np.asarray(train_ds.labels), config.limit_train, config.seed)
    groups = train_ds.spec.groups(train_ds.root, train_ds.files)
    fit, val = validation_split(
        train_ds.labels[pool],
        config.val_fraction,
        VAL_SEED,
        None if groups is None else groups[pool],
    )
    fit, val = pool[fit], pool[val]
    if config.select == "val" and val.size == 0:
        raise ConfigError(
            f"the validation split is empty ({len(pool)} train samples, val_fraction "
            f"{config.val_fraction}); give more samples or use --select last"
        )
    test = _subset(np.asarray(test_ds.labels), config.limit_test, config.seed + 1)
    val_split = {
        "fraction": config.val_fraction,
        "seed": VAL_SEED,
        "n": int(val.size),
        "grouped_by": "source image" if groups is not None else None,
        "indices_sha256": hashlib.sha256(val.astype(np.int64).tobytes()).hexdigest(),
    }
    return DataBundle(
        _part(train_ds, fit),
        _part(train_ds, val) if val.size else None,
        _part(test_ds, test),
        train_ds.labels[fit],
        train_ds.labels[val],
        test_ds.labels[test],
        list(train_ds.classes),
        train_ds.input_shape,
        framing,
        train_ds.spec.generator_params(train_ds.root),
        val_split,
    )


def epoch_order(labels: np.ndarray, epoch: int, seed: int, balanced: bool) -> list[int]:
    """Sample order of 0-based ``epoch``, a function of ``(seed, epoch)`` only.

    ``balanced``: ``len(labels)`` draws with replacement, every class equally often
    (:func:`tks_lava.data.torch_data.balanced_indices`); else a permutation.
    """
    from tks_lava.data.torch_data import balanced_indices

    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(epoch)) % (2**63))
    if balanced:
        return balanced_indices(labels, len(labels), g)
    return torch.randperm(len(labels), generator=g).tolist()


class EpochBatches(Sampler[list[int]]):
    """This process's part of each global batch of an epoch (a DataLoader ``batch_sampler``).

    Every process walks the same :func:`epoch_order` in global batches of ``batch_size``;
    process ``rank`` of ``world`` takes its contiguous part of each (sizes differ by at most
    one), so the parts of ``world`` processes are exactly the batches of one process. A process
    whose part of a short last batch is empty gets that batch's first sample with weight 0
    (DDP needs a forward on every process). :meth:`share` gives the loss scale that makes DDP's
    gradient average equal the global batch's mean. Call :meth:`set_epoch` before each epoch;
    one loader then serves every epoch (persistent workers).
    """

    def __init__(
        self,
        labels: np.ndarray,
        batch_size: int,
        seed: int,
        balanced: bool,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if batch_size < 1 or not 0 <= rank < world:
            raise ValueError(f"bad batching: batch {batch_size}, rank {rank} of {world}")
        self.labels, self.batch_size = np.asarray(labels), int(batch_size)
        self.seed, self.balanced = int(seed), bool(balanced)
        self.rank, self.world = int(rank), int(world)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of 0-based ``epoch`` (a function of ``(seed, epoch)`` only)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def _bounds(self, step: int) -> tuple[int, int, int]:
        """(start, end) of this process's part within global batch ``step``, and its size."""
        size = min(self.batch_size, len(self.labels) - step * self.batch_size)
        base, extra = divmod(size, self.world)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra), size

    def share(self, step: int) -> tuple[int, float]:
        """(samples of this process that count, loss scale) for global batch ``step``: the
        scale ``n_rank * world / n_batch`` turns DDP's mean over processes of per-process means
        into the mean over the global batch (1.0 for one process)."""
        start, end, size = self._bounds(step)
        return end - start, (end - start) * self.world / size

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.labels, self.epoch, self.seed, self.balanced)
        for step in range(len(self)):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            start, end, _ = self._bounds(step)
            yield batch[start:end] if end > start else batch[:1]


def make_loader(ds: Dataset, batches: Sampler[list[int]], workers: int, pin: bool) -> DataLoader:
    """A loader of ``ds`` in ``batches``: ``workers`` processes that persist across epochs and
    prefetch (each opens the HDF5 frame cache itself, lazily); ``pin``: page-locked batches for
    fast, asynchronous copies to a GPU."""
    return DataLoader(
        ds,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(0),  # keeps the global RNG untouched
        persistent_workers=workers > 0,
        prefetch_factor=PREFETCH_BATCHES if workers > 0 else None,
    )
