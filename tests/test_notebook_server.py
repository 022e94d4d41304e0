"""``make notebook`` serves the walkthroughs where users run it: headless (it prints the URL
with its token), as root, on the port asked for. The test runs the Makefile's own command,
lists the notebooks over HTTP on the loopback interface, and stops the server."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, alive, descendants

START_TIMEOUT_S = 120
URL = re.compile(r"(http://127\.0\.0\.1:(\d+)/\S*\?token=(\w+))")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app() -> str:
    """The Jupyter application to serve with: JupyterLab (``make notebook`` installs it) when
    it is here, else the bare server the dev extra brings (same flags, same contents API)."""
    pytest.importorskip(
        "jupyter_server",
        reason="jupyter-server is not installed: pip install -e '.[dev]' (make test does)",
    )
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "server"
    return "lab"


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)


def test_make_notebook_prints_its_url_and_serves_the_walkthroughs(tmp_path):
    app = _app()
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    port = _free_port()
    venv = Path(sys.prefix)
    stamps = [f"{venv}/.tks_lava-installed", f"{venv}/.tks_lava-notebook"]
    # --no-print-directory: under `make test` (CI) this make is nested and would otherwise
    # print "Entering directory" before the command it echoes
    argv = ["make", "--no-print-directory", *[w for s in stamps for w in ("-o", s)], "notebook"]
    argv += [f"VENV={venv}", f"PORT={port}", "IP=127.0.0.1", f"NOTEBOOK_APP={app}"]
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # make and the server: one group, stopped together
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        url, token, log = _wait_for_url(proc, lines)
        assert f":{port}/" in url, f"asked for port {port}, got {url}"
        command = log.splitlines()[0]  # what make ran, echoed before the server's log
        assert "--no-browser" in command and ("--allow-root" in command) == (os.geteuid() == 0)
        listing = _get_json(f"http://127.0.0.1:{port}/api/contents?token={token}", proc, lines, log)
        names = sorted(item["name"] for item in listing["content"])
        assert {p.name for p in (REPO / "notebooks").glob("*.ipynb")} <= set(names), names
    finally:
        below = descendants(proc.pid) | {proc.pid}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while alive(below) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(below), f"left running: {sorted(alive(below))}"


def _wait_for_url(proc: subprocess.Popen, lines: queue.Queue) -> tuple[str, str, str]:
    """The URL with its token that the server printed; fails with the log if none comes."""
    log: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        log.append(line)
        if m := URL.search(line):
            return m.group(1), m.group(3), "".join(log)
    pytest.fail("make notebook printed no URL with a token:\n" + "".join(log))


def _get_json(url: str, proc: subprocess.Popen, lines: queue.Queue, log: str) -> dict:
    """GET ``url`` on the loopback interface, no proxy; a few tries while the server starts
    answering, then a failure with the server's log."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(20):
        try:
            with opener.open(url, timeout=30) as response:
                return json.loads(response.read())
        except OSError as err:
            problem = err
            time.sleep(0.5)
    while not lines.empty():
        log += lines.get()
    pytest.fail(f"GET {url}: {problem} (server status {proc.poll()}); its log:\n{log}")
