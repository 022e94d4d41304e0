"""Data-parallel training (torch.distributed, gloo on the CPU): N processes train like one.

* ``EpochBatches``: the parts of N processes are exactly the batches of one, with loss scales
  that make DDP's gradient average the global batch's mean (numbers worked out by hand).
* Evaluation shards (``DistributedSampler``, padded) gathered back: each sample once, in order.
* Two forked processes at batch B/2 each end an epoch with the weights of one process at batch
  B, report the same test logits, and write exactly one card (world size 2).
* torchrun: a run whose rank 1 is killed stops with a message naming ``--resume``, leaves no
  partial file, and continues with ``--resume`` to one card (slow: two torchrun launches).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import child_pids
from tks_lava.data import NDigitsParams, generate_ndigits
from tks_lava.model.card import ModelCard
from tks_lava.training import TrainConfig, resolve_config, train
from tks_lava.training import distributed as dd
from tks_lava.training.data import EpochBatches, epoch_order

REPO = Path(__file__).resolve().parents[1]
TINY = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)
#: Weights after an epoch, 2 processes at 4 + 3 samples vs 1 process at 7 (float32 gradients
#: averaged over two half-batches instead of one mean): measured |difference| <= 2e-7 after one
#: epoch and <= 1.7e-6 after two (batch 6, 7, 10), on weights up to ~1.3; the tolerance is 5x that.
ATOL, RTOL = 1e-5, 0.0


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("TKS_LAVA_DATA", raising=False)
    for var in dd.LAUNCH_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """30 ndigits recordings: 24 train / 3 validation / 3 test samples."""
    base = tmp_path_factory.mktemp("tiny_ddp")
    root = generate_ndigits(base / "ndigits", TINY, workers=1, progress=False)
    return {"root": root, "cache": base / "cache", "base": base}


def _config(tiny, out: Path, **kw) -> TrainConfig:
    """Batch 7 over 24 samples: batches 7, 7, 7, 3 -> 2 processes take 4+3, 4+3, 4+3, 2+1."""
    settings = dict(
        data_root=str(tiny["root"]),
        cache_dir=str(tiny["cache"]),
        model="tiny_snn",
        epochs=1,
        batch_size=7,
        lr=0.01,
        threads=1,
        out_dir=str(out),
    )
    return resolve_config({**settings, **kw})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- pure parts
def test_epoch_batches_split_each_global_batch_into_contiguous_parts():
    labels = np.zeros(7, dtype=np.int64)
    one = EpochBatches(labels, 4, seed=3, balanced=False)
    two = [EpochBatches(labels, 4, seed=3, balanced=False, rank=r, world=2) for r in (0, 1)]
    for b in [one, *two]:
        b.set_epoch(5)
    order = epoch_order(labels, 5, 3, False)
    assert list(one) == [order[0:4], order[4:7]]
    assert [list(b) for b in two] == [[order[0:2], order[4:6]], [order[2:4], order[6:7]]]
    # batch of 3 split 2 + 1: scales 2*2/3 and 1*2/3 make the average of the two means the
    # mean over 3 samples: (2/3 * 2 * m0 + 2/3 * m1) / 2 = (2 m0 + m1) / 3
    assert [b.share(1) for b in two] == [(2, 4 / 3), (1, 2 / 3)]
    assert [b.share(0) for b in two] == [(2, 1.0), (2, 1.0)] and one.share(1) == (3, 1.0)
    assert len(one) == len(two[0]) == len(two[1]) == 2


def test_epoch_batches_give_an_empty_part_one_sample_of_weight_zero():
    labels = np.zeros(5, dtype=np.int64)
    parts = [EpochBatches(labels, 4, seed=0, balanced=False, rank=r, world=3) for r in range(3)]
    last = [list(b)[-1] for b in parts]
    order = epoch_order(labels, 0, 0, False)
    assert last == [[order[4]], [order[4]], [order[4]]]  # rank 0 owns it; 1 and 2 pad with it
    assert [b.share(1) for b in parts] == [(1, 3.0), (0, 0.0), (0, 0.0)]
    assert [b.share(0)[0] for b in parts] == [2, 1, 1]


def test_launch_is_read_from_torchrun_variables():
    assert dd.from_env({}) == dd.Dist() and not dd.Dist().active and dd.Dist().main
    d = dd.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (d.rank, d.world, d.local_rank, d.active, d.main) == (1, 2, 1, True, False)
    with pytest.raises(ValueError, match="LOCAL_RANK not set"):
        dd.from_env({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="RANK=2, WORLD_SIZE=2"):
        dd.from_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


# ----------------------------------------------------------------------------- processes
def _join(rank: int, world: int, port: int, errors, job) -> None:
    """Child process: join a gloo group over localhost as torchrun would, then run ``job``."""
    launch = {"RANK": rank, "WORLD_SIZE": world, "LOCAL_RANK": rank, "MASTER_PORT": port}
    os.environ.update({k: str(v) for k, v in launch.items()}, MASTER_ADDR="127.0.0.1")
    try:
        job(rank)
    except BaseException:
        errors.put(f"rank {rank}: {traceback.format_exc()}")
        os._exit(1)
    os._exit(0)


def _run_ranks(job, world: int = 2, timeout: float = 180.0) -> None:
    """Fork ``world`` processes that each run ``job(rank)`` in one gloo group; fail on error."""
    ctx = mp.get_context("fork")
    errors = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_join, args=(r, world, port, errors, job)) for r in range(world)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(1.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    messages = [errors.get() for _ in range(sum(p.exitcode != 0 for p in procs))]
    assert all(p.exitcode == 0 for p in procs), "\n".join(messages) or "a rank timed out"


def test_sharded_evaluation_gathers_every_sample_once_in_order(tmp_path, no_leftover_children):
    """5 samples over 2 ranks: the sampler pads to 6 (3 each); gather + trim gives 0..4."""

    def job(rank: int) -> None:
        import torch.distributed as dist

        dist.init_process_group("gloo")
        d = dd.Dist(rank, 2, rank, "gloo")
        ds = torch.utils.data.TensorDataset(torch.arange(5.0))
        mine = torch.stack([x for (x,) in dd.shard(ds, d)])
        rows = dd.gather_rows(mine, 5, d)
        total = dd.all_sum(torch.tensor([rank + 1.0]), d)
        dist.destroy_process_group()
        if rows.tolist() != [0.0, 1.0, 2.0, 3.0, 4.0] or total.tolist() != [3.0]:
            raise AssertionError(f"gathered {rows.tolist()}, summed {total.tolist()}")

    _run_ranks(job)


def test_two_processes_train_like_one(tiny, tmp_path, no_leftover_children):
    """One epoch at global batch 7: 1 process vs 2 processes (4 + 3 samples each step, read by
    a DataLoader worker each)."""
    one = train(_config(tiny, tmp_path / "one"), progress=False, verbose=False)
    two_dir = tmp_path / "two"
    two = _config(tiny, two_dir, workers=1)  # + a persistent DataLoader worker per process

    def job(rank: int) -> None:
        train(two, progress=False, verbose=False)
        if child_pids():
            raise AssertionError(f"train() left its DataLoader workers: {sorted(child_pids())}")

    _run_ranks(job)

    a = torch.load(one.paths["last"], weights_only=True)
    b = torch.load(two_dir / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, atol=ATOL, rtol=RTOL, msg=key)
    for k in ("train_loss", "train_acc"):
        assert b["history"][0][k] == pytest.approx(a["history"][0][k], abs=1e-5), k
    # each test sample once (3 samples over 2 ranks: one padded, then trimmed), same logits
    la, lb = np.load(one.paths["test_logits"]), np.load(two_dir / "test_logits.npz")
    assert lb["logits"].shape == la["logits"].shape == (3, 3, 10)
    assert np.array_equal(lb["labels"], la["labels"])
    np.testing.assert_allclose(lb["logits"], la["logits"], atol=1e-3)

    cards = sorted(p.name for p in two_dir.iterdir() if p.suffix == ".json")
    assert cards == ["config.json", "model_card.json"]  # rank 0 alone wrote
    card = ModelCard.load(two_dir / "model_card.json")
    assert card.hyperparameters["world_size"] == 2 and card.hyperparameters["global_batch"] == 7
    assert card.hyperparameters["batch_per_process"] == 4
    assert card.torch_accuracy["n"] == 3
    assert card.torch_accuracy["per_step"] == one.card.torch_accuracy["per_step"]


# ----------------------------------------------------------------------------- torchrun
def _torchrun(tiny, out: Path, *extra: str) -> subprocess.Popen:
    launch = "-m torch.distributed.run --standalone --nproc-per-node 2 -m tks_lava.train"
    run = "--model tiny_snn --batch-size 6 --lr 0.01 --quiet"
    data = [
        "--data-root",
        str(tiny["root"]),
        "--cache-dir",
        str(tiny["cache"]),
        "--out-dir",
        str(out),
    ]
    cmd = [sys.executable, *launch.split(), *run.split(), *data, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _worker(parent: int, rank: int) -> int | None:
    """PID of the torchrun worker with ``RANK=rank`` among ``parent``'s children."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"RANK={rank}".encode() in env:
            return int(stat.parent.name)
    return None


@pytest.mark.slow
def test_torchrun_killed_rank_stops_cleanly_and_resumes(tiny, tmp_path):
    """Kill rank 1 after epoch 1: the job stops with a --resume hint and no partial file;
    ``--resume`` under torchrun finishes the run and writes one card."""
    out = tmp_path / "run"
    proc = _torchrun(tiny, out, "--epochs", "8")
    try:
        metrics, deadline = out / "metrics.jsonl", time.monotonic() + 240
        while not (metrics.is_file() and metrics.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "epoch 1 did not finish"
            time.sleep(0.05)
        victim = _worker(proc.pid, 1)
        assert victim is not None, "rank 1 not found"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, "the run finished before rank 1 was killed"
    assert f"--resume {out}" in err, err[-3000:]
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name], "partial file left"
    done = len(torch.load(out / "last.pt", weights_only=True)["history"])
    assert 1 <= done < 8 and not (out / "model_card.json").exists()

    resumed = _torchrun(tiny, out, "--resume", str(out))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 9))
    card = ModelCard.load(out / "model_card.json")
    assert card.hyperparameters["world_size"] == 2 and len(card.history) == 8
    assert sorted(p.name for p in out.glob("*.json")) == ["config.json", "model_card.json"]
