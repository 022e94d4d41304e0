"""Reproducible training: the card's command retrains the same weights bit for bit, the card
records where and from which code it was trained, and the run settings resolve and apply as
documented (``tks_lava.training.runtime``, ``tks_lava.provenance``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO
from tests.test_train import TINY, tiny_argv
from tks_lava import provenance
from tks_lava.data import generate_ndigits
from tks_lava.io import sha256_file
from tks_lava.model.card import ModelCard
from tks_lava.model.kernels import describe
from tks_lava.train import main
from tks_lava.training import TrainConfig, resolve_config
from tks_lava.training import runtime as rt

PREFIX = "python -m tks_lava.train "


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("TKS_LAVA_DATA", raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny")
    root = generate_ndigits(base / "ndigits", TINY, workers=1, progress=False)
    return {"root": root, "cache": base / "cache", "base": base}


def _process_settings() -> tuple[int, bool]:
    return torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()


# ----------------------------------------------------------------------------- retraining
@pytest.mark.slow
def test_the_cards_command_retrains_the_same_weights(tiny, capsys):
    """Train a tiny model, then run the command its card records (into another folder): the
    exported .net and .pt are byte-identical and the process is left as it was."""
    before = _process_settings()
    first = tiny["base"] / "first"
    argv = [a for a in tiny_argv(tiny, first) if a != "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"device: {describe('exact', 'cpu')}; deterministic"
    assert _process_settings() == before  # threads and determinism restored after the run

    card = ModelCard.load(first / "model_card.json")
    assert card.command.startswith(PREFIX) and "--publish" not in card.command
    env = card.environment
    assert env["device"] == "cpu" and env["neuron_kernels"] == "exact"
    assert env["deterministic"] is True and env["threads"] == torch.get_num_threads()
    assert env["git_commit"] == provenance.git_commit()
    assert env["invoked"] == PREFIX + shlex.join(argv)

    again = tiny["base"] / "again"
    rerun = shlex.split(card.command.removeprefix(PREFIX)) + ["--out-dir", str(again), "--quiet"]
    assert main(rerun) == 0
    for name in ("model.net", "network.pt"):
        assert sha256_file(again / name) == sha256_file(first / name), name
    assert ModelCard.load(again / "model_card.json").sha256 == card.sha256
    a = torch.load(first / "last.pt", weights_only=True)
    b = torch.load(again / "last.pt", weights_only=True)
    assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())


@pytest.mark.slow
def test_a_checkpoint_without_the_new_settings_resumes(tiny):
    """A checkpoint written before device auto / kernels / threads / determinism existed
    (device 'cpu', none of the new keys) resumes, with the new settings at their defaults,
    and ends where an uninterrupted run of today ends."""
    straight = tiny["base"] / "straight-for-old"
    assert main(tiny_argv(tiny, straight)) == 0
    old = tiny["base"] / "old"
    assert main(tiny_argv(tiny, old, "--stop-after", "1")) == 0
    state = torch.load(old / "last.pt", weights_only=True)
    for key in ("neuron_kernels", "threads", "deterministic"):
        del state["config"][key]
    state["config"]["device"] = "cpu"
    torch.save(state, old / "last.pt")
    assert main(["--resume", str(old), "--quiet"]) == 0
    assert sha256_file(old / "model.net") == sha256_file(straight / "model.net")
    saved = TrainConfig.from_json((old / "config.json").read_text())
    assert (saved.neuron_kernels, saved.deterministic) == ("exact", True)


@pytest.mark.slow
def test_the_cards_accuracy_is_computed_with_the_exact_kernels(tiny, monkeypatch):
    """Whatever kernels trained the model, the test split is evaluated on the exact ones (the
    arithmetic Lava reproduces), so the card's accuracy stays at parity with Lava."""
    from tks_lava.training import loop, steps

    calls = []
    for module in (loop, steps):
        real = module.set_neuron_kernels
        spy = functools.partial(lambda real, m, k: calls.append(k) or real(m, k), real)
        monkeypatch.setattr(module, "set_neuron_kernels", spy)
    out = tiny["base"] / "slayer"
    assert main(tiny_argv(tiny, out, "--neuron-kernels", "slayer", "--epochs", "1")) == 0
    assert calls[0] == "slayer" and calls[-1] == "exact"
    card = ModelCard.load(out / "model_card.json")
    assert (
        card.environment["neuron_kernels"] == "slayer" and "--neuron-kernels slayer" in card.command
    )


# ----------------------------------------------------------------------------- runtime settings
def test_device_auto_takes_cuda_when_torch_sees_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert rt.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rt.resolve_device("auto") == "cuda"
    assert rt.resolve_device("cuda:1") == "cuda:1" and rt.resolve_device("cpu") == "cpu"


def test_resolve_runtime_defaults(monkeypatch, tmp_path):
    """CPU: deterministic, torch's thread count. CUDA: not deterministic unless asked (torch has
    no deterministic CUDA cross-entropy). Kernels are what ``resolve_kernels`` says will run."""
    import tks_lava.model.kernels as kernels

    asked = []
    monkeypatch.setattr(kernels, "resolve_kernels", lambda k, d: asked.append((k, d)) or "exact")
    config = resolve_config(out_dir=tmp_path, neuron_kernels="slayer-cuda")
    assert (config.device, config.threads, config.deterministic) == ("auto", None, None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = rt.resolve_runtime(config)
    assert (cpu.device, cpu.neuron_kernels, cpu.deterministic) == ("cpu", "exact", True)
    assert cpu.threads == torch.get_num_threads()
    assert asked == [("slayer-cuda", torch.device("cpu"))]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rt.resolve_runtime(config).deterministic is False
    assert rt.resolve_runtime(dataclasses.replace(config, deterministic=True)).deterministic
    mine = rt.resolve_runtime(dataclasses.replace(config, threads=3, deterministic=False))
    assert (mine.threads, mine.deterministic) == (3, False)


def test_pinned_applies_the_settings_and_restores_them_even_on_error(tmp_path):
    config = rt.resolve_runtime(resolve_config(out_dir=tmp_path, device="cpu", threads=1))
    before = _process_settings()
    with rt.pinned(config):
        assert _process_settings() == (1, True)
    assert _process_settings() == before
    with pytest.raises(KeyError), rt.pinned(config):
        raise KeyError("boom")
    assert _process_settings() == before
    with pytest.raises(ValueError, match="resolved config"), rt.pinned(resolve_config()):
        pass


def test_no_deterministic_round_trips_through_the_cli(tmp_path):
    from tks_lava.train import build_parser
    from tks_lava.training import config_to_argv

    config = resolve_config(
        out_dir=tmp_path, device="cpu", neuron_kernels="slayer", threads=3, deterministic=False
    )
    argv = config_to_argv(config)
    assert "--no-deterministic" in argv and argv[argv.index("--threads") + 1] == "3"
    assert resolve_config(build_parser().parse_args(argv)) == config
    unset = config_to_argv(resolve_config(out_dir=tmp_path))
    assert "--threads" not in unset and "--deterministic" not in unset
    assert unset[unset.index("--device") + 1] == "auto"


def test_bad_runtime_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="neuron_kernels must be one of"):
        resolve_config(out_dir=tmp_path, neuron_kernels="fast")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        resolve_config(out_dir=tmp_path, threads=0)
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
        resolve_config(out_dir=tmp_path, device="tpu")


# ----------------------------------------------------------------------------- the card
def test_shipped_cards_without_environment_still_load():
    for name in ("ndigits_tks", "ndigits_baseline"):
        card = ModelCard.load(REPO / "netx_models" / f"{name}.json")
        assert card.environment is None
        d = json.loads(json.dumps(card.replace(environment={"threads": 1}).to_dict()))
        assert ModelCard.from_dict(d).environment == {"threads": 1}


# ----------------------------------------------------------------------------- git provenance
def _git(where: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def _head(where: Path) -> str:
    done = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True)
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path):
    """A git repository tracking ``pkg/__init__.py``, with one commit."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "pkg/__init__.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_git_commit_and_dirty_in_a_checkout(repo):
    head = _head(repo)
    assert provenance.git_commit(repo / "pkg") == head and len(head) == 40
    assert provenance.git_dirty(repo / "pkg") is False
    (repo / "pkg" / "__init__.py").write_text("x = 1\n")
    assert provenance.git_dirty(repo / "pkg") is True


def test_git_commit_is_none_outside_a_checkout(repo, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("installed") / "pkg"
    elsewhere.mkdir()
    (elsewhere / "__init__.py").write_text("")
    assert provenance.git_commit(elsewhere) is None and provenance.git_dirty(elsewhere) is None
    # an installed copy inside another repository (e.g. its .venv), untracked there
    (repo / "venv" / "pkg").mkdir(parents=True)
    (repo / "venv" / "pkg" / "__init__.py").write_text("")
    assert provenance.git_commit(repo / "venv" / "pkg") is None
    assert provenance.git_commit(repo / "no-such-dir") is None

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert (
        provenance.git_commit(repo / "pkg") is None and provenance.git_dirty(repo / "pkg") is None
    )


def test_this_checkout_reports_its_head():
    if not (REPO / ".git").exists():
        pytest.skip("not running from a git checkout")
    assert provenance.git_commit() == _head(REPO)
