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
"""

from __future__ import annotations

import json
import os
import time
import warnings
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


@dataclass
class CachedFrames:
    """What a cache file holds (frames either loaded or left on disk)."""

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

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize


def open_cache(
    path: Path, key: dict[str, Any], in_memory: bool | None, max_memory: int = 1 << 30
) -> CachedFrames | None:
    """Open a cache file if it exists and was built for exactly ``key``; else None."""
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
                files=[s.decode() if isinstance(s, bytes) else s for s in h5["files"][()]],
                skipped=[
                    tuple(s.decode() if isinstance(s, bytes) else s for s in row)
                    for row in h5["skipped"][()]
                ],
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
    c = int(spec.sensor_size[2])
    h, w = frames.output_hw(spec.sensor_size)
    t = frames.timesteps
    dtype = np.dtype(key["storage_dtype"])
    limit = 65504 if dtype == np.float16 else np.iinfo(dtype).max
    skipped: list[tuple[str, str]] = []
    kept_labels, kept_files, n_events = [], [], []
    extent, dropped = np.zeros(2, dtype=np.int64), 0  # (W, H) spanned by any recording
    it = range(len(files))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"frames {spec.name}/{key['split']}", unit="rec")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        ds = h5.create_dataset(
            "frames",
            shape=(0, c, h, w, t),
            maxshape=(None, c, h, w, t),
            dtype=dtype,
            chunks=(1, c, h, w, t),
            compression="lzf",
        )
        buf: list[np.ndarray] = []

        def flush() -> None:
            if buf:
                n0 = ds.shape[0]
                ds.resize(n0 + len(buf), axis=0)
                ds[n0:] = np.stack(buf)
                buf.clear()

        for i in it:
            f = files[i]
            rel = f.relative_to(root).as_posix()
            try:
                events, outside = spec.read_events(f)
            except (EventFormatError, OSError) as err:
                if strict:
                    raise
                skipped.append((rel, str(err)))
                warnings.warn(f"skipping corrupt recording: {err}", stacklevel=2)
                continue
            dropped += outside
            if events.size:
                extent = np.maximum(
                    extent, [int(events["x"].max()) + 1, int(events["y"].max()) + 1]
                )
            fr = events_to_frames(events, spec.sensor_size, frames)
            if fr.size and fr.max() > limit:
                raise ValueError(
                    f"{f}: a frame value {fr.max()} exceeds what {dtype} stores "
                    f"({limit}); use more timesteps or report this."
                )
            buf.append(fr.astype(dtype))
            kept_labels.append(int(labels[i]))
            kept_files.append(rel)
            n_events.append(int(events.size))
            if len(buf) >= WRITE_BLOCK:
                flush()
        flush()
        if not kept_files:
            raise EventFormatError(
                f"dataset {spec.name!r} split {key['split']!r}: all {len(files)} recordings under "
                f"{root} are unreadable (first: {skipped[0][1] if skipped else '?'})"
            )
        h5.create_dataset("labels", data=np.asarray(kept_labels, dtype=np.int64))
        h5.create_dataset("n_events", data=np.asarray(n_events, dtype=np.int64))
        str_dt = h5py.string_dtype()
        h5.create_dataset("files", data=np.asarray(kept_files, dtype=object), dtype=str_dt)
        h5.create_dataset(
            "skipped", data=np.asarray(skipped, dtype=object).reshape(-1, 2), dtype=str_dt
        )
        h5.attrs["key"] = json.dumps(key, sort_keys=True)
        h5.attrs["classes"] = json.dumps(classes)
        h5.attrs["build_seconds"] = time.perf_counter() - start
        h5.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        h5.attrs["pid"] = os.getpid()
    check_sensor_fit(spec, (int(extent[0]), int(extent[1])), dropped, len(kept_files))
    if skipped:
        warnings.warn(
            f"{spec.name}/{key['split']}: skipped {len(skipped)} of {len(files)} corrupt "
            f"recordings (listed in {path}:/skipped); pass strict=True to stop on them instead",
            stacklevel=2,
        )


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
