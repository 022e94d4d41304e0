"""Base class of a dataset spec: metadata, where the files are, labels, the train/test split.

A spec is a class with class attributes only (like tonic's dataset classes), so adding a dataset
is one small subclass registered in ``tks_lava.data.registry``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import tks_lava.data.aer as aer
from tks_lava.data.frames import FrameConfig, clip_to_sensor
from tks_lava.data.paths import default_data_root


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is not where it was looked; the message says where, the layout, how to get it."""


class DatasetLayoutError(ValueError):
    """A dataset folder exists but holds something unexpected (e.g. non-event files)."""


FileList = tuple[list[Path], np.ndarray, list[str]]


def is_visible(path: Path) -> bool:
    """False for hidden entries (".DS_Store", "._x"), which are never data."""
    return not path.name.startswith(".")


def per_class_head_split(labels: np.ndarray, split: str, fraction: float) -> np.ndarray:
    """Indices of ``split`` when each class gives its first ``round(fraction * n)`` samples
    (in the given order) to "train" and the rest to "test" (BrainCog's N-Caltech101 rule)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    labels = np.asarray(labels)
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_train = round(fraction * idx.size)  # Python round (half to even), as the reference
        out.append(idx[:n_train] if split == "train" else idx[n_train:])
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


class DatasetSpec:
    """Metadata and file discovery of one event dataset.

    Subclasses set the class attributes and, where the layout differs from
    ``<base>/<class>/<file><suffix>``, override ``find_files`` / ``split_indices``.
    """

    name: ClassVar[str] = ""
    sensor_size: ClassVar[tuple[int, int, int]] = (0, 0, 2)  # (W, H, P) like tonic
    default_frame_size: ClassVar[tuple[int, int] | None] = None  # (H, W); None = sensor size
    default_timesteps: ClassVar[int] = 10
    default_crop: ClassVar[str] = "sensor"
    file_suffix: ClassVar[str] = ".bin"
    #: sub-folders of the data root tried in turn to find the class folders ("" = root itself)
    root_candidates: ClassVar[tuple[str, ...]] = ("",)
    layout: ClassVar[str] = ""
    how_to_get: ClassVar[str] = ""
    download_size: ClassVar[str | None] = None
    split_rule: ClassVar[str] = "per-class first round(0.9 * n) files in name order -> train"
    train_fraction: ClassVar[float] = 0.9
    #: True for a synthetic dataset that makes itself on first use (its ``prepare`` generates it)
    generated: ClassVar[bool] = False
    #: the dataclass of the generator's parameters (``prepare(params=...)``); None when recorded
    params_type: ClassVar[type | None] = None

    # ----------------------------------------------------------------- locations
    @classmethod
    def default_root(cls) -> Path:
        """Data root used when none is given."""
        return default_data_root()

    @classmethod
    def candidates(cls, root: Path) -> list[Path]:
        return [root / c if c else root for c in cls.root_candidates]

    @classmethod
    def not_found(cls, root: Path, problem: str) -> DatasetNotFoundError:
        looked = "\n".join(f"  {p}" for p in cls.candidates(Path(root)))
        return DatasetNotFoundError(
            f"dataset {cls.name!r}: {problem}\n"
            f"Looked in:\n{looked}\n"
            f"Expected layout:\n{cls.layout}\n"
            f"How to get it:\n{cls.how_to_get}"
        )

    @classmethod
    def locate(cls, root: str | os.PathLike | None) -> Path:
        """The folder holding the class folders; ``DatasetNotFoundError`` if none qualifies."""
        root = Path(root).expanduser() if root is not None else cls.default_root()
        for cand in cls.candidates(root):
            if cand.is_dir() and any(
                d.is_dir() and is_visible(d) and any(d.glob(f"*{cls.file_suffix}"))
                for d in cand.iterdir()
            ):
                return cand
        if not root.exists():
            raise cls.not_found(root, f"data root {root} does not exist.")
        raise cls.not_found(
            root, f"no class folders with {cls.file_suffix} recordings found under {root}."
        )

    @classmethod
    def prepare(
        cls,
        root: str | os.PathLike | None,
        *,
        download: bool = False,
        progress: bool = True,
        params: Any = None,
        force: bool = False,
        workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> Path:
        """Make sure the data exists and return its root: every loader's one entry point.

        A recorded dataset is checked (and downloaded only if ``download``); one that generates
        itself (``generated``) overrides this to make the data on first use, and only it takes
        ``params`` (the generator's parameters), ``force`` (regenerate), ``workers`` and
        ``cache_dir`` (where it goes when ``root`` is None).
        """
        if params is not None:
            raise ValueError(
                f"params= only applies to generated datasets, not {cls.name!r}; drop it"
            )
        root = Path(root).expanduser() if root is not None else cls.default_root()
        try:
            cls.locate(root)
        except DatasetNotFoundError:
            if not download:
                raise
            cls.download(root)
            cls.locate(root)
        return root

    @classmethod
    def download(cls, root: Path) -> None:
        raise cls.not_found(root, "automatic download is not available for this dataset.")

    # ----------------------------------------------------------------- files and labels
    @classmethod
    def find_files(cls, root: str | os.PathLike | None, strict: bool = False) -> FileList:
        """All recordings, sorted by class then file name: (files, labels, classes).

        Class folders are the visible sub-folders of the located base folder, sorted by name;
        labels index into ``classes``; files beside the class folders are ignored. Inside a class
        folder hidden files (".*") are ignored and other non-event files reported (error if
        ``strict``, else a warning naming them) and skipped.
        """
        base = cls.locate(root)
        return cls._scan_class_folders(
            base, sorted(d for d in base.iterdir() if is_visible(d)), strict
        )

    @classmethod
    def _scan_class_folders(cls, base: Path, entries: list[Path], strict: bool) -> FileList:
        files: list[Path] = []
        labels: list[int] = []
        classes: list[str] = []
        for d in (e for e in entries if e.is_dir()):
            recs, other = [], []
            for f in sorted(d.iterdir()):
                if not is_visible(f):
                    continue
                (recs if f.is_file() and f.suffix == cls.file_suffix else other).append(f)
            if other:
                cls._report(
                    f"{d}: {len(other)} non-event entr{'y' if len(other) == 1 else 'ies'} in a "
                    f"class folder: {', '.join(o.name for o in other[:5])}"
                    f"{' ...' if len(other) > 5 else ''} (expected only *{cls.file_suffix} "
                    "recordings); move them out of the dataset folder.",
                    strict,
                )
            if not recs:
                cls._report(
                    f"{d}: class folder has no *{cls.file_suffix} recordings; ignored.", strict
                )
                continue
            files.extend(recs)
            labels.extend([len(classes)] * len(recs))
            classes.append(d.name)
        if not classes:
            raise cls.not_found(base, f"{base} contains no class folders with recordings.")
        return files, np.asarray(labels, dtype=np.int64), classes

    @staticmethod
    def _report(message: str, strict: bool) -> None:
        if strict:
            raise DatasetLayoutError(message)
        warnings.warn(message, stacklevel=3)

    @classmethod
    def split_indices(cls, files: list[Path], labels: np.ndarray, split: str) -> np.ndarray:
        """Indices (into ``files``) of the recordings in ``split`` ("train" or "test")."""
        return per_class_head_split(labels, split, cls.train_fraction)

    # ----------------------------------------------------------------- events
    @classmethod
    def read_events(cls, path: Path) -> tuple[np.ndarray, int]:
        """Events of one recording inside the sensor, and the number dropped outside it."""
        events = aer.read_events(path)  # looked up at call time (tests monkeypatch it)
        return clip_to_sensor(events, cls.sensor_size)

    @classmethod
    def default_frames(cls, timesteps: int | None = None) -> FrameConfig:
        """The reference framing for this dataset."""
        return FrameConfig(
            timesteps=timesteps or cls.default_timesteps,
            size=cls.default_frame_size,
            crop=cls.default_crop,
        )

    @classmethod
    def source_version(cls, root: Path) -> dict | None:
        """Version info of generated data (None for recorded datasets); part of the cache key."""
        return None

    @classmethod
    def generator_params(cls, root: Path) -> dict[str, Any] | None:
        """The parameters the data under ``root`` was generated with, as JSON (None for recorded
        datasets); model cards keep them so a run can be reproduced."""
        return None

    @classmethod
    def groups(cls, root: Path, files: list[Path]) -> np.ndarray | None:
        """A group id per file (recordings of one source object share it), or None when every
        recording stands alone. Held-out splits keep a group whole, so no object straddles them."""
        return None

    @classmethod
    def describe(cls) -> str:
        w, h, p = cls.sensor_size
        return (
            f"{cls.name}: sensor {w}x{h} (W x H), {p} polarities; "
            f"default frames {cls.default_frame_size or (h, w)} (H, W) x {cls.default_timesteps};"
            f" split: {cls.split_rule}"
        )


class OfficialSplitSpec(DatasetSpec):
    """A dataset that ships its own split as one folder per split (``splits`` maps them)."""

    splits: ClassVar[dict[str, str]] = {}

    @classmethod
    def locate(cls, root: str | os.PathLike | None) -> Path:
        """The folder holding every split folder; ``DatasetNotFoundError`` if none does."""
        root = Path(root).expanduser() if root is not None else cls.default_root()
        for cand in cls.candidates(root):
            if all((cand / d).is_dir() for d in cls.splits.values()):
                return cand
        if not root.exists():
            raise cls.not_found(root, f"data root {root} does not exist.")
        folders = " and ".join(f"{d}/" for d in cls.splits.values())
        raise cls.not_found(root, f"no {folders} folders under {root}.")

    @classmethod
    def split_indices(cls, files: list[Path], labels: np.ndarray, split: str) -> np.ndarray:
        """Indices of the files inside the split's folder (``<split folder>/<group>/<file>``)."""
        if split not in cls.splits:
            raise ValueError(f"split must be one of {list(cls.splits)}, got {split!r}")
        part = cls.splits[split]
        return np.asarray(
            [i for i, f in enumerate(files) if f.parent.parent.name == part], dtype=np.int64
        )
