"""DDP: two gloo processes at batch B/2 each train like one process at batch B (issue #21).

Runs the real command line twice into temporary run folders, one after the other:

* one process: ``python -m tks_lava.train --dataset ndigits --epochs 1 --batch-size B ...``;
* two processes: ``python -m torch.distributed.run --standalone --nproc-per-node 2 -m
  tks_lava.train ...`` with the same arguments. ``--batch-size`` is the *global* batch: each
  process takes its contiguous half of every batch (``tks_lava.training.data.EpochBatches``) and
  DDP's gradient average gives the whole batch's mean, so both runs take the same steps.

Both use the CPU, one torch thread per process and the default deterministic mode. Then every
float tensor of the two ``last.pt`` checkpoints' weights is compared (``allclose`` with
:data:`ATOL`/:data:`RTOL`, and the largest absolute difference), as are the saved test logits
and the cards' test accuracies. Each command's wall time and CPU seconds (of the processes it
started) and each run's epoch time (its ``metrics.jsonl``) are kept.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.settings import REPO, RunContext, Settings

#: Tolerance on the weights after one epoch. The two runs differ only in float32 summation
#: order (two half-batch gradients averaged instead of one batch's): measured 5e-6 after the 15
#: steps of the full run, on weights up to ~0.06 in that tensor (tests/test_ddp.py: <= 2e-7 after
#: 4 steps). 1e-4 is 1/30 of one AdamW step at ndigits' lr 3e-3: a run that took another step
#: on a weight (a batch lost, split or weighted wrongly) differs there by about the lr.
ATOL, RTOL = 1e-4, 0.0
#: Tolerance on the test logits (spike-count readouts), as in tests/test_ddp.py
LOGITS_ATOL = 1e-3
PROCESSES = 2
COMMAND_TIMEOUT_S = 900


@dataclass(frozen=True)
class DdpSizes:
    """Training samples (before the 10% validation part is carved out), global batch, test
    samples."""

    limit_train: int
    batch: int
    limit_test: int


FULL = DdpSizes(limit_train=1024, batch=64, limit_test=256)
QUICK = DdpSizes(limit_train=128, batch=16, limit_test=32)


def train_args(sizes: DdpSizes, out_dir: Path) -> list[str]:
    """The ``tks_lava.train`` arguments both runs share (but the run folder)."""
    return [
        *("--dataset", "ndigits", "--epochs", "1", "--device", "cpu", "--threads", "1"),
        *("--batch-size", str(sizes.batch), "--limit-train", str(sizes.limit_train)),
        *("--limit-test", str(sizes.limit_test), "--out-dir", str(out_dir), "--quiet"),
    ]


def commands(sizes: DdpSizes, one: Path, two: Path, python: str = sys.executable) -> dict:
    """The single-process and the torchrun command lines."""
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(PROCESSES)]
    return {
        "single": [python, "-m", "tks_lava.train", *train_args(sizes, one)],
        "ddp": [python, *launch, "-m", "tks_lava.train", *train_args(sizes, two)],
    }


def run_command(command: list[str], timeout: float = COMMAND_TIMEOUT_S) -> dict[str, Any]:
    """Run ``command`` from the repository; its wall and CPU seconds (the processes it started:
    user + system). Raises RuntimeError with the output's end if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"exit {done.returncode}: {' '.join(command)}\n{tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def compare_weights(a: dict, b: dict, atol: float = ATOL, rtol: float = RTOL) -> dict[str, Any]:
    """Every floating-point tensor of state dict ``a`` against ``b``: ``allclose`` with the
    tolerance, the largest absolute difference, the tensor it is in and that tensor's largest
    absolute value."""
    import torch

    if a.keys() != b.keys():
        missing = sorted(set(a) ^ set(b))
        raise ValueError(f"the two runs' weights have different tensors: {missing[:5]}")
    keys = [k for k, v in a.items() if torch.is_tensor(v) and v.is_floating_point()]
    diffs = {
        k: float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in keys
    }
    worst = max(keys, key=lambda k: diffs[k]) if keys else None
    return {
        "tensors": len(keys),
        "values": int(sum(a[k].numel() for k in keys)),
        "allclose": all(torch.allclose(b[k], a[k], rtol=rtol, atol=atol) for k in keys),
        "atol": atol,
        "rtol": rtol,
        "max_abs_diff": max(diffs.values(), default=0.0),
        "max_abs_diff_tensor": worst,
        "max_abs_diff_tensor_scale": float(a[worst].abs().max()) if diffs.get(worst) else 0.0,
        "identical": all(torch.equal(a[k], b[k]) for k in keys),
    }


def compare_logits(a: dict, b: dict, atol: float = LOGITS_ATOL) -> dict[str, Any]:
    """Saved test logits (``logits`` (N, classes, T), ``labels``) of two runs: same labels,
    largest difference, ``allclose``, same predicted class at every step."""
    import numpy as np

    la, lb = np.asarray(a["logits"]), np.asarray(b["logits"])
    if la.shape != lb.shape:
        return {
            "shape": [list(la.shape), list(lb.shape)],
            "allclose": False,
            "same_predictions": False,
        }
    return {
        "shape": list(la.shape),
        "labels_equal": bool(np.array_equal(a["labels"], b["labels"])),
        "max_abs_diff": float(np.abs(la - lb).max()) if la.size else 0.0,
        "atol": atol,
        "allclose": bool(np.allclose(lb, la, rtol=0.0, atol=atol)),
        "same_predictions": bool(np.array_equal(la.argmax(axis=1), lb.argmax(axis=1))),
    }


def read_run(out: Path) -> dict[str, Any]:
    """What one run left: its first epoch's times, the card's test accuracy and batch facts."""
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    card = json.loads((out / "model_card.json").read_text())
    hp = card.get("hyperparameters") or {}
    return {
        "model": (card.get("model_config") or {}).get("name"),
        "epoch_s": row["epoch_s"],
        "train_s": row["train_s"],
        "train_samples_per_s": row["samples_per_s"],
        "train_loss": row["train_loss"],
        "val_acc": row.get("val_acc"),
        "test_accuracy": (card.get("torch_accuracy") or {}).get("cumulative"),
        "world_size": hp.get("world_size", 1),
        "global_batch": hp.get("global_batch", hp.get("batch_size")),
        "batch_per_process": hp.get("batch_per_process"),
        "cards": sorted(p.name for p in out.iterdir() if p.suffix == ".json"),
    }


def compare_runs(one: Path, two: Path) -> dict[str, Any]:
    """Weights (``last.pt``), test logits and test accuracy of the two run folders."""
    import numpy as np
    import torch

    a = torch.load(one / "last.pt", weights_only=True)["model"]
    b = torch.load(two / "last.pt", weights_only=True)["model"]
    with np.load(one / "test_logits.npz") as la, np.load(two / "test_logits.npz") as lb:
        logits = compare_logits(dict(la), dict(lb))
    return {"weights": compare_weights(a, b), "test_logits": logits}


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """Both runs, then the comparison; returns the section's JSON payload."""
    sizes = QUICK if settings.quick else FULL
    with tempfile.TemporaryDirectory(prefix="tks-bench-ddp-") as tmp:
        one, two = Path(tmp) / "single", Path(tmp) / "ddp"
        cmds = commands(sizes, one, two)
        timing: dict[str, Any] = {}
        for name, command in cmds.items():
            ctx.log(f"ddp: {name}: {' '.join(command[1:])}")
            timing[name] = run_command(command)
            ctx.log(f"ddp: {name} took {timing[name]['wall_s']:.1f} s")
        runs = {"single": read_run(one), "ddp": read_run(two)}
        compared = compare_runs(one, two)
    for name in runs:
        runs[name].update(timing[name])
        runs[name]["command"] = " ".join(["python", *cmds[name][1:]]).replace(tmp, "<tmp>")
    w = compared["weights"]
    return {
        "dataset": "ndigits",
        "model": runs["single"]["model"],
        "sizes": asdict(sizes),
        "processes": PROCESSES,
        "backend": "gloo",
        "runs": runs,
        **compared,
        "test_accuracy_equal": runs["single"]["test_accuracy"] == runs["ddp"]["test_accuracy"],
        "matches_single": bool(w["allclose"]),
    }
