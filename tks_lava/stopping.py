"""Clean stops: SIGTERM unwinds like Ctrl-C, and worker pools never outlive their parent.

Python's default SIGTERM kills a process on the spot: no ``finally`` block runs, so Lava's
forked children, a pool's workers and their Lava children are left running. The CLIs run
under :func:`run_cli` (:func:`sigterm_unwinds`): there SIGTERM raises :class:`Terminated` (a
``KeyboardInterrupt``) in the main thread, every context manager on the way out stops what it
owns, and the CLI prints one line and exits with :data:`EXIT_SIGTERM` (143 = 128 + 15, what a
shell reports for a process killed by SIGTERM).

:func:`worker_pool` is the one way the package starts worker processes (``--jobs``): spawned
workers that ignore Ctrl-C (the parent owns it) and unwind on SIGTERM; when the parent leaves
the pool by any exception it sends SIGTERM to every worker and joins them. It refuses, with
what to add, a script that would re-run itself in every worker (no ``__main__`` guard).
"""

from __future__ import annotations

import ast
import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

#: exit status of a CLI stopped by SIGTERM (the shell's 128 + signal number)
EXIT_SIGTERM = 128 + signal.SIGTERM
#: exit status of a CLI stopped by Ctrl-C
EXIT_SIGINT = 128 + signal.SIGINT


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread after :func:`sigterm_unwinds` so that cleanup runs."""


class MainGuardError(RuntimeError):
    """Worker processes were asked for from a script without ``if __name__ == "__main__":``."""


_RESEND_DELAY_S = 0.05
#: how long a stopped pool worker gets to unwind (its Lava session stops its children) before
#: it and everything below it are killed
WORKER_STOP_S = 30.0

# this process's SIGTERM state: the pid that installed the handler, whether a task of a worker
# is running (a worker only raises inside a task), and whether a SIGTERM arrived
_STATE: dict[str, Any] = {
    "owner": None,
    "in_task": False,
    "stopping": False,
    "worker": False,
    "previous_hook": sys.unraisablehook,
}


def _on_sigterm(signum: int, frame: Any) -> None:
    if os.getpid() != _STATE["owner"]:  # a forked child inherited the handler: die as default
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    first = not _STATE["stopping"]
    _STATE["stopping"] = True
    # A pool worker raises only inside a task: between tasks it may be writing a result to the
    # parent, which an exception would cut in half. It refuses its next task instead.
    if first and (_STATE["in_task"] or not _STATE["worker"]):
        raise Terminated(f"stopped by signal {signum}")


def _redeliver_dropped(unraisable: Any) -> None:
    """``sys.unraisablehook``: Python drops an exception raised where it cannot propagate (a
    fork callback: the signal often lands while Lava forks; a finalizer). A dropped
    :class:`Terminated` is delivered again, at the next point where it can propagate."""
    if isinstance(unraisable.exc_value, Terminated) and os.getpid() == _STATE["owner"]:
        _STATE["stopping"] = False
        # not from here: a signal handled inside this hook would be dropped again
        threading.Thread(target=_resend_sigterm, name="resend-sigterm", daemon=True).start()
        return
    _STATE["previous_hook"](unraisable)


def _resend_sigterm() -> None:
    time.sleep(_RESEND_DELAY_S)  # the fork (or finalizer) that dropped it has finished by then
    os.kill(os.getpid(), signal.SIGTERM)


def _default_sigterm_in_child() -> None:
    """Forked children (Lava's process models, DataLoader workers) die on SIGTERM at once."""
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to reset
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_default_sigterm_in_child)


def _install() -> None:
    _STATE.update(owner=os.getpid(), stopping=False)
    if sys.unraisablehook is not _redeliver_dropped:
        _STATE["previous_hook"] = sys.unraisablehook
        sys.unraisablehook = _redeliver_dropped
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[bool]:
    """Within the block SIGTERM raises :class:`Terminated` in this process's main thread (a
    second SIGTERM while the first unwinds is ignored, so the cleanup is not cut short); the
    previous handler is back afterwards. Yields False (nothing changed) outside the main
    thread, where Python cannot install a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.getsignal(signal.SIGTERM)
    _install()
    try:
        yield True
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = _STATE["previous_hook"]


def run_cli(main: Callable[[], int], after_stop: str) -> int:
    """``main()`` under :func:`sigterm_unwinds`. A stop that ``main`` does not report itself
    prints one line (``"stopped by SIGTERM; <after_stop>"``) and gives 143 (130 for Ctrl-C).
    No child process that ``main`` started outlives it (:func:`end_children`)."""
    before = child_pids()
    with sigterm_unwinds():
        try:
            return main()
        except KeyboardInterrupt as err:
            print(f"{stop_reason(err)}; {after_stop}", file=sys.stderr)
            return exit_status(err)
        finally:
            end_children(before)


def child_pids() -> set[int]:
    """This process's live children: from ``/proc`` (every fork, known to
    ``multiprocessing`` or not) and ``multiprocessing``'s own list."""
    me, pids = os.getpid(), {p.pid for p in mp.active_children() if p.pid is not None}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == me and state != "Z":
            pids.add(int(stat.parent.name))
    return pids


def end_children(before: set[int], timeout_s: float = 5.0) -> None:
    """SIGTERM (after ``timeout_s``: SIGKILL) every child started since ``before``
    (:func:`child_pids`) that still runs, and reap it. Lava forks its process models one by one
    and registers each after the fork: a stop that lands in between leaves a child that neither
    Lava, a ``LavaSession`` nor ``multiprocessing`` knows. The resource tracker is left alone:
    it exits by itself once its last user has, after releasing leaked shared memory."""
    from multiprocessing import resource_tracker

    known = {p.pid: p for p in mp.active_children()}
    left = child_pids() - before - {resource_tracker._resource_tracker._pid}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout_s if sig == signal.SIGTERM else 1.0)
        while left and time.monotonic() < deadline:
            left = {pid for pid in left if not _reaped(pid, known.get(pid))}
            time.sleep(0.02)


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (read from ``/proc`` first: once ``pid`` is
    gone its children no longer say whose they were)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {c for c, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    for member in tree:
        with contextlib.suppress(OSError):
            os.kill(member, signal.SIGKILL)


def _reaped(pid: int, process: mp.process.BaseProcess | None) -> bool:
    """Whether child ``pid`` has ended (and is reaped: through its ``multiprocessing`` object
    when it has one, so that object stays consistent)."""
    if process is not None:
        with contextlib.suppress(ValueError):  # closed by its owner meanwhile: it has ended
            return not process.is_alive()
        return True
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # reaped elsewhere
        return True


def exit_status(err: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_SIGTERM if isinstance(err, Terminated) else EXIT_SIGINT


def stop_reason(err: KeyboardInterrupt) -> str:
    """``"stopped by SIGTERM"`` or ``"interrupted"``: the start of a CLI's one line."""
    return "stopped by SIGTERM" if isinstance(err, Terminated) else "interrupted"


# ----------------------------------------------------------------------------- worker pools
def _worker_init() -> None:
    """In each worker: Ctrl-C is the parent's to handle (it sends SIGTERM), SIGTERM unwinds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _install()
    _STATE["worker"] = True


def _run_task(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """A task in a worker: refused once a SIGTERM arrived; SIGTERM raises only in here."""
    if _STATE["stopping"]:
        raise Terminated("stopped by signal 15")
    _STATE["in_task"] = True
    before = child_pids()
    try:
        return fn(*args, **kwargs)
    except BaseException:
        end_children(before)  # e.g. a Lava child forked as the signal landed
        raise
    finally:
        _STATE["in_task"] = False


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block. A worker spawned meanwhile inherits the
    blocked mask, so a Ctrl-C while it imports (before its initializer ignores SIGINT) cannot
    interrupt it with a traceback; a Ctrl-C meant for this process waits until the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class WorkerPool:
    """The pool :func:`worker_pool` yields: ``submit`` like ``ProcessPoolExecutor.submit``
    (``fn`` must be importable by name: the workers are spawned)."""

    def __init__(self, executor: ProcessPoolExecutor) -> None:
        self.executor = executor

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        with _sigint_blocked():  # a worker may be started here: it must never see a Ctrl-C
            return self.executor.submit(_run_task, fn, args, kwargs)

    def processes(self) -> list[mp.process.BaseProcess]:
        return list((getattr(self.executor, "_processes", None) or {}).values())


def _has_main_guard(source: str) -> bool:
    """True if the module has a top-level ``if __name__ == "__main__":``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [node.test.left, *node.test.comparators]
            texts = {n.id if isinstance(n, ast.Name) else getattr(n, "value", None) for n in names}
            if {"__name__", "__main__"} <= texts:
                return True
    return False


def check_main_guard(what: str) -> None:
    """Raise :class:`MainGuardError` if spawned workers would re-run the ``__main__`` script
    (one without a ``__main__`` guard runs its whole top level again in every worker, which
    then tries to start workers itself and dies with a bare ``BrokenProcessPool``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not str(path).endswith(".py"):
        return  # interactive, a notebook kernel, python -c: nothing is re-run
    try:
        guarded = _has_main_guard(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    if not guarded:
        raise MainGuardError(
            f"{what} starts worker processes, and each worker imports your script {path} "
            "again before it starts (Python's 'spawn' method), so your script would run once "
            'more in every worker. Put its top-level code under `if __name__ == "__main__":` '
            "(e.g. def main(): ... then main() under that line), or use jobs=1."
        )


def _stop_workers(procs: list[mp.process.BaseProcess]) -> None:
    """SIGTERM every live worker: each stops its task (and the Lava runtime in it)."""
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGTERM)


@contextlib.contextmanager
def worker_pool(jobs: int, what: str = "jobs > 1") -> Iterator[WorkerPool]:
    """``jobs`` spawned worker processes that end with the block. On an exception (an error,
    Ctrl-C, SIGTERM) queued tasks are cancelled, every worker gets SIGTERM and unwinds, and all
    are joined before the exception goes on; a worker left alive after that is killed."""
    check_main_guard(what)
    executor = ProcessPoolExecutor(
        max_workers=max(1, jobs), mp_context=mp.get_context("spawn"), initializer=_worker_init
    )
    pool = WorkerPool(executor)
    procs: list[mp.process.BaseProcess] = []
    try:
        yield pool
    except BaseException:
        procs = pool.processes()
        _stop_workers(procs)
        raise
    finally:
        procs = procs or pool.processes()
        executor.shutdown(wait=True, cancel_futures=True)
        for p in procs:
            p.join(WORKER_STOP_S)
            if p.is_alive():  # it did not unwind in time (stuck in C code): do not leave it
                _kill_tree(p.pid)
                p.join(5)
