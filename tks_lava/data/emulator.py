"""A small event-camera emulator (pure numpy): a static image seen through saccades.

The image moves in front of a DVS/ATIS pixel array, as N-MNIST and N-Caltech101 were recorded.

Pixel model (the standard DVS model, e.g. Gallego et al., "Event-based Vision: A Survey",
IEEE TPAMI 2022, Sec. 2.1): each pixel keeps a reference log intensity; whenever the current log
intensity differs from it by a pixel's contrast threshold C, it emits one event (ON if the
intensity rose, OFF if it fell) and moves the reference by C. Several crossings within one
simulation step give several events whose times are linearly interpolated inside the step.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5 on [0, 1]: the
    smooth start and stop of a pan-tilt motor (slow at the start of each saccade)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def saccade_path(
    times_us: np.ndarray, saccade_us: float, amplitude_px: float, profile: str = "min_jerk"
) -> np.ndarray:
    """Image offset (dy, dx) in pixels at each time: three saccades along an equilateral
    triangle of side ``amplitude_px`` (directions 60, 180 and 300 degrees), centred on 0.

    N-MNIST / N-Caltech101 moved the camera through three ~100 ms saccades along a triangle.
    """
    h = amplitude_px * np.sqrt(3.0) / 2.0
    # vertices as (dy, dx); the triangle's centroid is at 0 so the image stays centred on average
    verts = np.array([[0.0, 0.0], [h, amplitude_px / 2], [h, -amplitude_px / 2], [0.0, 0.0]])
    verts -= np.array([2.0 * h / 3.0, 0.0])
    seg = np.minimum((np.asarray(times_us) // saccade_us).astype(int), 2)
    tau = (np.asarray(times_us) - seg * saccade_us) / saccade_us
    s = min_jerk(tau) if profile == "min_jerk" else np.clip(tau, 0.0, 1.0)
    return verts[seg] + s[:, None] * (verts[seg + 1] - verts[seg])


def upsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Smooth cubic-spline upsampling (pixel edges aligned), clipped to [0, 1]."""
    up = ndimage.zoom(image, factor, order=3, mode="grid-constant", grid_mode=True)
    return np.clip(up, 0.0, 1.0)


def render_moving(
    ink: np.ndarray,
    factor: int,
    sensor_hw: tuple[int, int],
    center: tuple[float, float],
    pixel_size: float,
    rotation_rad: float,
    offsets: np.ndarray,
    oversample: int = 4,
) -> np.ndarray:
    """Sample an image (upsampled by ``factor`` from a ``k x k`` source) onto the sensor grid at
    every offset: returns (S, H, W) values in [0, 1], 0 outside the image.

    ``center`` is where the image centre lands (row, col), ``pixel_size`` how many sensor pixels
    one source pixel spans, ``rotation_rad`` a rotation about the image centre, ``offsets``
    (S, 2) the translation (dy, dx) at each step. The rotated, scaled image is rendered once on
    a grid ``oversample`` times finer than the sensor; each step then interpolates that grid
    bilinearly at the shifted pixel centres (the motion is a pure translation).
    """
    height, width = sensor_hw
    f = oversample
    margin = int(np.ceil(np.abs(offsets).max())) + 2
    src_k = ink.shape[0] / factor  # source pixels per side
    # fine grid point i sits at sensor coordinate i / f - margin
    qr = np.arange((height + 2 * margin) * f + 2) / f - margin
    qc = np.arange((width + 2 * margin) * f + 2) / f - margin
    dr, dc = np.meshgrid(qr - center[0], qc - center[1], indexing="ij")
    cos, sin = np.cos(rotation_rad), np.sin(rotation_rad)
    k = factor / pixel_size
    u = (cos * dr - sin * dc) * k + src_k * factor / 2.0 - 0.5  # index coords in `ink`
    v = (sin * dr + cos * dc) * k + src_k * factor / 2.0 - 0.5
    grid = ndimage.map_coordinates(ink, [u, v], order=1, mode="constant", cval=0.0)
    # pixel (r, c) at step s samples sensor point (r + 0.5 - dy_s, c + 0.5 - dx_s)
    ar = (0.5 + margin - offsets[:, 0]) * f
    ac = (0.5 + margin - offsets[:, 1]) * f
    ir, ic = np.floor(ar).astype(int), np.floor(ac).astype(int)
    # float32 weights: the interpolation below is float32 on every numpy. With float64 weights,
    # numpy 1 cast the scalar ``wc[s]`` down to the float32 array's type (value-based casting)
    # but numpy >= 2 (NEP 50) promotes the array to float64, which changed most recordings.
    wr, wc = (ar - ir).astype(np.float32), (ac - ic).astype(np.float32)
    grid = grid.astype(np.float32)
    out = np.empty((len(offsets), height, width), dtype=np.float32)
    hs, ws = height * f, width * f
    for s in range(len(offsets)):
        r0, c0 = ir[s], ic[s]
        g00 = grid[r0 : r0 + hs : f, c0 : c0 + ws : f]
        g01 = grid[r0 : r0 + hs : f, c0 + 1 : c0 + 1 + ws : f]
        g10 = grid[r0 + 1 : r0 + 1 + hs : f, c0 : c0 + ws : f]
        g11 = grid[r0 + 1 : r0 + 1 + hs : f, c0 + 1 : c0 + 1 + ws : f]
        top = g00 + wc[s] * (g01 - g00)
        out[s] = top + wr[s] * (g10 + wc[s] * (g11 - g10) - top)
    return out


def dvs_events(
    log_frames: np.ndarray, times_us: np.ndarray, c_on: np.ndarray, c_off: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events of ideal DVS pixels watching ``log_frames`` (S, H, W) sampled at ``times_us``.

    ``c_on`` / ``c_off`` are per-pixel contrast thresholds (H, W). Returns (x, y, t, p) with t as
    float microseconds (unsorted across pixels within a step).
    """
    n_steps, height, width = log_frames.shape
    flat = log_frames.reshape(n_steps, -1)
    ref = flat[0].copy()
    c_on, c_off = c_on.ravel(), -c_off.ravel()
    steps, pixels, counts, refs, deltas = [], [], [], [], []
    for k in range(1, n_steps):
        d = flat[k] - ref
        fire = (d >= c_on) | (d <= c_off)
        if not fire.any():
            continue
        idx = np.flatnonzero(fire)
        dd = d[idx]
        c = np.where(dd > 0, c_on[idx], c_off[idx])  # signed threshold
        n = np.floor(dd / c).astype(np.int64)
        steps.append(np.full(idx.size, k))
        pixels.append(idx)
        counts.append(n)
        refs.append(ref[idx])
        deltas.append(c)
        ref[idx] += n * c
    if not steps:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), empty
    # expand every (step, pixel, count) into `count` events at the crossed levels
    cnt = np.concatenate(counts)
    rep = lambda a: np.repeat(np.concatenate(a), cnt)  # noqa: E731
    k, pix, level0, c = rep(steps), rep(pixels), rep(refs), rep(deltas)
    j = np.arange(k.size) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
    level = level0 + j * c
    a, b = flat[k - 1, pix], flat[k, pix]
    span = np.where(b != a, b - a, 1.0)
    frac = np.clip((level - a) / span, 0.0, 1.0)
    t = times_us[k - 1] + frac * (times_us[k] - times_us[k - 1])
    p = (c > 0).astype(np.int64)
    return pix % width, pix // width, t, p


def noise_events(
    rng: np.random.Generator,
    rate_hz: np.ndarray,
    duration_us: float,
    on_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Poisson noise events: pixel (y, x) fires ``rate_hz[y, x]`` events per second on average,
    at uniform random times, ON with probability ``on_fraction``."""
    height, width = rate_hz.shape
    counts = rng.poisson(rate_hz.ravel() * duration_us * 1e-6)
    pix = np.repeat(np.arange(counts.size), counts)
    t = rng.uniform(0.0, duration_us, pix.size)
    p = (rng.random(pix.size) < on_fraction).astype(np.int64)
    return pix % width, pix // width, t, p
