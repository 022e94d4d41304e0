"""The study: paired comparisons from per-sample outcomes (numbers by hand) and a tiny grid
trained, evaluated and reported end to end (resumable: a second call trains nothing)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tks_lava.study.analysis import compare, correct, family


def _run(seed, logits, labels):
    card = SimpleNamespace(hyperparameters={"seed": seed})
    return {
        "card": card,
        "labels": np.asarray(labels),
        "prefix": np.asarray(logits, float),
        "rebinned": {1: np.asarray(logits, float)[..., :1]},
    }


def _logits(preds_per_step, classes=2):
    """(N, C, T) logits whose argmax at each step is the given class."""
    p = np.asarray(preds_per_step)
    out = np.zeros((p.shape[0], classes, p.shape[1]))
    for n in range(p.shape[0]):
        for t in range(p.shape[1]):
            out[n, p[n, t], t] = 1.0
    return out


def test_correct_under_both_protocols():
    run = _run(0, _logits([[0, 1, 1], [1, 1, 1]]), [1, 1])
    assert correct(run, "prefix", 1).tolist() == [False, True]
    assert correct(run, "prefix", 3).tolist() == [True, True]  # mean of 3 steps: class 1 wins
    assert correct(run, "rebinned", 1).tolist() == [False, True]
    with pytest.raises(ValueError, match="protocol"):
        correct(run, "online", 1)


def test_compare_counts_discordant_pairs_per_seed():
    labels = [0, 0, 0, 0]
    a = [_run(s, _logits([[0], [0], [0], [1]]), labels) for s in (0, 1)]  # 3/4 right
    b = [_run(s, _logits([[1], [1], [0], [1]]), labels) for s in (0, 1)]  # 1/4 right
    c = compare(a, b, "prefix", 1)
    assert [(s["b"], s["c"]) for s in c["per_seed"]] == [(2, 0), (2, 0)]
    assert c["diff"]["mean"] == pytest.approx(0.5) and c["seeds_agree"]
    assert c["per_seed"][0]["p_mcnemar"] == pytest.approx(0.5)  # 2 * (1/2)^2
    assert c["cmh_chi2"] == pytest.approx((4 - 1) ** 2 / 4)  # pooled McNemar b=4, c=0
    [judged] = family([c])
    assert judged["p_holm"] == judged["p_cmh"] and judged["claim"] == "no claim"  # p = 0.13


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path, monkeypatch):
    from tks_lava.data import NDigitsParams, generate_ndigits
    from tks_lava.study.__main__ import main
    from tks_lava.study.grid import Arm

    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "cache"))
    params = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)
    root = generate_ndigits(tmp_path / "nd", params, workers=1, progress=False)
    tiny = {"model": "tiny_snn", "epochs": 1, "batch_size": 8}
    grid = (Arm("baseline", "baseline", tiny), Arm("tks", "tks", tiny), Arm("tet", "tet", tiny))
    monkeypatch.setitem(__import__("tks_lava.study.grid", fromlist=["GRIDS"]).GRIDS, "main", grid)
    monkeypatch.setattr("tks_lava.study.grid.MAIN", grid)
    outputs = {"--root": "runs", "--out-json": "study.json", "--out-md": "STUDY.md"}
    argv = ["--seeds", "0", "1", "--jobs", "2", "--data-root", str(root)]
    argv += [word for flag, name in outputs.items() for word in (flag, str(tmp_path / name))]
    assert main(argv) == 0
    study = json.loads((tmp_path / "study.json").read_text())
    assert set(study["arms"]) == {"baseline", "tks", "tet"}
    assert all(a["main"] for a in study["arms"].values())
    assert len(study["confirmatory"]) == 10  # 2 pairs x (prefix 1,3,10 + re-binned 1,3)
    run = study["arms"]["tks"]["runs"][0]
    assert len(run["prefix_cumulative"]) == 10 and set(run["rebinned"]) == {
        "1",
        "2",
        "3",
        "5",
        "10",
    }
    # the re-binned T'=10 framing is the trained framing: same accuracy as the prefix at t=10
    assert run["rebinned"]["10"] == pytest.approx(run["prefix_cumulative"][-1])
    text = (tmp_path / "STUDY.md").read_text()
    assert "Confirmatory comparisons" in text and "study_per_step.png" in text
    assert (tmp_path / "study_early_exit.png").stat().st_size > 10_000
    before = {p: p.stat().st_mtime for p in (tmp_path / "runs").rglob("model_card.json")}
    assert main(argv) == 0  # resumable: everything done is skipped
    assert {p: p.stat().st_mtime for p in before} == before


def test_ablation_grid_resolves_and_pairs_like_with_like():
    from tks_lava.study.grid import GRIDS, arm_by_name, arms
    from tks_lava.training.config import resolve_config

    every = arms(list(GRIDS))
    assert len({a.name for a in every}) == len(every)  # names are run folders: unique
    for arm in arms(["ablation"]):
        config = resolve_config(dataset="ndigits", method=arm.method, out_dir="x", **arm.settings)
        if arm.method != "tks":
            continue
        ref = arm_by_name(arm.reference or "baseline")
        assert ref.method == "baseline"
        ref_config = resolve_config(method="baseline", out_dir="x", **ref.settings)
        assert (config.neuron, config.augment) == (ref_config.neuron, ref_config.augment)
    assert resolve_config(out_dir="x", **arm_by_name("tks-aug").settings).augment == (
        "crop,flip,rotate"
    )
    assert arm_by_name("tks-notau2").settings == {"tks_tau2": False}
