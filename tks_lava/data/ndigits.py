"""ndigits: an offline N-MNIST-like event dataset emulated from scikit-learn's ``load_digits``.

Why: N-Caltech101 is 1.2 GB and needs a download; tests, CI and CPU experiments need a real
event-classification task that exists everywhere. ndigits records each 8 x 8 digit image the
way N-MNIST / N-Caltech101 were recorded (an event camera making three saccades in front of a
monitor) with the emulator in ``tks_lava.data.emulator``, and writes the result in the
N-Caltech101 folder layout and ``.bin`` format, so the whole real-data path is exercised.

Difficulty comes from what makes the real recordings hard: random shift/rotation/scale and
stroke intensity/thickness per recording, per-pixel threshold mismatch (fixed per "sensor"),
background-activity and hot-pixel noise, timing jitter, and slow saccade starts (min-jerk
motion), which leave the first time bins with few events.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tks_lava.data.paths import default_cache_dir, stable_hash
from tks_lava.data.spec import DatasetNotFoundError, DatasetSpec

GENERATOR_VERSION = 1  # bump when the generator's output changes for the same parameters
MANIFEST = "ndigits.json"
SOURCE_PIXELS = 8  # load_digits images are 8 x 8, values 0..16
UPSAMPLE = 8  # source images are spline-upsampled 8x once, then sampled bilinearly


@dataclass(frozen=True)
class NDigitsParams:
    """Parameters of the ndigits generator (all part of the dataset's identity and cache key).

    Dataset size
        seed: master seed; recording i uses its own stream derived from (seed, class, source,
            variant), so the output does not depend on the number of workers.
        classes: digit classes to include.
        images_per_class: source images per class, drawn at random (seeded) from the 174-183
            that ``load_digits`` has per class; None = all, rounded down to a multiple of 10.
            A multiple of 10 makes the 90/10 split fall between source images, so no source
            image has variants in both train and test.
        variants_per_image: randomly transformed recordings per source image.

    Recording protocol (as N-MNIST: three 100 ms saccades, 34 x 34 px)
        sensor_hw: sensor (H, W) in pixels.
        saccade_ms: duration of each of the three saccades.
        saccade_px: side of the triangle the image moves along.
        motion_profile: "min_jerk" (smooth start/stop of a pan-tilt unit; the first time bins
            see little motion and few events) or "linear" (constant speed).
        step_us: simulation step; crossings inside a step get interpolated times.

    Stimulus (a digit shown bright on a dark monitor)
        pixel_px: sensor pixels per source pixel (8 px * 2.75 = 22 px, like MNIST's 20 px digit
            in its 28 px box).
        background: monitor black level (relative intensity, > 0 so log intensity is finite).
        stroke_range: stroke brightness, uniform per recording (intensity jitter: low values
            mean low contrast and fewer events).
        gamma_range: ink ** gamma, uniform per recording (gamma > 1 thins strokes).
        shift_px: uniform shift of the digit centre in each axis, +-.
        rotation_deg: uniform rotation, +-.
        scale_range: uniform size factor.

    Sensor (fixed for the whole dataset: the same camera recorded everything)
        contrast_threshold: mean log-intensity change per event (real DVS: ~0.15-0.3).
        threshold_sigma: per-pixel threshold mismatch, relative standard deviation (ON and OFF
            independent; real sensors: a few to ~10 %).
        noise_hz: background-activity rate per pixel (ON/OFF equally likely).
        hot_pixels: number of hot pixels, firing at ``hot_pixel_hz`` (mostly ON).
        jitter_us: standard deviation of Gaussian timing noise added to every signal event.
    """

    seed: int = 0
    classes: tuple[int, ...] = tuple(range(10))
    images_per_class: int | None = 170
    variants_per_image: int = 3
    sensor_hw: tuple[int, int] = (34, 34)
    saccade_ms: float = 100.0
    saccade_px: float = 3.0
    motion_profile: str = "min_jerk"
    step_us: int = 2000
    pixel_px: float = 2.75
    background: float = 0.1
    stroke_range: tuple[float, float] = (0.3, 1.0)
    gamma_range: tuple[float, float] = (0.7, 1.5)
    shift_px: float = 2.0
    rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.8, 1.15)
    contrast_threshold: float = 0.25
    threshold_sigma: float = 0.1
    noise_hz: float = 2.0
    hot_pixels: int = 4
    hot_pixel_hz: float = 60.0
    jitter_us: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("classes", "sensor_hw", "stroke_range", "gamma_range", "scale_range"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not set(self.classes) <= set(range(10)) or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"NDigitsParams.classes must be distinct digits 0..9: {self.classes}")
        if self.images_per_class is not None and self.images_per_class < 1:
            raise ValueError("NDigitsParams.images_per_class must be >= 1 or None")
        if self.variants_per_image < 1:
            raise ValueError("NDigitsParams.variants_per_image must be >= 1")
        if self.motion_profile not in ("min_jerk", "linear"):
            raise ValueError(f"NDigitsParams.motion_profile: {self.motion_profile!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NDigitsParams:
        return cls(**d)

    def digest(self) -> str:
        """Short hash of the parameters and generator version."""
        return stable_hash({"version": GENERATOR_VERSION, "params": self.to_dict()}, 8)

    def folder_name(self) -> str:
        return f"ndigits-v{GENERATOR_VERSION}-seed{self.seed}-{self.digest()}"

    @property
    def duration_us(self) -> int:
        return int(round(3 * self.saccade_ms * 1000))


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a complete ndigits folder, or None."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text())


class NDigits(DatasetSpec):
    """ndigits: scikit-learn's 8 x 8 digits recorded by an emulated event camera through three
    saccades (see ``NDigitsParams`` for every parameter and why). 10 classes, 34 x 34 sensor,
    ~300 ms per recording, 5,100 recordings by default, N-Caltech101 folder layout and format,
    90/10 per-class split in name order (the N-Caltech101 rule). Generated on first use.

    Source images: the UCI optical digits in scikit-learn::

        @misc{alpaydin1998optical,
          title={Optical Recognition of Handwritten Digits},
          author={Alpaydin, E. and Kaynak, C.}, year={1998},
          howpublished={UCI Machine Learning Repository}, doi={10.24432/C50P49}
        }
    """

    name: ClassVar[str] = "ndigits"
    sensor_size: ClassVar[tuple[int, int, int]] = (34, 34, 2)
    default_frame_size: ClassVar[tuple[int, int] | None] = None
    root_candidates: ClassVar[tuple[str, ...]] = ("",)
    generated: ClassVar[bool] = True
    layout: ClassVar[str] = (
        "  <root>/<digit>/image_XXXX.bin (digits 0..9, N-Caltech101 layout) + <root>/ndigits.json"
    )
    how_to_get: ClassVar[str] = (
        "  Generated offline from scikit-learn's load_digits: python -m tks_lava.data "
        "--dataset ndigits --prepare\n  (FrameDataset('ndigits') also generates it on first use)."
    )

    @classmethod
    def default_root(
        cls, params: NDigitsParams | None = None, cache_dir: str | os.PathLike | None = None
    ) -> Path:
        """``<cache_dir or default_cache_dir()>/ndigits-v<version>-seed<seed>-<params hash>``."""
        base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return base / (params or NDigitsParams()).folder_name()

    @classmethod
    def prepare(
        cls,
        root: str | os.PathLike | None,
        *,
        download: bool = False,
        progress: bool = True,
        params: NDigitsParams | None = None,
        force: bool = False,
        workers: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> Path:
        """Generate the data into ``root`` if missing (default: a folder in the cache dir)."""
        if root is None:
            root = cls.default_root(params, cache_dir)
        elif params is None:
            manifest = read_manifest(Path(root))
            if manifest is not None:
                params = NDigitsParams.from_dict(manifest["params"])
        from tks_lava.data.ndigits_generator import generate_ndigits

        return generate_ndigits(root, params, workers=workers, progress=progress, force=force)

    @classmethod
    def locate(cls, root: str | os.PathLike | None) -> Path:
        root = Path(root).expanduser() if root is not None else cls.default_root()
        if read_manifest(root) is None and not root.is_dir():
            raise DatasetNotFoundError(
                f"dataset 'ndigits': {root} does not exist.\nExpected layout:\n{cls.layout}\n"
                f"How to get it:\n{cls.how_to_get}"
            )
        return super().locate(root)

    @classmethod
    def source_version(cls, root: Path) -> dict | None:
        manifest = read_manifest(Path(root))
        if manifest is None:
            return None
        return {"generator_version": manifest["version"], "params_hash": manifest["params_hash"]}

    @classmethod
    def groups(cls, root: Path, files: list[Path]) -> np.ndarray | None:
        """The source image of each recording (its three variants share one)."""
        manifest = read_manifest(Path(root))
        if manifest is None:
            return None
        source = {Path(r["file"]).as_posix(): int(r["source"]) for r in manifest["files"]}
        return np.array([source[Path(f).relative_to(root).as_posix()] for f in files])
