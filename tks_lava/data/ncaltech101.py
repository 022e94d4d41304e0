"""N-Caltech101: Caltech101 images recorded by an ATIS camera making three saccades."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from tks_lava.data.spec import DatasetSpec


class NCaltech101(DatasetSpec):
    """N-Caltech101 (Orchard et al. 2015): 8,709 recordings, 101 classes (100 objects and
    ``BACKGROUND_Google``), AER ``.bin`` files, ~300 ms each, no official split.

    Events outside the 240 x 180 sensor are dropped. Frames default to the reference (BrainCog,
    used by TKS): 10 equal-duration bins, bilinear resize to 48 x 48 with ``align_corners=True``,
    per class the first ``round(0.9 * n)`` files in name order for training.

    Note: BrainCog's loader bins on each recording's event bounding box (tonic shifts x, y to
    start at 0 and ``ToFrame(sensor_size=None)`` sizes the frame to the maxima) before
    stretching to 48 x 48; use ``FrameConfig(size=(48, 48), crop="bbox")`` to reproduce that.
    The default here keeps the full 240 x 180 sensor, so the aspect ratio is the sensor's.

    ::

        @article{orchard2015converting,
          title={Converting static image datasets to spiking neuromorphic datasets using
                 saccades},
          author={Orchard, Garrick and Jayawant, Ajinkya and Cohen, Gregory K and Thakor, Nitish},
          journal={Frontiers in Neuroscience}, volume={9}, pages={437}, year={2015}
        }
    """

    name: ClassVar[str] = "ncaltech101"
    sensor_size: ClassVar[tuple[int, int, int]] = (240, 180, 2)
    default_frame_size: ClassVar[tuple[int, int] | None] = (48, 48)
    root_candidates: ClassVar[tuple[str, ...]] = ("NCALTECH101/Caltech101", "Caltech101", "")
    layout: ClassVar[str] = (
        "  <data-root>/NCALTECH101/Caltech101/<class>/image_XXXX.bin   (tonic's layout)\n"
        "  or <data-root>/Caltech101/<class>/image_XXXX.bin, or <data-root>/<class>/...\n"
        "  101 class folders (accordion, airplanes, ..., BACKGROUND_Google), 8,709 files"
    )
    how_to_get: ClassVar[str] = (
        "  Download N-Caltech101 (~1.2 GB zip) from\n"
        "  https://www.garrickorchard.com/datasets/n-caltech101 (or data.mendeley.com,\n"
        "  dataset cy6cvx3ryv), unzip it so the class folders sit as above, and pass\n"
        "  --data-root <data-root>; or run with --download to let tonic fetch it (~1.2 GB)."
    )
    download_size: ClassVar[str | None] = "~1.2 GB"

    @classmethod
    def download(cls, root: Path) -> None:
        print(
            f"Downloading N-Caltech101 ({cls.download_size}) with tonic into {root} ...", flush=True
        )
        try:
            import tonic

            tonic.datasets.NCALTECH101(save_to=str(root))
        except Exception as err:  # network errors come in many types
            raise cls.not_found(root, f"download failed ({type(err).__name__}: {err}).") from err
