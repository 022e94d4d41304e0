"""DVS128 Gesture: 11 hand and arm gestures recorded with a DVS128 camera."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from tks_lava.data.aer import EVENT_DTYPE, EventFormatError, check_time_order
from tks_lava.data.frames import clip_to_sensor
from tks_lava.data.spec import FileList, OfficialSplitSpec, is_visible


class DVSGesture(OfficialSplitSpec):
    """DVS128 Gesture (Amir et al. 2017) in tonic's preprocessed form: one ``<label>.npy`` per
    gesture (columns x, y, p, t with t in ms), official train/test split by folder.

    ::

        @inproceedings{amir2017low,
          title={A low power, fully event-based gesture recognition system},
          author={Amir, Arnon and Taba, Brian and Berg, David and others},
          booktitle={CVPR}, pages={7243--7252}, year={2017}
        }
    """

    name: ClassVar[str] = "dvsgesture"
    sensor_size: ClassVar[tuple[int, int, int]] = (128, 128, 2)
    default_frame_size: ClassVar[tuple[int, int] | None] = (32, 32)
    default_timesteps: ClassVar[int] = 20
    file_suffix: ClassVar[str] = ".npy"
    root_candidates: ClassVar[tuple[str, ...]] = ("DVSGesture", "")
    classes: ClassVar[list[str]] = [
        "Hand clapping",
        "Right hand wave",
        "Left hand wave",
        "Right arm cw",
        "Right arm ccw",
        "Left arm cw",
        "Left arm ccw",
        "Arm roll",
        "Air drums",
        "Air guitar",
        "Other gestures",
    ]
    splits: ClassVar[dict[str, str]] = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
    split_rule: ClassVar[str] = "official: ibmGestureTrain -> train, ibmGestureTest -> test"
    layout: ClassVar[str] = (
        "  <data-root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy and\n"
        "  <data-root>/DVSGesture/ibmGestureTest/...   (tonic's preprocessed copy; label 0..10)"
    )
    how_to_get: ClassVar[str] = (
        "  Let tonic download its preprocessed copy once on a connected machine:\n"
        "  tonic.datasets.DVSGesture(save_to=<data-root>, train=True) (and train=False)."
    )

    @classmethod
    def find_files(cls, root: str | os.PathLike | None, strict: bool = False) -> FileList:
        base = cls.locate(root)
        files: list[Path] = []
        for part in cls.splits.values():
            for user in sorted(d for d in (base / part).iterdir() if d.is_dir() and is_visible(d)):
                files.extend(
                    sorted(f for f in user.glob(f"*{cls.file_suffix}") if f.stem.isdigit())
                )
        labels = np.asarray([int(f.stem) for f in files], dtype=np.int64)
        if not files:
            raise cls.not_found(base, f"no <label>.npy recordings under {base}.")
        return files, labels, list(cls.classes)

    @classmethod
    def read_events(cls, path: Path) -> tuple[np.ndarray, int]:
        try:
            raw = np.load(path)
        except Exception as err:
            raise EventFormatError(f"{path}: cannot load .npy ({err}).") from err
        if raw.ndim != 2 or raw.shape[1] != 4 or raw.shape[0] == 0:
            raise EventFormatError(
                f"{path}: expected a non-empty (N, 4) array of x, y, p, t; got {raw.shape}."
            )
        ev = np.empty(raw.shape[0], dtype=EVENT_DTYPE)
        ev["x"], ev["y"], ev["p"] = raw[:, 0], raw[:, 1], raw[:, 2]
        ev["t"] = np.round(raw[:, 3] * 1000)  # ms -> us, as tonic does
        check_time_order(ev, path)
        return clip_to_sensor(ev, cls.sensor_size)
