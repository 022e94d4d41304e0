"""An installed package (a wheel, not ``-e``) finds the shipped models and runs them in Lava
from any directory; without them it says how to name a models folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO
from tks_lava.model.shipped import MODELS_ENV

#: what a wheel is built from: the repository without its environments and outputs
NOT_SOURCE = (".git", ".venv*", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*cache")


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 600):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    """A fresh venv with the wheel of this checkout installed (no ``-e``); its other packages
    come from the project venv's site-packages through a ``.pth`` file."""
    base = tmp_path_factory.mktemp("install")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))  # no build/ here
    pip = [sys.executable, "-m", "pip"]
    built = _run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(src),
            "-w",
            str(dist),
        ],
        base,
        dict(os.environ),
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next(dist.glob("tks_lava-*.whl"))
    assert (
        _run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], base, dict(os.environ)
        ).returncode
        == 0
    )
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        base,
        dict(os.environ),
    ).stdout.strip()
    (Path(purelib) / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = _run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        base,
        dict(os.environ),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", MODELS_ENV)}
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return {"venv": venv, "python": python, "env": env, "cwd": elsewhere, "wheel": wheel}


@pytest.mark.slow
def test_the_installed_package_runs_the_shipped_model_from_another_directory(installed):
    where = _run(
        [str(installed["python"]), "-c", _WHERE], installed["cwd"], installed["env"]
    ).stdout.split()
    assert len(where) == 2, where
    package, models = map(Path, where)
    venv = installed["venv"].resolve()
    assert venv in package.parents, f"imported {package}, not the installed copy"
    assert models == venv / "share" / "tks_lava" / "netx_models"
    cli = installed["venv"] / "bin" / "tks-run-netx"
    done = _run(
        [str(cli), "--t", "3", "--limit", "4", "--quiet"], installed["cwd"], installed["env"]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ndigits_tks (tks, ndigits, sim): 4 samples, 3 of 10 frames (prefix)" in done.stdout
    assert "accuracy at t=3" in done.stdout and "max |logit diff| 0" in done.stdout


@pytest.mark.slow
def test_without_installed_models_the_error_names_both_ways_to_give_them(installed, tmp_path):
    models = installed["venv"] / "share" / "tks_lava" / "netx_models"
    shutil.copytree(models, tmp_path / "mine")
    shutil.rmtree(models)  # a package installed without its data
    try:
        _check_missing_models(installed, tmp_path / "mine")
    finally:
        shutil.copytree(tmp_path / "mine", models)


def _check_missing_models(installed, mine: Path) -> None:
    cli = [str(installed["venv"] / "bin" / "tks-run-netx"), "--t", "1", "--limit", "2", "--quiet"]
    done = _run(cli, installed["cwd"], installed["env"])
    assert done.returncode == 2
    assert "--models-dir" in done.stderr and MODELS_ENV in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    named = _run(
        [*cli, "--no-parity", "--models-dir", str(mine)],
        installed["cwd"],
        installed["env"],
    )
    assert named.returncode == 0, named.stdout + named.stderr
    assert "ndigits_tks (tks, ndigits, sim): 2 samples" in named.stdout


_WHERE = (
    "import tks_lava; from tks_lava.model.shipped import find_models_dir; "
    "print(tks_lava.__file__, find_models_dir())"
)


def test_the_models_folder_is_the_flag_then_the_variable_then_the_clone(monkeypatch, tmp_path):
    from tks_lava.model import shipped

    monkeypatch.delenv(MODELS_ENV, raising=False)
    assert shipped.find_models_dir() == REPO / "netx_models"
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "env"))
    assert shipped.find_models_dir() == tmp_path / "env"
    assert shipped.find_models_dir(tmp_path / "flag") == tmp_path / "flag"


def test_no_models_folder_anywhere_names_the_flag_and_the_variable(monkeypatch, tmp_path):
    from tks_lava.deploy.netx_eval import resolve_card_path
    from tks_lava.model import shipped

    monkeypatch.delenv(MODELS_ENV, raising=False)
    monkeypatch.setattr(shipped, "checkout_models_dir", lambda: tmp_path / "none")
    monkeypatch.setattr(shipped, "installed_models_dir", lambda: None)
    with pytest.raises(FileNotFoundError) as err:
        resolve_card_path("ndigits_tks")
    assert "--models-dir DIR" in str(err.value) and f"{MODELS_ENV}=DIR" in str(err.value)
    found, skipped = shipped.find_shipped()
    assert not found and "--models-dir" in skipped["ndigits_tks"]
    assert resolve_card_path(REPO / "netx_models" / "ndigits_tks.json").is_file()  # a path
