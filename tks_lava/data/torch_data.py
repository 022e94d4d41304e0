"""torch ``Dataset`` of cached frames in SLAYER layout, and a class-balanced sampler."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tks_lava.data.cache import load_frames
from tks_lava.data.frames import FrameConfig
from tks_lava.data.paths import default_cache_dir
from tks_lava.data.registry import get_spec


class FrameDataset(Dataset):
    """Binned event frames of one split of a registered dataset: ``ds[i] -> (frames, label)``
    with ``frames`` a float32 tensor (C, H, W, T) (batches: (N, C, H, W, T), SLAYER's layout).

    The first construction reads every recording, bins it and writes an HDF5 cache (see
    ``tks_lava.data.cache``); later constructions with the same parameters only open the cache.

    Parameters:
        name: registered dataset name (``tks_lava.data.DATASETS``).
        split: "train" or "test".
        frames: framing; None = the dataset's reference framing (``spec.default_frames()``).
        root: data root; None = the dataset's default (a dataset that generates itself, like
            ndigits, does so on first use, in ``cache_dir`` if given: ``spec.prepare``).
        cache_dir: where ``frames/*.h5`` go; None = ``default_cache_dir()``.
        strict: raise on a corrupt recording instead of skipping it with a warning.
        progress: tqdm bars while generating / building the cache.
        params: the generator's parameters (generated datasets only; ndigits: NDigitsParams).
        rebuild: rebuild the frame cache even if a valid one exists.
        in_memory: keep all frames in RAM; None = if they take <= 1 GiB, else read lazily.
        transform: optional callable applied to each frames tensor (e.g. augmentation).
    """

    def __init__(
        self,
        name: str,
        split: str = "train",
        frames: FrameConfig | None = None,
        root: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        strict: bool = False,
        progress: bool = True,
        *,
        params: Any = None,
        rebuild: bool = False,
        in_memory: bool | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.spec = get_spec(name)
        self.name = self.spec.name
        self.split = split
        self.frame_config = frames if frames is not None else self.spec.default_frames()
        self.transform = transform
        root = self.spec.prepare(root, params=params, progress=progress, cache_dir=cache_dir)
        self.root = Path(root).resolve()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self._cache, self.cache_hit = load_frames(
            self.spec,
            self.root,
            split,
            self.frame_config,
            self.cache_dir,
            strict=strict,
            progress=progress,
            rebuild=rebuild,
            in_memory=in_memory,
        )
        cached = self._cache
        self.cache_path: Path = cached.path
        self.classes: list[str] = list(cached.classes)
        self.labels: np.ndarray = cached.labels
        self.files: list[Path] = [self.root / f for f in cached.files]
        self.skipped: list[Path] = [self.root / f for f, _ in cached.skipped]
        self.skip_reasons: list[str] = [why for _, why in cached.skipped]
        self.n_events: np.ndarray = cached.n_events
        self.build_seconds: float = cached.build_seconds

    # ------------------------------------------------------------------ metadata
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame."""
        return tuple(int(s) for s in self._cache.shape[1:4])  # type: ignore[return-value]

    @property
    def timesteps(self) -> int:
        return int(self._cache.shape[4])

    @property
    def in_memory(self) -> bool:
        return self._cache.frames is not None

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)

    # ------------------------------------------------------------------ data
    def __len__(self) -> int:
        return int(self.labels.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        x = _to_float_tensor(self._cache.sample(i))
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.labels[i])

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All frames (N, C, H, W, T) float32 and labels (N,) int64, for small datasets."""
        return _to_float_tensor(self._cache.read_all()), torch.from_numpy(self.labels.copy())

    def __repr__(self) -> str:
        return (
            f"FrameDataset({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.num_classes}, shape={self.input_shape + (self.timesteps,)}, "
            f"cache={self.cache_path.name})"
        )


def _to_float_tensor(raw: np.ndarray) -> torch.Tensor:
    """float32 tensor of cached frames: numpy for uint16 counts, torch for float16 (10x faster
    than numpy's float16 conversion)."""
    if raw.dtype == np.float16:
        return torch.from_numpy(np.ascontiguousarray(raw)).to(torch.float32)
    return torch.from_numpy(raw.astype(np.float32))


def balanced_indices(labels: np.ndarray, num_samples: int, generator: torch.Generator) -> list[int]:
    """Indices drawing every class equally often (weights 1 / class count, with replacement),
    as the reference does for N-Caltech101. A list of indices is a valid DataLoader sampler."""
    labels = np.asarray(labels)
    weights = torch.as_tensor(1.0 / np.bincount(labels)[labels], dtype=torch.double)
    return torch.multinomial(weights, num_samples, replacement=True, generator=generator).tolist()
