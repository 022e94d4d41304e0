"""Train the study's runs in parallel (one torch thread each), resumably, and evaluate them.

A run lives in ``<root>/<arm>-s<seed>/`` (a normal training run folder). A run with a model
card is done and skipped; one with ``last.pt`` resumes exactly where it stopped. After training,
:func:`evaluate_run` adds ``rebinned.npz``: the exported model on the test split framed into
T' frames for each T' of :data:`~tks_lava.study.grid.REBIN_STEPS` (the paper's protocol).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import numpy as np

from tks_lava.io import write_json_atomic, write_npz_atomic
from tks_lava.stopping import worker_pool
from tks_lava.study.grid import REBIN_STEPS, Arm

COST_FILE = "cost.json"
CLAIM_FILE = ".claim"
REBIN_FILE = "rebinned.npz"


def run_dir(root: Path, arm: Arm, seed: int) -> Path:
    return Path(root) / arm.run_name(seed)


def is_trained(path: Path) -> bool:
    return (path / "model_card.json").is_file() and (path / "test_logits.npz").is_file()


def is_evaluated(path: Path) -> bool:
    return is_trained(path) and (path / REBIN_FILE).is_file()


def train_run(arm: Arm, seed: int, root: str, data_root: str | None = None) -> dict[str, Any]:
    """Train (or resume) one run in this (spawned) process, one thread; its cost record.

    Several study processes may share a root: a run being trained by a live process is
    skipped (``<run>/.claim`` holds its pid).
    """
    from tks_lava.deploy.process_models.threads import spawned_worker_setup

    spawned_worker_setup()  # train() loads the net into NetX (Lava) before it starts
    out = run_dir(Path(root), arm, seed)
    if is_trained(out):
        return {"run": out.name, "skipped": "done"}
    out.mkdir(parents=True, exist_ok=True)
    if not _claim(out):
        return {"run": out.name, "skipped": "another study process is training it"}
    try:
        return _train(arm, seed, out, data_root)
    finally:
        (out / CLAIM_FILE).unlink(missing_ok=True)


def _claim(out: Path) -> bool:
    """Mark ``out`` as being trained by this process; False if a live process holds it."""
    path = out / CLAIM_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(path.read_text() or 0), 0)
                return False  # its owner is alive
            except (ProcessLookupError, ValueError):
                path.unlink(missing_ok=True)  # stale claim of a process that died
                continue
            except PermissionError:
                return False
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def _train(arm: Arm, seed: int, out: Path, data_root: str | None) -> dict[str, Any]:
    from tks_lava.training import resolve_config, train

    config = resolve_config(
        dataset="ndigits",
        method=arm.method,
        seed=seed,
        out_dir=str(out),
        data_root=data_root,
        **arm.settings,
    )
    resume = out if (out / "last.pt").is_file() else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with open(out / "train.log", "a") as log:
        train(
            config,
            progress=False,
            resume=resume,
            log=lambda msg: (log.write(msg + "\n"), log.flush()),
        )
    cost = _add_cost(out, time.process_time() - cpu0, time.perf_counter() - wall0)
    return {"run": out.name, "skipped": None, **cost}


def _add_cost(out: Path, cpu_s: float, wall_s: float) -> dict[str, float]:
    """Add this invocation's CPU and wall seconds to the run's ``cost.json`` (resumes add up)."""
    path = out / COST_FILE
    cost = json.loads(path.read_text()) if path.is_file() else {"cpu_s": 0.0, "wall_s": 0.0}
    cost = {"cpu_s": cost["cpu_s"] + cpu_s, "wall_s": cost["wall_s"] + wall_s}
    write_json_atomic(path, cost)
    return cost


def evaluate_run(
    path: Path, rebin_steps: tuple[int, ...] = REBIN_STEPS, data_root: str | None = None
) -> Path:
    """Per-sample test logits of a run's exported model under the re-binned protocol.

    Writes ``rebinned.npz`` with ``T{k}`` = logits (N, C, k) for each k and ``labels``.
    """
    import torch

    from tks_lava.model.card import ModelCard
    from tks_lava.model.evaluation import rebinned_logits

    torch.set_num_threads(1)
    card = ModelCard.load(path / "model_card.json")
    out: dict[str, np.ndarray] = {}
    for k in rebin_steps:
        logits, labels = rebinned_logits(card, path / card.weights_file, k, data_root=data_root)
        out[f"T{k}"], out["labels"] = logits.numpy().astype(np.float32), labels.numpy()
    return write_npz_atomic(path / REBIN_FILE, **out)


def run_study(
    root: str | os.PathLike,
    arm_list: list[Arm],
    seeds: tuple[int, ...],
    jobs: int,
    data_root: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train every (arm, seed) not yet trained, ``jobs`` at a time, then evaluate each run.

    Each run trains in a spawned worker (:func:`~tks_lava.stopping.worker_pool`): on Ctrl-C,
    SIGTERM or an error every worker stops, keeping its run's last finished epoch
    (``last.pt``) for the next call to resume."""
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    todo = [(a, s) for a in arm_list for s in seeds if not is_trained(run_dir(root, a, s))]
    done: list[dict[str, Any]] = []
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if todo:
        _prepare_data(data_root)
        with worker_pool(jobs, f"the study with --jobs {jobs}") as pool:
            futures = {pool.submit(train_run, a, s, str(root), data_root): (a, s) for a, s in todo}
            bar = tqdm(
                as_completed(futures), total=len(futures), desc="study runs", disable=not progress
            )
            for fut in bar:
                rec = fut.result()
                done.append(rec)
                what = rec["skipped"] or f"trained in {rec['wall_s'] / 60:.1f} min"
                bar.write(f"{rec['run']}: {what}")
    evaluate_all(root, arm_list, seeds, data_root, progress)
    return done


def evaluate_all(
    root: Path,
    arm_list: list[Arm],
    seeds: tuple[int, ...],
    data_root: str | None = None,
    progress: bool = True,
) -> None:
    """:func:`evaluate_run` for every trained run not evaluated yet (cheap: forward passes)."""
    from tqdm import tqdm

    runs = [run_dir(Path(root), a, s) for a in arm_list for s in seeds]
    todo_eval = [p for p in runs if is_trained(p) and not is_evaluated(p)]
    for path in tqdm(todo_eval, desc="re-binned eval", disable=not progress):
        evaluate_run(path, data_root=data_root)


def _prepare_data(data_root: str | None) -> None:
    """Generate ndigits and build the frame caches once, before workers race to do it."""
    from tks_lava.training import load_data, resolve_config

    load_data(resolve_config(dataset="ndigits", data_root=data_root, out_dir="unused"), False)
