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

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tks_lava.data.ndigits_params import NDigitsParams, read_manifest
from tks_lava.data.paths import default_cache_dir
from tks_lava.data.spec import DatasetNotFoundError, DatasetSpec

__all__ = ["NDigits", "NDigitsParams"]


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
    params_type: ClassVar[type | None] = NDigitsParams
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
        """Generate the data into ``root`` if missing (default: a folder in the cache dir named
        by ``params``); ``root``'s own parameters when it holds a generation and none are given.
        Nothing to download (``download`` is accepted for the common signature)."""
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
    def generator_params(cls, root: Path) -> dict[str, Any] | None:
        manifest = read_manifest(Path(root))
        return None if manifest is None else manifest["params"]

    @classmethod
    def groups(cls, root: Path, files: list[Path]) -> np.ndarray | None:
        """The source image of each recording (its three variants share one)."""
        manifest = read_manifest(Path(root))
        if manifest is None:
            return None
        source = {Path(r["file"]).as_posix(): int(r["source"]) for r in manifest["files"]}
        return np.array([source[Path(f).relative_to(root).as_posix()] for f in files])
