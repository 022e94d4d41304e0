"""CIFAR10-DVS: CIFAR-10 images moved on a monitor in front of a DVS128 camera."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from tks_lava.data.aer import EVENT_DTYPE, EventFormatError, check_time_order
from tks_lava.data.frames import clip_to_sensor
from tks_lava.data.spec import DatasetSpec


class CIFAR10DVS(DatasetSpec):
    """CIFAR10-DVS (Li et al. 2017): 10,000 recordings of 128 x 128 px, 10 classes, stored by
    tonic as ``.aedat4`` (reading needs the ``aedat`` package); no official split, so the
    N-Caltech101 rule (first 90 % per class in name order) is used, as in the TKS reference.

    ::

        @article{li2017cifar10,
          title={CIFAR10-DVS: an event-stream dataset for object classification},
          author={Li, Hongmin and Liu, Hanchao and Ji, Xiangyang and Li, Guoqi and Shi, Luping},
          journal={Frontiers in Neuroscience}, volume={11}, pages={309}, year={2017}
        }
    """

    name: ClassVar[str] = "cifar10dvs"
    sensor_size: ClassVar[tuple[int, int, int]] = (128, 128, 2)
    default_frame_size: ClassVar[tuple[int, int] | None] = (48, 48)
    file_suffix: ClassVar[str] = ".aedat4"
    root_candidates: ClassVar[tuple[str, ...]] = ("CIFAR10DVS", "")
    layout: ClassVar[str] = (
        "  <data-root>/CIFAR10DVS/<class>/<name>.aedat4   (tonic's layout; classes airplane..truck)"
    )
    how_to_get: ClassVar[str] = (
        "  Download CIFAR10-DVS (https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671)\n"
        "  and convert/unpack it as tonic.datasets.CIFAR10DVS does (it needs `pip install aedat`)."
    )

    @classmethod
    def read_events(cls, path: Path) -> tuple[np.ndarray, int]:
        try:
            from tonic.io import read_aedat4

            raw = read_aedat4(str(path))
        except ImportError as err:
            raise ImportError(
                f"reading {path} needs the 'aedat' package (pip install aedat)"
            ) from err
        except Exception as err:
            raise EventFormatError(f"{path}: cannot decode aedat4 ({err}).") from err
        raw.dtype.names = ["t", "x", "y", "p"]
        if raw.size == 0:
            raise EventFormatError(f"{path}: no events.")
        ev = np.empty(raw.size, dtype=EVENT_DTYPE)
        for f in EVENT_DTYPE.names:
            ev[f] = raw[f]
        check_time_order(ev, path)
        return clip_to_sensor(ev, cls.sensor_size)
