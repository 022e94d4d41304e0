"""Every way of stopping is clean: real SIGTERM / SIGINT sent to the real CLIs (run_netx with one
and with two Lava runtimes, train, the study, the benchmarks) end their workers and Lava
children, keep what was finished and exit 143 (130 for Ctrl-C) with one line; ``--jobs > 1``
from a script without a ``__main__`` guard says what to add."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, alive, descendants
from tks_lava.stopping import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    MainGuardError,
    Terminated,
    _has_main_guard,
    check_main_guard,
    sigterm_unwinds,
)

SHIPPED_NET = REPO / "netx_models" / "ndigits_tks.net"
START_TIMEOUT_S = 300  # a CLI's start (torch, Lava, data) on a busy 2-core machine
STOP_TIMEOUT_S = 120


# ----------------------------------------------------------------------------- in process
def test_sigterm_raises_terminated_in_the_block_and_the_old_handler_returns():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_unwinds() as installed:
        assert installed
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises long before this ends
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_terminated_that_python_drops_is_delivered_again():
    """Raised where Python cannot propagate it (a fork callback, a finalizer), Terminated would
    be printed and lost; it comes back at the next point where it can propagate."""

    class Finalizer:
        def __del__(self):
            raise Terminated("as if SIGTERM landed in a finalizer")

    with pytest.raises(Terminated), sigterm_unwinds():
        Finalizer()  # dropped at once: its __del__ raises where nothing can catch it
        time.sleep(5)  # the redelivered one ends this long before


def test_a_forked_child_dies_on_sigterm_at_once():
    """Lava forks its process models: they must not inherit the unwinding handler."""
    with sigterm_unwinds():
        pid = os.fork()
        if pid == 0:  # the child: wait to be killed
            time.sleep(30)
            os._exit(0)
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def test_main_guard_is_recognised_in_both_spellings():
    assert _has_main_guard('import x\nif __name__ == "__main__":\n    x.main()\n')
    assert _has_main_guard("if '__main__' == __name__:\n    pass\n")
    assert not _has_main_guard("from tks_lava.deploy.window import run_lava\nrun_lava(1, 2)\n")
    assert not _has_main_guard("def f():\n    if __name__ == '__main__':\n        pass\n")


def test_main_guard_check_names_the_script_and_the_fix(tmp_path, monkeypatch):
    script = tmp_path / "my_script.py"
    script.write_text("print('no guard')\n")
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(script), raising=False)
    with pytest.raises(MainGuardError) as err:
        check_main_guard("a Lava run with jobs=2")
    text = str(err.value)
    assert str(script) in text and 'if __name__ == "__main__":' in text and "jobs=1" in text
    script.write_text("if __name__ == '__main__':\n    print('guarded')\n")
    check_main_guard("a Lava run with jobs=2")  # no error


# ----------------------------------------------------------------------------- helpers
def _start(argv: list[str], cwd: Path, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        # a process that hangs is sent SIGABRT: faulthandler prints where each thread was
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _wait_for(proc: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """Wait until ``ready()``; fail with the process's output if it ends or takes too long."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"ended (status {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() - t0 > START_TIMEOUT_S:
            proc.kill()
            pytest.fail(f"no {what} after {START_TIMEOUT_S} s")
        time.sleep(0.2)


def _has_grandchild(proc: subprocess.Popen) -> bool:
    """A worker with Lava children of its own is running under ``proc``."""
    return any(descendants(child) for child in descendants(proc.pid))


def _lava_running(proc: subprocess.Popen, n: int = 4) -> bool:
    """At least ``n`` processes under ``proc`` (Lava forks one per process model)."""
    return len(descendants(proc.pid)) >= n


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, group: bool = False) -> tuple:
    """Send ``sig`` (to the process group, as a terminal's Ctrl-C, if ``group``); wait for
    the exit; (status, stdout, stderr lines), after checking that nothing below is left."""
    seen = descendants(proc.pid)
    assert seen, "nothing was running below the process: the test would prove nothing"
    os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= descendants(proc.pid)  # children forked as the signal lands count too
        time.sleep(0.1)
    if proc.poll() is None:
        _fail(proc, seen, f"still running {STOP_TIMEOUT_S} s after the signal")
    try:
        out, err = proc.communicate(timeout=30)  # EOF once no process holds the pipes
    except subprocess.TimeoutExpired:
        _fail(proc, seen, f"exited {proc.returncode}, but its pipes are held open")
    deadline = time.monotonic() + 10  # exited children may take a moment to be reaped
    while alive(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(seen), f"left running: {_describe(alive(seen))}\n{err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    return proc.returncode, out, lines


def _describe(pids: set[int]) -> str:
    """One line per process: pid, parent, state, command line (to tell who was left)."""
    rows = []
    for pid in sorted(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
            cmd = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:120]
        except OSError:
            continue
        rows.append(f"{pid} ppid {fields['PPid']} {fields['State']}: {cmd}")
    return "\n".join(rows)


def _fail(proc: subprocess.Popen, seen: set[int], why: str) -> None:
    """Kill what is left (so nothing outlives the test) and fail with who it was."""
    left = _describe(alive(seen | {proc.pid}))
    for sig in (signal.SIGABRT, signal.SIGKILL):  # SIGABRT: faulthandler prints each stack
        for pid in alive(seen | {proc.pid}):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        time.sleep(2)
    try:
        err = proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        err = "(stderr still held open)"
    pytest.fail(f"{why}; still running:\n{left}\nstderr:\n{err[-8000:]}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 30-recording ndigits, its frame cache and a tiny model trained on it (one epoch)."""
    from tks_lava.data import NDigitsParams, generate_ndigits
    from tks_lava.train import main as train_main

    base = tmp_path_factory.mktemp("signals")
    params = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)
    root = generate_ndigits(base / "ndigits", params, workers=1, progress=False)
    cache, pub = base / "cache", base / "models"
    argv = ["--data-root", str(root), "--cache-dir", str(cache), "--out-dir", str(base / "run")]
    argv += ["--model", "tiny_snn", "--epochs", "1", "--batch-size", "16", "--quiet"]
    assert train_main([*argv, "--publish", "tiny", "--publish-dir", str(pub)]) == 0
    return {"root": root, "cache": cache, "card": pub / "tiny.json", "base": base}


def _run_netx(tiny, jobs: int) -> list[str]:
    """A run_netx that lasts: every train recording re-binned into 200 frames."""
    argv = [sys.executable, "-m", "tks_lava.run_netx", "--model", str(tiny["card"])]
    argv += ["--data-root", str(tiny["root"]), "--cache-dir", str(tiny["cache"])]
    return [
        *argv,
        "--split",
        "train",
        "--rebin",
        "200",
        "--no-parity",
        "--quiet",
        "--jobs",
        str(jobs),
    ]


# ----------------------------------------------------------------------------- the CLIs
@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_run_netx_and_every_lava_runtime(tiny, tmp_path, jobs):
    proc = _start(_run_netx(tiny, jobs), tmp_path)
    _wait_for(
        proc,
        (lambda: _has_grandchild(proc)) if jobs > 1 else (lambda: _lava_running(proc)),
        "Lava running",
    )
    status, out, err = _stop(proc)
    assert status == EXIT_SIGTERM
    assert err == ["stopped by SIGTERM; every Lava runtime was stopped"]


@pytest.mark.slow
def test_ctrl_c_stops_run_netx_workers_and_lava_children(tiny, tmp_path):
    """Ctrl-C reaches the whole process group: only the parent acts on it, and stops the rest."""
    proc = _start(
        _run_netx(tiny, 2),
        tmp_path,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(proc, lambda: _has_grandchild(proc), "workers with Lava children")
    status, out, err = _stop(proc, signal.SIGINT, group=True)
    assert status == EXIT_SIGINT
    assert err == ["interrupted; every Lava runtime was stopped"]


@pytest.mark.slow
def test_sigterm_stops_training_and_keeps_the_finished_epoch(tiny, tmp_path):
    out_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "tks_lava.train", "--data-root", str(tiny["root"])]
    argv += ["--cache-dir", str(tiny["cache"]), "--model", "tiny_snn", "--epochs", "200"]
    argv += ["--batch-size", "4", "--workers", "1", "--out-dir", str(out_dir), "--quiet"]
    proc = _start(argv, tmp_path)
    ready = lambda: (out_dir / "last.pt").is_file() and bool(descendants(proc.pid))  # noqa: E731
    _wait_for(proc, ready, "a finished epoch (last.pt) and a DataLoader worker")
    status, out, err = _stop(proc)
    assert status == EXIT_SIGTERM
    assert err == [f"stopped by SIGTERM; continue with --resume {out_dir}"]
    assert (out_dir / "last.pt").is_file()
    assert not (out_dir / "model_card.json").exists()  # stopped before the end


@pytest.mark.slow
def test_sigterm_stops_the_study_and_its_spawned_worker(tiny, tmp_path):
    root = tmp_path / "study"
    argv = [sys.executable, "-m", "tks_lava.study", "--seeds", "0", "--jobs", "1"]
    argv += ["--root", str(root), "--data-root", str(tiny["root"])]
    argv += ["--out-json", str(tmp_path / "s.json"), "--out-md", str(tmp_path / "S.md")]
    proc = _start(argv, tmp_path, env={"TKS_LAVA_CACHE": str(tiny["cache"])})
    _wait_for(proc, lambda: any(root.glob("*/.claim")), "a run being trained (.claim)")
    status, out, err = _stop(proc)
    assert status == EXIT_SIGTERM
    assert err[-1] == "stopped by SIGTERM; finished runs are kept; run it again to resume"
    assert not any(root.glob("*/.claim"))  # the worker unwound: its claim is released


BENCH_DRIVER = """
import sys
from types import SimpleNamespace

import benchmarks.__main__ as bench
from benchmarks.sections import SECTIONS, SectionSpec

renderer = SimpleNamespace(summary=lambda sec: {}, figures=lambda s: [], lines=lambda s, p=None: [])
SECTIONS.clear()
SECTIONS["quick"] = SectionSpec("quick", "Quick", "bench_quick", renderer, 0)
SECTIONS["lava"] = SectionSpec("lava", "Lava", "bench_slow_lava", renderer, 1)
if __name__ == "__main__":
    sys.exit(bench.main(sys.argv[1:]))
"""

BENCH_SECTIONS = {
    "bench_quick.py": "def run(settings, ctx):\n    return {'done': 1}\n",
    "bench_slow_lava.py": """
        import numpy as np
        from tks_lava.deploy.window import run_lava

        def run(settings, ctx):  # the shipped model on random spikes, long enough to stop
            frames = (np.random.default_rng(0).random((500, 2, 34, 34, 10)) < 0.05)
            net = "NET"
            return {"n": len(run_lava(net, frames.astype(np.float32), progress=False).logits)}
        """,
}


@pytest.mark.slow
def test_sigterm_stops_the_benchmarks_and_keeps_the_finished_sections(tmp_path):
    """Two stand-in sections through the real runner: a finished one, then a Lava run."""
    (tmp_path / "driver.py").write_text(BENCH_DRIVER)
    for name, text in BENCH_SECTIONS.items():
        (tmp_path / name).write_text(textwrap.dedent(text).replace("NET", str(SHIPPED_NET)))
    out = tmp_path / "results"
    argv = [sys.executable, "driver.py", "--quick", "--out-dir", str(out)]
    proc = _start([*argv, "--markdown", str(tmp_path / "B.md")], tmp_path)
    _wait_for(proc, lambda: (out / "quick.json").is_file() and _lava_running(proc), "Lava")
    status, _, err = _stop(proc)
    assert status == EXIT_SIGTERM
    assert err[-1] == (
        "stopped by SIGTERM; finished sections are kept; python -m benchmarks --render-only "
        "rebuilds the Markdown"
    )
    assert (out / "quick.json").is_file() and not (out / "lava.json").exists()


@pytest.mark.slow
def test_jobs_without_a_main_guard_says_what_to_add(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from tks_lava.deploy.window import run_lava

            frames = np.zeros((4, 2, 34, 34, 3), np.float32)
            run_lava("NET", frames, jobs=2, progress=False)
            """
        ).replace("NET", str(SHIPPED_NET))
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert done.returncode != 0
    assert "MainGuardError" in done.stderr and 'if __name__ == "__main__":' in done.stderr
    assert str(script) in done.stderr and "BrokenProcessPool" not in done.stderr
