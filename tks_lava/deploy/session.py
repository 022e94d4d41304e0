"""Run a Lava process network so that it always stops, cleans up and reports child errors.

Lava runs every process model in a forked child. Its own failure modes are unfriendly:

* a child's exception reaches the parent only as ``RuntimeError: N Exception(s) occurred``
  (the traceback is logged at INFO level, usually invisible);
* a model that raises mid-step while a downstream model waits for its data deadlocks the whole
  run: the runtime never hears about the error and ``run()`` blocks forever;
* a run that is not stopped (exception, Ctrl-C) leaves child processes and leaked shared memory.

:class:`LavaSession` wraps one network: it compiles, runs steps with a watchdog that notices a
dead or failed child, re-raises the child's real traceback as :class:`LavaChildError`, and on
exit stops the runtime gracefully or, when that cannot work, terminates the children and shuts
the shared-memory manager down. Every Lava run in tks_lava goes through it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import tks_lava  # noqa: F401  (applies the Lava Python 3.11 fix before any lava import)

log = logging.getLogger(__name__)

_POLL_S = 0.05


class LavaChildError(RuntimeError):
    """A Lava process model failed in its child process; the message holds its traceback."""


class LavaSession:
    """Context manager owning the Lava runtime of the network that ``process`` belongs to.

    Example::

        with LavaSession(sink, Loihi2SimCfg(select_tag="fixed_pt")) as session:
            session.run(100)
            data = sink.data.get()
        # here the runtime is stopped and no child process is left

    ``stop_timeout_s`` bounds the graceful stop; after it the children are terminated.
    """

    def __init__(
        self,
        process: Any,
        run_cfg: Any,
        *,
        compile_config: dict | None = None,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.process = process
        self.run_cfg = run_cfg
        self.compile_config = compile_config
        self.stop_timeout_s = stop_timeout_s
        self.steps_run = 0
        self.compile_s = 0.0
        self._failed = False

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LavaSession:
        t0 = time.perf_counter()
        try:
            with _children_ignore_sigint():
                self.process.create_runtime(
                    run_cfg=self.run_cfg, compile_config=self.compile_config
                )
        except BaseException:
            self._failed = True
            self.close()
            raise
        self.compile_s = time.perf_counter() - t0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._failed = True
        self.close()

    @property
    def runtime(self) -> Any:
        return self.process.runtime

    # -- running -----------------------------------------------------------------------------
    def run(self, num_steps: int) -> None:
        """Run ``num_steps`` more steps; raise :class:`LavaChildError` if a child fails."""
        from lava.magma.core.run_conditions import RunSteps

        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        runtime = self.runtime
        if runtime is None:
            raise RuntimeError("LavaSession.run() called outside its 'with' block")
        outcome: dict[str, BaseException] = {}

        def wait() -> None:
            try:
                runtime.wait()
            except BaseException as e:  # reported to the main thread below
                outcome["error"] = e

        try:
            self.process.run(condition=RunSteps(num_steps=num_steps, blocking=False))
            waiter = threading.Thread(target=wait, name="lava-wait", daemon=True)
            waiter.start()
            while waiter.is_alive():
                waiter.join(_POLL_S)
                if waiter.is_alive() and self._children_failed():
                    # Lava deadlocks when a child dies mid-step: do not wait for it.
                    self._failed = True
                    raise self._child_error()
        except BaseException:
            self._failed = True
            raise
        if "error" in outcome:
            self._failed = True
            raise self._child_error() from outcome["error"]
        self.steps_run += num_steps

    # -- errors ------------------------------------------------------------------------------
    def _actors(self) -> list:
        runtime = self.runtime
        infra = getattr(runtime, "_messaging_infrastructure", None) if runtime else None
        return list(getattr(infra, "actors", []) or [])

    def _children_failed(self) -> bool:
        return any(
            actor.exception is not None or _exitcode(actor) not in (None, 0)
            for actor in self._actors()
        )

    def child_tracebacks(self) -> list[str]:
        """Traceback text of every child that raised, plus exit codes of children that died."""
        reports = []
        for actor in self._actors():
            exc = actor.exception
            if exc is not None:
                reports.append(exc[1] if isinstance(exc, tuple) else repr(exc))
            elif (code := _exitcode(actor)) not in (None, 0):
                reports.append(f"Lava child process {actor.pid} died with exit code {code}")
        return reports

    def _child_error(self) -> LavaChildError:
        time.sleep(_POLL_S)  # let a failing child finish sending its traceback
        reports = self.child_tracebacks()
        if not reports:
            return LavaChildError("Lava run failed, but no child process reported an error")
        text = "\n".join(r.rstrip() for r in reports)
        return LavaChildError(f"{len(reports)} Lava process model(s) failed:\n{text}")

    # -- shutdown ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the runtime (gracefully when possible) and reap every child. Idempotent."""
        runtime = self.runtime
        if runtime is None:
            return
        if not self._failed and getattr(runtime, "_is_started", False):
            stopper = threading.Thread(target=runtime.stop, name="lava-stop", daemon=True)
            stopper.start()
            stopper.join(self.stop_timeout_s)
            if stopper.is_alive():
                log.warning("Lava runtime did not stop in %.0f s; terminating", self.stop_timeout_s)
                self._failed = True
        if self._failed:
            _terminate(runtime)
        mp.active_children()  # reap finished children so none stays a zombie


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Fork Lava's children with SIGINT ignored: Ctrl-C reaches the whole process group, and
    each child would print its own KeyboardInterrupt traceback. The parent alone handles it and
    stops them (see :meth:`LavaSession.close`). A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _live(actor: mp.Process) -> bool:
    """Started, not closed by Lava, and still running."""
    return actor._popen is not None and not actor._closed and actor.is_alive()


def _exitcode(actor: mp.Process) -> int | None:
    if actor._popen is None or actor._closed:
        return None
    return actor.exitcode


def _terminate(runtime: Any) -> None:
    """Kill the runtime's child processes and release its shared memory."""
    infra = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(infra, "actors", []) or [])
    for actor in actors:
        if _live(actor):
            actor.terminate()
    for actor in actors:
        try:
            if actor._popen is None or actor._closed:
                continue
            mp.Process.join(actor, 5)
            if actor.is_alive():
                actor.kill()
                mp.Process.join(actor, 5)
        except ValueError:  # Lava's own thread closed the process object meanwhile: it is done
            continue
    smm = getattr(infra, "smm", None)
    if smm is not None:
        try:
            smm.shutdown()
        except Exception as e:  # already down
            log.debug("shared memory manager shutdown: %s", e)
    watchdog = getattr(runtime, "_watchdog_manager", None)
    if watchdog is not None:
        try:
            watchdog.stop()
        except Exception as e:
            log.debug("watchdog stop: %s", e)
    runtime._is_running = False
    runtime._is_started = False
