"""The ndigits generator: emulated saccade recordings of scikit-learn's digits.

Written in parallel into the N-Caltech101 layout with a manifest (parameters:
:class:`NDigitsParams`)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import tks_lava.data.aer as aer
import tks_lava.data.emulator as emulator
from tks_lava.data.ndigits_params import GENERATOR_VERSION, MANIFEST, NDigitsParams, read_manifest

UPSAMPLE = 8  # source images are spline-upsampled 8x once, then sampled bilinearly


# --------------------------------------------------------------------------- sensor and sources
@dataclass(frozen=True)
class Sensor:
    """Fixed per-pixel properties of the emulated camera."""

    c_on: np.ndarray
    c_off: np.ndarray
    noise_rate: np.ndarray  # Hz per pixel, background activity + hot pixels
    hot_mask: np.ndarray

    @classmethod
    def make(cls, params: NDigitsParams) -> Sensor:
        rng = np.random.default_rng([params.seed, 0x5E45])
        hw = params.sensor_hw
        c0, sig = params.contrast_threshold, params.threshold_sigma
        c_on = np.clip(c0 * (1 + sig * rng.standard_normal(hw)), 0.3 * c0, None)
        c_off = np.clip(c0 * (1 + sig * rng.standard_normal(hw)), 0.3 * c0, None)
        hot = np.zeros(hw, dtype=bool)
        hot.ravel()[rng.choice(hot.size, size=params.hot_pixels, replace=False)] = True
        rate = np.full(hw, params.noise_hz, dtype=float)
        rate[hot] = params.hot_pixel_hz
        return cls(c_on, c_off, rate, hot)


def load_sources() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits (no download): images (1797, 8, 8) in [0, 1], labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float64) / 16.0, d.target.astype(np.int64)


def choose_sources(labels: np.ndarray, params: NDigitsParams) -> dict[int, np.ndarray]:
    """Source image indices per class, in file order (seeded shuffle, first ones -> train)."""
    out = {}
    for c in params.classes:
        idx = np.flatnonzero(labels == c)
        idx = idx[np.random.default_rng([params.seed, 0xC1A55, c]).permutation(idx.size)]
        m = params.images_per_class
        if m is None:
            m = idx.size - idx.size % 10 if idx.size >= 10 else idx.size
        if m > idx.size:
            raise ValueError(
                f"NDigitsParams.images_per_class={m} but load_digits has only {idx.size} images "
                f"of class {c}"
            )
        out[c] = idx[:m]
    return out


# --------------------------------------------------------------------------- one recording
def record(
    ink: np.ndarray, params: NDigitsParams, sensor: Sensor, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """Emulate one recording of an 8 x 8 ``ink`` image; return (events, transform metadata)."""
    h, w = params.sensor_hw
    shift = rng.uniform(-params.shift_px, params.shift_px, size=2)
    rot = np.deg2rad(rng.uniform(-params.rotation_deg, params.rotation_deg))
    scale = rng.uniform(*params.scale_range)
    stroke = rng.uniform(*params.stroke_range)
    gamma = rng.uniform(*params.gamma_range)

    hi = emulator.upsample(ink, UPSAMPLE) ** gamma
    duration = params.duration_us
    times = np.arange(0, duration + 1, params.step_us, dtype=np.float64)
    offsets = emulator.saccade_path(
        times, params.saccade_ms * 1000, params.saccade_px, params.motion_profile
    )
    center = (h / 2 + shift[0], w / 2 + shift[1])
    img = emulator.render_moving(
        hi, UPSAMPLE, (h, w), center, params.pixel_px * scale, rot, offsets
    )
    log_i = np.log(np.float32(params.background) + np.float32(stroke - params.background) * img)
    x, y, t, p = emulator.dvs_events(log_i, times, sensor.c_on, sensor.c_off)
    if params.jitter_us > 0:
        t = t + rng.normal(0.0, params.jitter_us, t.size)
    nx, ny, nt, npol = emulator.noise_events(rng, sensor.noise_rate, duration)
    npol[sensor.hot_mask[ny, nx]] = (
        rng.random(np.count_nonzero(sensor.hot_mask[ny, nx])) < 0.8
    ).astype(np.int64)
    t_all = np.clip(np.round(np.concatenate([t, nt])), 0, duration - 1).astype(np.int64)
    order = np.argsort(t_all, kind="stable")
    ev = np.empty(order.size, dtype=aer.EVENT_DTYPE)
    ev["x"] = np.concatenate([x, nx])[order]
    ev["y"] = np.concatenate([y, ny])[order]
    ev["t"] = t_all[order]
    ev["p"] = np.concatenate([p, npol])[order]
    meta = {
        "shift": [round(float(s), 4) for s in shift],
        "rotation_deg": round(np.rad2deg(rot), 3),
        "scale": round(float(scale), 4),
        "stroke": round(float(stroke), 4),
        "gamma": round(float(gamma), 4),
        "signal_events": int(t.size),
        "noise_events": int(nt.size),
    }
    return ev, meta


# --------------------------------------------------------------------------- the dataset
Job = tuple[int, int, int, int]  # (class, source index, variant, file number)

_WORKER: dict[str, Any] = {}


def _init_worker(images: np.ndarray, params: NDigitsParams) -> None:
    _WORKER.update(images=images, params=params, sensor=Sensor.make(params))


def _run_job(job: Job) -> tuple[str, bytes, dict[str, Any]]:
    c, src, variant, number = job
    params: NDigitsParams = _WORKER["params"]
    rng = np.random.default_rng([params.seed, c, src, variant])
    events, meta = record(_WORKER["images"][src], params, _WORKER["sensor"], rng)
    rel = f"{c}/image_{number:04d}.bin"
    meta = {
        "file": rel,
        "label": str(c),
        "source": int(src),
        "variant": variant,
        "events": int(events.size),
        **meta,
    }
    return rel, aer.encode_events(events, rel), meta


def plan_jobs(labels: np.ndarray, params: NDigitsParams) -> list[Job]:
    """All recordings in file order: per class, source-major, variants adjacent."""
    jobs = []
    for c, sources in choose_sources(labels, params).items():
        for rank, src in enumerate(sources):
            for v in range(params.variants_per_image):
                jobs.append((c, int(src), v, rank * params.variants_per_image + v + 1))
    return jobs


def _results(
    jobs: list[Job], images: np.ndarray, params: NDigitsParams, workers: int
) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    if workers <= 1:
        _init_worker(images, params)
        yield from map(_run_job, jobs)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, _init_worker, (images, params)) as pool:
        yield from pool.imap(_run_job, jobs, chunksize=8)


def generate_ndigits(
    root: str | os.PathLike,
    params: NDigitsParams | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Write the ndigits recordings to ``root/<class>/image_XXXX.bin`` plus ``ndigits.json``.

    Skips the work if ``root`` already holds a complete dataset with the same parameters
    (unless ``force``). Generation goes to a temporary folder that is renamed to ``root`` only
    when complete, so an interrupted run leaves nothing half-written. Deterministic for a given
    ``params`` (and numpy build).
    """
    params = params or NDigitsParams()
    root = Path(root).expanduser()
    if _already_generated(root, params, force):
        return root
    images, labels = load_sources()
    jobs = plan_jobs(labels, params)
    _warn_if_split_cuts_sources(len(jobs) // len(params.classes), params)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        for c in params.classes:
            (tmp / str(c)).mkdir(parents=True)
        results = _results(jobs, images, params, workers)
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc=f"ndigits -> {root.name}", unit="rec")
        _write_generation(tmp, results, params)
        # swap the finished folder in (root may hold an older generation when force=True,
        # or be an empty folder)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _already_generated(root: Path, params: NDigitsParams, force: bool) -> bool:
    """True if ``root`` holds this very generation; an error if it holds something else that
    regenerating would destroy (other parameters without ``force``, or a non-ndigits folder)."""
    existing = read_manifest(root)
    if existing is not None and not force:
        if existing["params_hash"] != params.digest():
            raise ValueError(
                f"{root} holds ndigits generated with other parameters "
                f"({existing['params_hash']} != {params.digest()}); pass force=True (--force) to "
                "regenerate it, or use another root."
            )
        return True
    if root.exists() and existing is None and any(root.iterdir()):
        raise ValueError(
            f"{root} exists and is not an ndigits folder (no {MANIFEST}); refusing to write into "
            "it. Choose an empty or new folder."
        )
    return False


def _warn_if_split_cuts_sources(per_class: int, params: NDigitsParams) -> None:
    """The 90/10 name-order split must fall between source images, or variants leak."""
    if round(0.9 * per_class) % params.variants_per_image:
        warnings.warn(
            f"ndigits: {per_class} recordings per class with {params.variants_per_image} variants "
            "each: the 90/10 split cuts through one source image per class, whose variants land "
            "in both train and test; use images_per_class divisible by 10 to avoid it",
            stacklevel=3,
        )


def _write_generation(
    folder: Path, results: Iterable[tuple[str, bytes, dict[str, Any]]], params: NDigitsParams
) -> None:
    """Write every recording into ``folder``, then the manifest (last: it marks completion)."""
    start = time.perf_counter()
    records = []
    for rel, data, meta in results:
        (folder / rel).write_bytes(data)
        records.append(meta)
    manifest = {
        "generator": "tks_lava.data.ndigits",
        "version": GENERATOR_VERSION,
        "params": params.to_dict(),
        "params_hash": params.digest(),
        "seconds": round(time.perf_counter() - start, 2),
        "recordings": len(records),
        "files": records,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
