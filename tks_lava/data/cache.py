"""On-disk HDF5 cache of binned frames, so epochs after the first do no event processing.

One file per (dataset, split, root, framing, split rule, generator version, file list).

File ``<cache_dir>/frames/<dataset>-<split>-<hash>.h5`` holds:
    frames    (N, C, H, W, T): uint16 raw counts when no resize is involved (exact), else
              float16 (resized counts; relative rounding error <= 2**-11, max 65504)
    labels    (N,) int64, index into the ``classes`` attribute
    n_events  (N,) int64 events per recording (inside the sensor)
    files     (N,) recordings, relative to the data root
    skipped   (K, 2) [file, reason] of corrupt recordings left out
    attrs     key (JSON of everything the frames depend on, incl. the split rule), classes
The file is written to a temporary name and moved into place with ``os.replace``.

This module is the cache's one owner: its key, the writer (``build_cache``) and the reader
(``open_cache``, ``CachedFrames.sample``); ``load_frames`` opens or builds a split's cache.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tks_lava.data.aer import EventFormatError
from tks_lava.data.frames import FrameConfig, events_to_frames, fills_a_corner
from tks_lava.data.paths import stable_hash
from tks_lava.data.spec import DatasetSpec
from tks_lava.io import atomic_path

CACHE_FORMAT = 1
WRITE_BLOCK = 256  # recordings buffered per HDF5 write


def storage_dtype(spec: type[DatasetSpec], frames: FrameConfig) -> str:
    """ "uint16" (exact counts) unless the frames are resized, then "float16"."""
    sensor_hw = (spec.sensor_size[1], spec.sensor_size[0])
    resized = frames.crop == "bbox" or (frames.size is not None and frames.size != sensor_hw)
    return "float16" if resized else "uint16"


def cache_key(
    spec: type[DatasetSpec],
    root: Path,
    split: str,
    frames: FrameConfig,
    files: list[Path],
) -> dict[str, Any]:
    """Everything the cached frames depend on. Any change gives another cache file."""
    listing = [[f.relative_to(root).as_posix(), f.stat().st_size] for f in files]
    return {
        "format": CACHE_FORMAT,
        "dataset": spec.name,
        "split": split,
        "root": str(Path(root).resolve()),
        "sensor_size": list(spec.sensor_size),
        "frames": frames.to_dict(),
        "storage_dtype": storage_dtype(spec, frames),
        "split_rule": spec.split_rule,
        "train_fraction": spec.train_fraction,
        "source": spec.source_version(root),
        "n_files": len(files),
        "files_hash": stable_hash(listing, 16),
    }


def cache_file(cache_dir: Path, key: dict[str, Any]) -> Path:
    return Path(cache_dir) / "frames" / f"{key['dataset']}-{key['split']}-{stable_hash(key)}.h5"


# --------------------------------------------------------------------------- reading
@dataclass
class CachedFrames:
    """What a cache file holds (frames either loaded or left on disk, then read per sample)."""

    path: Path
    key: dict[str, Any]
    classes: list[str]
    labels: np.ndarray
    n_events: np.ndarray
    files: list[str]
    skipped: list[tuple[str, str]]
    shape: tuple[int, ...]
    dtype: np.dtype
    build_seconds: float
    frames: np.ndarray | None = field(default=None, repr=False)
    _h5: Any = field(default=None, init=False, repr=False, compare=False)
    _h5_pid: int | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def sample(self, i: int) -> np.ndarray:
        """The stored frames of recording ``i``: from memory, or read lazily from the file
        through one h5py handle per process (each DataLoader worker opens its own)."""
        if self.frames is not None:
            return self.frames[i]
        if self._h5 is None or self._h5_pid != os.getpid():
            import h5py

            self._h5 = h5py.File(self.path, "r")
            self._h5_pid = os.getpid()
        return self._h5["frames"][i]

    def read_all(self) -> np.ndarray:
        """Every stored frame (N, C, H, W, T), from memory or read in one go."""
        if self.frames is not None:
            return self.frames
        import h5py

        with h5py.File(self.path, "r") as h5:
            return h5["frames"][()]

    def __getstate__(self) -> dict[str, Any]:  # h5py handles do not pickle (spawned workers)
        state = self.__dict__.copy()
        state["_h5"], state["_h5_pid"] = None, None
        return state


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def open_cache(
    path: Path, key: dict[str, Any], in_memory: bool | None, max_memory: int = 1 << 30
) -> CachedFrames | None:
    """Open a cache file if it exists and was built for exactly ``key``; else None.

    ``in_memory``: load every frame now; None = if they take at most ``max_memory`` bytes."""
    import h5py

    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as h5:
            if json.loads(h5.attrs["key"]) != key:
                return None
            ds = h5["frames"]
            out = CachedFrames(
                path=path,
                key=key,
                classes=json.loads(h5.attrs["classes"]),
                labels=h5["labels"][()],
                n_events=h5["n_events"][()],
                files=[_text(s) for s in h5["files"][()]],
                skipped=[tuple(_text(s) for s in row) for row in h5["skipped"][()]],
                shape=tuple(ds.shape),
                dtype=ds.dtype,
                build_seconds=float(h5.attrs.get("build_seconds", 0.0)),
            )
            load = in_memory if in_memory is not None else out.nbytes <= max_memory
            if load:
                out.frames = ds[()]
            return out
    except (OSError, KeyError, ValueError) as err:  # unreadable/partial file: rebuild it
        warnings.warn(f"{path}: frame cache unreadable ({err}); rebuilding it", stacklevel=2)
        return None


def load_frames(
    spec: type[DatasetSpec],
    root: Path,
    split: str,
    frames: FrameConfig,
    cache_dir: Path,
    *,
    strict: bool = False,
    progress: bool = True,
    rebuild: bool = False,
    in_memory: bool | None = None,
) -> tuple[CachedFrames, bool]:
    """The frames of one split, from its cache, which is built first when missing or stale
    (or ``rebuild``): (frames, whether an existing cache was reused)."""
    files, labels, classes = spec.find_files(root, strict=strict)
    idx = spec.split_indices(files, labels, split)
    split_files = [files[i] for i in idx]
    key = cache_key(spec, root, split, frames, split_files)
    path = cache_file(cache_dir, key)
    cached = None if rebuild else open_cache(path, key, in_memory)
    reused = cached is not None
    if cached is None:
        build_cache(
            path,
            key,
            spec,
            root,
            split_files,
            labels[idx],
            classes,
            frames,
            strict=strict,
            progress=progress,
        )
        cached = open_cache(path, key, in_memory)
        if cached is None:
            raise RuntimeError(f"{path}: frame cache just built but unreadable")
    if strict and cached.skipped:
        _, why = cached.skipped[0]
        raise EventFormatError(
            f"{path} was built skipping {len(cached.skipped)} corrupt recording(s) "
            f"(first: {why}); strict=True: fix or remove them, then rebuild=True"
        )
    return cached, reused


# --------------------------------------------------------------------------- writing
@dataclass
class _Tally:
    """What binning saw besides the frames: the recordings kept, those skipped, the sensor fit."""

    labels: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    n_events: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extent: np.ndarray = field(default_factory=lambda: np.zeros(2, dtype=np.int64))  # (W, H)
    dropped: int = 0  # events outside the sensor


def build_cache(
    path: Path,
    key: dict[str, Any],
    spec: type[DatasetSpec],
    root: Path,
    files: list[Path],
    labels: np.ndarray,
    classes: list[str],
    frames: FrameConfig,
    *,
    strict: bool = False,
    progress: bool = True,
) -> None:
    """Read, bin and store every recording; corrupt ones are skipped with a warning (or raise
    if ``strict``). Written atomically."""
    import h5py

    if not files:
        raise ValueError(
            f"dataset {spec.name!r} split {key['split']!r} has no recordings under "
            f"{root}; too few files per class for the split rule ({spec.split_rule})?"
        )
    start = time.perf_counter()
    dtype = np.dtype(key["storage_dtype"])
    shape = (int(spec.sensor_size[2]), *frames.output_hw(spec.sensor_size), frames.timesteps)
    tally = _Tally()
    desc = f"frames {spec.name}/{key['split']}" if progress else None
    binned = _binned(spec, root, files, labels, frames, dtype, tally, strict, desc)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        _write_frames(h5, binned, shape, dtype)
        if not tally.files:
            raise EventFormatError(
                f"dataset {spec.name!r} split {key['split']!r}: all {len(files)} recordings under "
                f"{root} are unreadable (first: {tally.skipped[0][1] if tally.skipped else '?'})"
            )
        _write_index(h5, key, classes, tally, time.perf_counter() - start)
    extent = (int(tally.extent[0]), int(tally.extent[1]))
    check_sensor_fit(spec, extent, tally.dropped, len(tally.files))
    if tally.skipped:
        warnings.warn(
            f"{spec.name}/{key['split']}: skipped {len(tally.skipped)} of {len(files)} corrupt "
            f"recordings (listed in {path}:/skipped); pass strict=True to stop on them instead",
            stacklevel=2,
        )


def _binned(
    spec: type[DatasetSpec],
    root: Path,
    files: list[Path],
    labels: np.ndarray,
    frames: FrameConfig,
    dtype: np.dtype,
    tally: _Tally,
    strict: bool,
    desc: str | None,
) -> Iterator[np.ndarray]:
    """Each readable recording's frames as ``dtype``, in order; ``tally`` records what was kept
    and skipped. A corrupt recording raises if ``strict``, else it is skipped with a warning.
    ``desc``: the progress bar's title (None: no bar)."""
    limit = 65504 if dtype == np.float16 else np.iinfo(dtype).max
    it: Any = range(len(files))
    if desc is not None:
        from tqdm import tqdm

        it = tqdm(it, desc=desc, unit="rec")
    for i in it:
        rel = files[i].relative_to(root).as_posix()
        try:
            events, outside = spec.read_events(files[i])
        except (EventFormatError, OSError) as err:
            if strict:
                raise
            tally.skipped.append((rel, str(err)))
            warnings.warn(f"skipping corrupt recording: {err}", stacklevel=3)
            continue
        tally.dropped += outside
        if events.size:
            seen = [int(events["x"].max()) + 1, int(events["y"].max()) + 1]
            tally.extent = np.maximum(tally.extent, seen)
        fr = events_to_frames(events, spec.sensor_size, frames)
        if fr.size and fr.max() > limit:
            raise ValueError(
                f"{files[i]}: a frame value {fr.max()} exceeds what {dtype} stores "
                f"({limit}); use more timesteps or report this."
            )
        tally.labels.append(int(labels[i]))
        tally.files.append(rel)
        tally.n_events.append(int(events.size))
        yield fr.astype(dtype)


def _write_frames(
    h5: Any, blocks: Iterator[np.ndarray], shape: tuple[int, ...], dtype: np.dtype
) -> None:
    """``frames`` (N, C, H, W, T): lzf, one chunk per sample, appended ``WRITE_BLOCK`` at a time."""
    ds = h5.create_dataset(
        "frames",
        shape=(0, *shape),
        maxshape=(None, *shape),
        dtype=dtype,
        chunks=(1, *shape),
        compression="lzf",
    )
    buf: list[np.ndarray] = []
    for fr in blocks:
        buf.append(fr)
        if len(buf) >= WRITE_BLOCK:
            _append(ds, buf)
    _append(ds, buf)


def _append(ds: Any, buf: list[np.ndarray]) -> None:
    if buf:
        n0 = ds.shape[0]
        ds.resize(n0 + len(buf), axis=0)
        ds[n0:] = np.stack(buf)
        buf.clear()


def _write_index(
    h5: Any, key: dict[str, Any], classes: list[str], tally: _Tally, seconds: float
) -> None:
    """Everything beside the frames: per-recording labels, event counts and files, the skipped
    recordings with their reasons, and the key the reader checks."""
    import h5py

    h5.create_dataset("labels", data=np.asarray(tally.labels, dtype=np.int64))
    h5.create_dataset("n_events", data=np.asarray(tally.n_events, dtype=np.int64))
    str_dt = h5py.string_dtype()
    h5.create_dataset("files", data=np.asarray(tally.files, dtype=object), dtype=str_dt)
    h5.create_dataset(
        "skipped", data=np.asarray(tally.skipped, dtype=object).reshape(-1, 2), dtype=str_dt
    )
    h5.attrs["key"] = json.dumps(key, sort_keys=True)
    h5.attrs["classes"] = json.dumps(classes)
    h5.attrs["build_seconds"] = seconds
    h5.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    h5.attrs["pid"] = os.getpid()


def check_sensor_fit(
    spec: type[DatasetSpec], extent: tuple[int, int], dropped: int, recordings: int
) -> None:
    """Warn when recordings do not fit the reader's sensor: events outside it (dropped), or
    recordings that all fill less than half of it (they would sit squashed in one corner)."""
    sw, sh = int(spec.sensor_size[0]), int(spec.sensor_size[1])
    if dropped:
        warnings.warn(
            f"{spec.name}: {dropped} events of {recordings} recordings lie outside its "
            f"{sw}x{sh} sensor and were dropped; use a reader whose sensor fits the recordings",
            stacklevel=3,
        )
    w, h = extent
    if fills_a_corner(extent, (sw, sh)):
        warnings.warn(
            f"{spec.name}: the recordings span at most {w}x{h} px of its {sw}x{sh} sensor, so "
            "they fill one corner of every frame; read them with a dataset whose sensor matches "
            f"(e.g. nmnist for 34x34 recordings)",
            stacklevel=3,
        )
