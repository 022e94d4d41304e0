"""ndigits' identity: the generator parameters, the generator version and the manifest.

A leaf module (numpy-free, no scipy): the ``NDigits`` spec reads manifests and names folders with
it, and the generator (``tks_lava.data.ndigits_generator``) writes them, so neither imports the
other to know what a generation is.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tks_lava.data.paths import stable_hash

GENERATOR_VERSION = 1  # bump when the generator's output changes for the same parameters
MANIFEST = "ndigits.json"  # written last into a finished generation; its presence marks one


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
