"""Data-parallel training over processes started by ``torchrun`` (torch.distributed + DDP).

``torchrun --nproc-per-node N -m tks_lava.train ...`` starts N copies of the CLI with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set; :func:`session` reads them, joins the process group (gloo
on the CPU, NCCL on CUDA, each process on ``cuda:LOCAL_RANK``) and leaves it at the end. Without
those variables (or with ``WORLD_SIZE=1``) everything here is a no-op: one process trains alone.

What makes N processes train like one (``tks_lava.training.data.EpochBatches``): every process
walks the same epoch order and takes its contiguous part of each global batch of
``config.batch_size`` samples, and its loss is scaled so that DDP's gradient average is the
global batch's mean. Validation and test are sharded with a ``DistributedSampler`` and the
per-sample logits gathered back into sample order (its padding trimmed), so every sample counts
once and N processes report the accuracy of one. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from tks_lava.training.config import ConfigError, TrainConfig

#: Environment variables torchrun sets in every process it starts.
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: ``rank`` of ``world`` processes, ``local_rank`` on its
    machine. ``Dist()`` is a process training alone."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        """True when several processes train together (collectives needed)."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    def tag(self) -> str:
        """``"rank R/N: "`` for messages of a multi-process job, else empty."""
        return f"rank {self.rank}/{self.world}: " if self.active else ""


#: A process training alone.
ALONE = Dist()


def from_env(environ: Mapping[str, str] | None = None) -> Dist:
    """The launch torchrun describes in ``environ`` (default ``os.environ``); ``Dist()`` when
    the variables are absent. A partial set is a usage error."""
    env = os.environ if environ is None else environ
    given = [k for k in LAUNCH_VARS if k in env]
    if not given:
        return Dist()
    if len(given) < len(LAUNCH_VARS):
        missing = ", ".join(k for k in LAUNCH_VARS if k not in env)
        raise ConfigError(f"{missing} not set: start distributed runs with torchrun")
    try:
        rank, world, local = (int(env[k]) for k in LAUNCH_VARS)
    except ValueError:
        raise ConfigError(f"{'/'.join(LAUNCH_VARS)} must be integers") from None
    if not 0 <= rank < world or local < 0:
        raise ConfigError(f"bad torchrun launch: RANK={rank}, WORLD_SIZE={world}")
    return Dist(rank, world, local)


def _backend(config: TrainConfig, d: Dist) -> str:
    """gloo on the CPU; NCCL on CUDA, this process on ``cuda:LOCAL_RANK``."""
    if not config.device.startswith("cuda"):
        return "gloo"
    if config.device != "cuda":
        raise ConfigError(
            f"under torchrun give --device cuda, not {config.device!r}: each process uses "
            "cuda:LOCAL_RANK"
        )
    if d.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK {d.local_rank} but this machine has {torch.cuda.device_count()} CUDA "
            "device(s): use --nproc-per-node <= the number of GPUs"
        )
    torch.cuda.set_device(d.local_rank)  # "cuda" now means cuda:LOCAL_RANK in this process
    return "nccl"


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    """torchrun stops the other workers with SIGTERM when one fails: unwind (temporary files
    are removed, finished files stay) and report like Ctrl-C."""
    raise KeyboardInterrupt(f"stopped by signal {signum}")


@contextlib.contextmanager
def session(config: TrainConfig) -> Iterator[Dist]:
    """Join the torchrun job for the duration of a run (a no-op for one process)."""
    import torch.distributed as dist

    d = from_env()
    if not d.active:
        yield d
        return
    backend = _backend(config, d)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group(backend=backend)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield Dist(d.rank, d.world, d.local_rank, backend)
    except BaseException:
        # the job is ending: torchrun's SIGTERM must not cut the one-line report short, and a
        # group that lost a rank is left to the process exit (NCCL's teardown can block on it)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    signal.signal(signal.SIGTERM, previous)
    if owner:
        dist.destroy_process_group()


@contextlib.contextmanager
def local_leader_first(d: Dist) -> Iterator[None]:
    """Run the block on each machine's local rank 0 first, then on its other ranks, which find
    what it made (a generated dataset, the frame caches) instead of making it at the same time."""
    if d.active and d.local_rank != 0:
        barrier(d)
    yield
    if d.active and d.local_rank == 0:
        barrier(d)


def wrap(model: torch.nn.Module, d: Dist, device: str) -> torch.nn.Module:
    """``model`` in DDP for a multi-process job, else ``model`` itself.

    One forward of one empty frame first, on every rank: SLAYER sets neuron shapes, per-channel
    decays and delays lazily in the first forward (lava-dl issues #26, #59), and DDP must see the
    final parameters. The neurons' state buffers take each batch's shape, so DDP must not sync
    them before each forward (``broadcast_buffers=False``).
    """
    if not d.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    shape = tuple(model.config.input_shape)  # type: ignore[union-attr]
    with torch.no_grad():
        model(torch.zeros(1, *shape, 1, device=device))
    ids = [d.local_rank] if d.backend == "nccl" else None
    params = inspect.signature(DistributedDataParallel).parameters
    # newer torch calls it forward_sync_buffers (broadcast_buffers warns there); that one still
    # syncs buffers at construction, harmless: the forward above gave them one shape everywhere
    no_sync = {
        "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": False
    }
    return DistributedDataParallel(model, device_ids=ids, **no_sync)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DDP wrapper (what checkpoints, evaluation and export use)."""
    return getattr(model, "module", model)


def barrier(d: Dist) -> None:
    """Wait for every process (e.g. until rank 0 has written a checkpoint the others read)."""
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def _comm_device(d: Dist) -> torch.device:
    return torch.device("cuda", d.local_rank) if d.backend == "nccl" else torch.device("cpu")


def all_sum(values: torch.Tensor, d: Dist) -> torch.Tensor:
    """Element-wise sum of ``values`` over the processes (float64, on the CPU)."""
    out = values.detach().to(torch.float64)
    if not d.active:
        return out.cpu()
    import torch.distributed as dist

    out = out.to(_comm_device(d))
    dist.all_reduce(out)
    return out.cpu()


def gather_rows(rows: torch.Tensor, n: int, d: Dist) -> torch.Tensor:
    """The rows of every process in global sample order, first ``n`` kept.

    Rank r holds samples r, r + N, r + 2N, ... of a ``DistributedSampler`` without shuffling
    (equal counts, the tail padded with repeats of the first samples): stacking the ranks and
    interleaving restores the order; trimming to ``n`` drops the repeats.
    """
    if not d.active:
        return rows[:n]
    import torch.distributed as dist

    local = rows.to(_comm_device(d)).contiguous()
    parts = [torch.empty_like(local) for _ in range(d.world)]
    dist.all_gather(parts, local)
    stacked = torch.stack([p.cpu() for p in parts], dim=1)  # (per rank, world, ...)
    return stacked.reshape(-1, *rows.shape[1:])[:n]


def shard(ds: Dataset, d: Dist) -> Dataset:
    """This process's part of an evaluation split (``DistributedSampler``, no shuffling)."""
    if not d.active:
        return ds
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(ds, num_replicas=d.world, rank=d.rank, shuffle=False)
    return Subset(ds, list(sampler))


def split_logits(
    model: torch.nn.Module, ds: Dataset, config: TrainConfig, d: Dist, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step logits (N, C, T) and labels (N,) of a whole split, each sample once, whatever
    the number of processes (each computes its shard; the shards are gathered in order)."""
    from tks_lava.model.evaluation import forward_logits

    part = shard(ds, d)
    show = progress and d.main
    logits, labels = forward_logits(
        unwrap(model), part, config.batch_size, config.device, show, config.workers
    )
    n = len(ds)  # type: ignore[arg-type]
    return gather_rows(logits, n, d), gather_rows(labels, n, d)


def failure_message(err: BaseException, out_dir: str) -> str:
    """One line for a rank that stopped because the job failed: which rank, why, ``--resume``."""
    text = (str(err).strip().splitlines() or [""])[0]
    if isinstance(err, KeyboardInterrupt):
        why = "stopped by torchrun: another rank failed" if "signal" in text else "interrupted"
    elif "onnection" in text or type(err).__name__.startswith("Dist"):
        why = "lost the connection to another rank: it failed or was killed"
    else:
        why = f"{type(err).__name__}: {text if len(text) <= 160 else text[:157] + '...'}"
    return (
        f"{from_env().tag()}the distributed run stopped ({why}). Finished epochs are saved in "
        f"{out_dir}: continue with the same torchrun command plus --resume {out_dir}"
    )
