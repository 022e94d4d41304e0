"""Training defaults: the one table of what a run uses when a setting is not given.

:data:`COMMON_DEFAULTS` holds for every dataset, :data:`DATASET_DEFAULTS` per dataset, and
:func:`dataset_defaults` merges them with the dataset's own framing. The CLI help is generated
from these tables (``tks_lava.train``), so it cannot drift from them.
"""

from __future__ import annotations

from typing import Any

from tks_lava.data.registry import get_spec

#: Defaults shared by every dataset (the method spec: AdamW, weight decay 0.01, cosine schedule).
#: ``device`` ``auto`` = CUDA when available, else the CPU (resolved when the run starts);
#: ``neuron_kernels`` ``exact`` = the kernels whose arithmetic Lava reproduces.
COMMON_DEFAULTS: dict[str, Any] = {
    "method": "tks",
    "weight_decay": 0.01,
    "warmup_epochs": 0,
    "temperature": 5.0,  # event datasets (paper)
    "lam_max": 0.3,  # event datasets (paper)
    # TKS loss options (tks_lava.training.losses.tks_loss); the reference's behaviour
    "tks_detach_teacher": False,
    "tks_teacher": "sum",
    "tks_no_teacher": "uniform",
    "tks_tau2": True,
    "balanced": False,
    "val_fraction": 0.1,
    "select": "val",
    "augment": "none",
    "neuron": None,
    "seed": 0,
    "device": "auto",
    "neuron_kernels": "exact",
    "workers": 0,
}

#: The method spec's 48 x 48 event-dataset row (VGG-SNN, batch 128, scaled reference lr).
_VGG_EVENT = dict(
    model="vgg_snn", epochs=100, batch_size=128, lr=5e-3 * 128 / 1024, warmup_epochs=5
)

#: Per-dataset training defaults (the one table). Framing (T, frame size) is the dataset's own
#: (``DatasetSpec.default_timesteps`` / ``default_frame_size``), filled in by
#: :func:`dataset_defaults`. ndigits is sized to train in minutes on 2 CPU cores (small_snn);
#: the 48 x 48 event datasets follow the method spec (VGG-SNN, batch 128, reference lr
#: 5e-3 x batch / 1024 with 5 warm-up epochs); N-Caltech101 samples classes evenly.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "ndigits": dict(model="small_snn", epochs=12, batch_size=64, lr=3e-3, warmup_epochs=1),
    "nmnist": dict(model="small_snn", epochs=20, batch_size=128, lr=3e-3, warmup_epochs=1),
    "ncaltech101": {**_VGG_EVENT, "balanced": True},
    "cifar10dvs": dict(_VGG_EVENT),
    "dvsgesture": {**_VGG_EVENT, "batch_size": 32, "lr": 1e-3},
}


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """Every default of a registered dataset: common, its framing, then its training row
    (a dataset missing from the table trains like N-Caltech101 at its own framing)."""
    spec = get_spec(dataset)
    row = DATASET_DEFAULTS.get(spec.name)
    if row is None:
        row = {**DATASET_DEFAULTS["ncaltech101"], "balanced": False}
    framing = {"timesteps": spec.default_timesteps, "frame_size": spec.default_frame_size}
    return {**COMMON_DEFAULTS, **framing, **row}
