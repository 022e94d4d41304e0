"""One BLAS thread per Lava child process: N processes on N cores, no oversubscription."""

from __future__ import annotations

_LIMITS: list[object] = []


def one_blas_thread() -> None:
    """Limit BLAS/OpenMP pools of this process to one thread (idempotent, process-wide)."""
    if _LIMITS:
        return
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(limits=1))


def spawned_worker_setup() -> None:
    """Prepare a *spawned* pool worker that will use Lava: Lava forks its own children from
    it (so the worker must use 'fork'), and it gets one BLAS and one torch thread."""
    import multiprocessing as mp

    import torch

    mp.set_start_method("fork", force=True)
    one_blas_thread()
    torch.set_num_threads(1)
