"""Golden trajectory: the per-epoch losses and validation accuracies of a tiny, deterministic
TKS run are pinned in ``tests/golden/tiny_tks.json``, so a change to the training numerics
fails here and has to be made on purpose.

**Compared exactly** (``==`` on the float64 values JSON round-trips), not to float32 rounding:
the run is deterministic (one thread, deterministic algorithms, fixed seeds), so on the same
torch and CPU kind any difference is a change in the arithmetic; and a tolerance would not
separate harmless from harmful changes anyway, since one rounding difference in a weight update
moves every later step and can flip a spike, which changes a loss by far more than float32
rounding. The numbers hold for the torch version and CPU instruction set the file records
(conv and matmul kernels differ between AVX2 and AVX-512); elsewhere the test skips and says so.

**Regenerate on purpose** (after a deliberate change to the numerics, and say so in the commit)::

    TKS_LAVA_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.test_train import TINY
from tks_lava.data import generate_ndigits
from tks_lava.io import write_bytes_atomic
from tks_lava.training import load_data, resolve_config, train

GOLDEN = Path(__file__).parent / "golden" / "tiny_tks.json"
REGEN = "TKS_LAVA_REGEN_GOLDEN"
#: The pinned run: 24 train / 3 validation samples of the tiny ndigits, 3 steps an epoch.
SETTINGS: dict[str, Any] = {
    "model": "tiny_snn",
    "method": "tks",
    "epochs": 3,
    "batch_size": 8,
    "lr": 0.01,
    "warmup_epochs": 1,
    "seed": 0,
    "device": "cpu",
    "neuron_kernels": "exact",
    "threads": 1,
    "deterministic": True,
}
#: History keys that are wall-clock measurements, not numerics.
TIMING = ("train_s", "eval_s", "epoch_s", "samples_per_s")


def machine() -> dict[str, str]:
    """What the numbers depend on beyond the code: torch and the CPU kernels it dispatches to."""
    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def data_digest(config) -> str:
    """sha256 of the run's train and validation frames and labels (the run's input)."""
    data = load_data(config, progress=False)
    h = hashlib.sha256()
    for part in (data.train, data.val):
        for i in range(len(part)):
            x, y = part[i]
            h.update(torch.as_tensor(x).numpy().tobytes())
            h.update(int(y).to_bytes(4, "little"))
    return h.hexdigest()


def differences(golden: list[dict], got: list[dict]) -> list[str]:
    """Every (epoch, key) whose value differs, with both values."""
    if len(golden) != len(got):
        return [f"{len(got)} epochs, golden has {len(golden)}"]
    out = []
    for want, have in zip(golden, got, strict=True):
        for key in sorted(set(want) | set(have)):
            if want.get(key) != have.get(key):
                out.append(
                    f"epoch {want['epoch']} {key}: golden {want.get(key)!r}, now {have.get(key)!r}"
                )
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The pinned run's config, its history without timings, and its data digest."""
    base = tmp_path_factory.mktemp("golden")
    root = generate_ndigits(base / "ndigits", TINY, workers=1, progress=False)
    config = resolve_config(
        data_root=root, cache_dir=base / "cache", out_dir=base / "run", **SETTINGS
    )
    result = train(config, progress=False, verbose=False)
    history = [{k: v for k, v in row.items() if k not in TIMING} for row in result.history]
    return {"history": json.loads(json.dumps(history)), "data_sha256": data_digest(config)}


@pytest.mark.slow
def test_tiny_run_follows_the_golden_trajectory(run):
    if os.environ.get(REGEN) == "1":
        record = {
            "about": __doc__.split("\n\n")[0].replace("\n", " "),
            "regenerate": f"{REGEN}=1 .venv/bin/python -m pytest -q tests/test_golden.py",
            "machine": machine(),
            "settings": SETTINGS,
            "data_sha256": run["data_sha256"],
            "history": run["history"],
        }
        write_bytes_atomic(GOLDEN, (json.dumps(record, indent=1) + "\n").encode())
        pytest.skip(f"regenerated {GOLDEN}: review its diff and commit it with the reason")
    golden = json.loads(GOLDEN.read_text())
    if golden["machine"] != machine():
        pytest.skip(f"golden numbers are for {golden['machine']}, this is {machine()}")
    assert golden["settings"] == SETTINGS, f"SETTINGS changed: regenerate ({golden['regenerate']})"
    assert golden["data_sha256"] == run["data_sha256"], (
        "the tiny ndigits data changed (generator or framing), not the training numerics; if "
        f"that is intended, regenerate: {golden['regenerate']}"
    )
    diff = differences(golden["history"], run["history"])
    assert not diff, (
        "the training numerics changed:\n  " + "\n  ".join(diff[:12]) + "\nIf that is intended, "
        f"regenerate ({golden['regenerate']}) and say why in the commit."
    )


def test_differences_names_each_changed_value():
    golden = [{"epoch": 1, "loss": 1.5, "acc": [0.5, 1.0]}]
    assert differences(golden, [{"epoch": 1, "loss": 1.5, "acc": [0.5, 1.0]}]) == []
    assert differences(golden, [{"epoch": 1, "loss": 1.5000000000000002, "acc": [0.5, 1.0]}]) == [
        "epoch 1 loss: golden 1.5, now 1.5000000000000002"
    ]
    assert differences(golden, []) == ["0 epochs, golden has 1"]
