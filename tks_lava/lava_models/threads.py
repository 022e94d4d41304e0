"""One BLAS thread per Lava child process: N processes on N cores, no oversubscription."""

from __future__ import annotations

_LIMITS: list[object] = []


def one_blas_thread() -> None:
    """Limit BLAS/OpenMP pools of this process to one thread (idempotent, process-wide)."""
    if _LIMITS:
        return
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(limits=1))
