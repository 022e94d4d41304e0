"""Registry of dataset specs: name -> spec class."""

from __future__ import annotations

from tks_lava.data.cifar10dvs import CIFAR10DVS
from tks_lava.data.dvsgesture import DVSGesture
from tks_lava.data.ncaltech101 import NCaltech101
from tks_lava.data.ndigits import NDigits
from tks_lava.data.nmnist import NMNIST
from tks_lava.data.spec import DatasetSpec

DATASETS: dict[str, type[DatasetSpec]] = {
    spec.name: spec for spec in (NDigits, NCaltech101, NMNIST, CIFAR10DVS, DVSGesture)
}


def get_spec(name: str) -> type[DatasetSpec]:
    """The spec class registered under ``name`` (case-insensitive; '-' and '_' ignored)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in DATASETS:
        return DATASETS[key]
    raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
