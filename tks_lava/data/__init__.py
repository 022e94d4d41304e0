"""Event-camera data layer: AER files, datasets, frames, a frame cache, a torch Dataset.

The registry includes the offline ndigits dataset; the cache is HDF5.

Importing this package is cheap (numpy only); torch, tonic, h5py, scipy and scikit-learn are
imported when first needed. ``FrameDataset``, ``balanced_indices`` (torch) and
``generate_ndigits`` (scipy, scikit-learn) are loaded lazily.
"""

from __future__ import annotations

from typing import Any

from tks_lava.data.aer import EVENT_DTYPE, EventFormatError, read_events, write_events
from tks_lava.data.frames import FrameConfig, bin_events, events_to_frames
from tks_lava.data.ndigits_params import NDigitsParams
from tks_lava.data.paths import default_cache_dir
from tks_lava.data.registry import DATASETS, get_spec
from tks_lava.data.spec import DatasetLayoutError, DatasetNotFoundError, DatasetSpec

__all__ = [
    "DATASETS",
    "EVENT_DTYPE",
    "DatasetLayoutError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "EventFormatError",
    "FrameConfig",
    "FrameDataset",
    "NDigitsParams",
    "balanced_indices",
    "bin_events",
    "default_cache_dir",
    "events_to_frames",
    "generate_ndigits",
    "get_spec",
    "read_events",
    "write_events",
]

_LAZY = {
    "FrameDataset": "tks_lava.data.torch_data",
    "balanced_indices": "tks_lava.data.torch_data",
    "generate_ndigits": "tks_lava.data.ndigits_generator",
}


def __getattr__(name: str) -> Any:  # PEP 562: keep torch and scipy out of importing this package
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tks_lava.data' has no attribute {name!r}")
