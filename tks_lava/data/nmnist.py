"""N-MNIST: MNIST digits recorded by an ATIS camera making three saccades."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from tks_lava.data.spec import FileList, OfficialSplitSpec, is_visible


class NMNIST(OfficialSplitSpec):
    """N-MNIST (Orchard et al. 2015): 60,000 + 10,000 recordings of 34 x 34 px, 10 classes,
    AER ``.bin`` files, official Train/Test split (taken from the folder names).

    ::

        @article{orchard2015converting,
          title={Converting static image datasets to spiking neuromorphic datasets using
                 saccades},
          author={Orchard, Garrick and Jayawant, Ajinkya and Cohen, Gregory K and Thakor, Nitish},
          journal={Frontiers in Neuroscience}, volume={9}, pages={437}, year={2015}
        }
    """

    name: ClassVar[str] = "nmnist"
    sensor_size: ClassVar[tuple[int, int, int]] = (34, 34, 2)
    default_frame_size: ClassVar[tuple[int, int] | None] = None
    root_candidates: ClassVar[tuple[str, ...]] = ("NMNIST", "")
    layout: ClassVar[str] = (
        "  <data-root>/NMNIST/Train/<digit>/<NNNNN>.bin and <data-root>/NMNIST/Test/<digit>/...\n"
        "  (or Train/ and Test/ directly under <data-root>); digits 0..9"
    )
    how_to_get: ClassVar[str] = (
        "  Download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist\n"
        "  and unzip them as above, or run with --download to let tonic fetch them."
    )
    download_size: ClassVar[str | None] = "two zip files (Train, Test); size not verified here"
    split_rule: ClassVar[str] = "official: Train/ -> train, Test/ -> test"
    splits: ClassVar[dict[str, str]] = {"train": "Train", "test": "Test"}

    @classmethod
    def find_files(cls, root: str | os.PathLike | None, strict: bool = False) -> FileList:
        base = cls.locate(root)
        files: list[Path] = []
        labels: list[int] = []
        classes: list[str] = []
        for part in cls.splits.values():
            d = base / part
            f, lab, cl = cls._scan_class_folders(
                d, sorted(e for e in d.iterdir() if is_visible(e)), strict
            )
            if classes and cl != classes:
                raise cls.not_found(base, f"{d} has classes {cl}, expected {classes}.")
            classes = cl
            files.extend(f)
            labels.extend(lab.tolist())
        return files, np.asarray(labels, dtype=np.int64), classes

    @classmethod
    def download(cls, root: Path) -> None:
        print(f"Downloading N-MNIST ({cls.download_size}) with tonic into {root} ...", flush=True)
        try:
            import tonic

            for train in (True, False):
                tonic.datasets.NMNIST(save_to=str(root), train=train)
        except Exception as err:
            raise cls.not_found(root, f"download failed ({type(err).__name__}: {err}).") from err
