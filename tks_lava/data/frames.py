"""Events -> frames: time binning (pure numpy), optional bounding-box crop, spatial resize.

Frames use SLAYER's layout ``(C, H, W, T)`` with ``C = 2`` polarity channels (channel 0 = OFF,
channel 1 = ON, i.e. channel index = p, as in tonic's ``ToFrame``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

BINNINGS = ("time", "events")
CROPS = ("sensor", "bbox")


def parse_frame_size(value: Any) -> tuple[int, int] | None:
    """(H, W) from a pair, ``"HxW"`` or ``"native"``/None (the sensor size)."""
    if value is None or (isinstance(value, str) and value.lower() == "native"):
        return None
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"frame size must be HxW (e.g. 48x48) or 'native', got {value!r}")
        value = parts
    size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"frame size must be two positive ints (H, W), got {value!r}")
    return size  # type: ignore[return-value]


@dataclass(frozen=True)
class FrameConfig:
    """Everything that decides the frames a recording turns into (and so the cache key).

    Parameters:
        timesteps: number of frames T.
        size: output (H, W); None keeps the sensor size (no resize).
        binning: "time" = T equal-duration bins of raw per-polarity counts (the reference,
            tonic ``ToFrame(n_time_bins=T)``); "events" = T bins of equal event count.
        crop: "sensor" bins on the full sensor; "bbox" first shifts the events so their bounding
            box starts at 0 and bins on that box (what tonic's NCALTECH101 + ``ToFrame(
            sensor_size=None)`` do in the BrainCog reference, which then stretches the box to
            ``size``); needs ``size``.
        resize_mode: torch ``F.interpolate`` mode used when ``size`` differs from the binned size.
        align_corners: passed to ``F.interpolate`` for (bi)linear modes (reference: True).
    """

    timesteps: int = 10
    size: tuple[int, int] | None = None
    binning: str = "time"
    crop: str = "sensor"
    resize_mode: str = "bilinear"
    align_corners: bool = True

    def __post_init__(self) -> None:
        if int(self.timesteps) != self.timesteps or self.timesteps < 1:
            raise ValueError(f"FrameConfig.timesteps must be a positive int, got {self.timesteps}")
        object.__setattr__(self, "timesteps", int(self.timesteps))
        if self.size is not None:
            size = tuple(int(s) for s in self.size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"FrameConfig.size must be (H, W) > 0 or None, got {self.size}")
            object.__setattr__(self, "size", size)
        if self.binning not in BINNINGS:
            raise ValueError(f"FrameConfig.binning must be one of {BINNINGS}, got {self.binning!r}")
        if self.crop not in CROPS:
            raise ValueError(f"FrameConfig.crop must be one of {CROPS}, got {self.crop!r}")
        if self.crop == "bbox" and self.size is None:
            raise ValueError("FrameConfig(crop='bbox') needs an output size (boxes differ in size)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (used in cache keys and metadata)."""
        d = dataclasses.asdict(self)
        d["size"] = list(self.size) if self.size is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Any) -> FrameConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise ValueError(f"frame config must be a dict, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown frame config key(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def output_hw(self, sensor_size: tuple[int, int, int]) -> tuple[int, int]:
        """(H, W) of the frames for a sensor of size (W, H, P)."""
        return self.size if self.size is not None else (int(sensor_size[1]), int(sensor_size[0]))


def time_bin_index(t: np.ndarray, timesteps: int, binning: str = "time") -> np.ndarray:
    """Bin index in 0..T-1 of each event (``t`` sorted, non-decreasing).

    "time": bin width ``w = max(1, (t[-1] - t[0]) // T)`` and bin ``min((t - t[0]) // w, T - 1)``.
    Bin edges are exactly those of tonic ``ToFrame(n_time_bins=T)``; the difference is that the
    last < T microseconds, which tonic's integer rounding drops, are counted in the last bin.
    "events": event i goes to bin ``i * T // n`` (equal event counts, up to rounding).
    """
    t = np.asarray(t, dtype=np.int64)
    n = t.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if binning == "events":
        return np.arange(n, dtype=np.int64) * timesteps // n
    if binning != "time":
        raise ValueError(f"unknown binning {binning!r}; expected one of {BINNINGS}")
    width = max(1, int(t[-1] - t[0]) // timesteps)
    return np.minimum((t - t[0]) // width, timesteps - 1)


def bin_events(
    events: np.ndarray,
    sensor_size: tuple[int, int, int],
    timesteps: int,
    binning: str = "time",
) -> np.ndarray:
    """Count events per (polarity, y, x, time bin): int32 array of shape (P, H, W, T).

    ``sensor_size`` is (W, H, P) as in tonic. Events outside the sensor raise ValueError (drop
    them first, e.g. with ``clip_to_sensor``).
    """
    width, height, pols = (int(s) for s in sensor_size)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)
    if x.size and (
        x.min() < 0
        or x.max() >= width
        or y.min() < 0
        or y.max() >= height
        or p.min() < 0
        or p.max() >= pols
    ):
        raise ValueError(
            f"events outside the sensor {sensor_size} (W, H, P): x {x.min()}..{x.max()}, "
            f"y {y.min()}..{y.max()}, p {p.min()}..{p.max()}; drop them with clip_to_sensor()"
        )
    b = time_bin_index(events["t"], timesteps, binning)
    flat = ((p * height + y) * width + x) * timesteps + b
    counts = np.bincount(flat, minlength=pols * height * width * timesteps)
    return counts.astype(np.int32).reshape(pols, height, width, timesteps)


def fills_a_corner(extent: tuple[int, int], sensor: tuple[int, int]) -> bool:
    """True when recordings spanning (W, H) = ``extent`` fill at most half of a (W, H) sensor in
    both directions: binned on that sensor they would sit squashed in one corner of a frame."""
    (w, h), (sw, sh) = extent, sensor
    return w > 0 and 2 * w <= sw and 2 * h <= sh


def clip_to_sensor(events: np.ndarray, sensor_size: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """Drop events outside (W, H, P); return (kept events, number dropped)."""
    width, height, pols = sensor_size
    keep = (
        (events["x"] >= 0)
        & (events["x"] < width)
        & (events["y"] >= 0)
        & (events["y"] < height)
        & (events["p"] >= 0)
        & (events["p"] < pols)
    )
    dropped = int(keep.size - np.count_nonzero(keep))
    return (events if dropped == 0 else events[keep]), dropped


def crop_to_bbox(events: np.ndarray, pols: int = 2) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Shift events so min x and min y are 0; return them and the box's sensor size (W, H, P)."""
    ev = events.copy()
    if ev.size == 0:
        return ev, (1, 1, pols)
    ev["x"] -= ev["x"].min()
    ev["y"] -= ev["y"].min()
    return ev, (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1, pols)


def resize_frames(
    frames: np.ndarray, size: tuple[int, int], mode: str = "bilinear", align_corners: bool = True
) -> np.ndarray:
    """Resize (C, H, W, T) frames to (C, *size, T) with ``torch.nn.functional.interpolate``.

    Time is moved to the batch axis, as the reference does with tonic's (T, P, H, W) frames.
    Returns float32.
    """
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames.astype(np.float32, copy=False)
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).permute(3, 0, 1, 2)
    kwargs = {"align_corners": align_corners} if mode in ("linear", "bilinear", "bicubic") else {}
    y = F.interpolate(x, size=tuple(size), mode=mode, **kwargs)
    return y.permute(1, 2, 3, 0).contiguous().numpy()


def events_to_frames(
    events: np.ndarray, sensor_size: tuple[int, int, int], config: FrameConfig
) -> np.ndarray:
    """Apply ``config`` to one recording: (C, H, W, T) int32 counts, or float32 if resized."""
    if config.crop == "bbox":
        events, sensor_size = crop_to_bbox(events, int(sensor_size[2]))
    frames = bin_events(events, sensor_size, config.timesteps, config.binning)
    if config.size is not None and tuple(frames.shape[1:3]) != config.size:
        return resize_frames(frames, config.size, config.resize_mode, config.align_corners)
    return frames
