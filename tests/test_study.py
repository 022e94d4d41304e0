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


def _synthetic(seed, first_wrong, labels):
    """(N, 2, 10) logits: step 1 points to the wrong class (weakly) for samples in
    ``first_wrong``, every later step strongly to the label."""
    n = len(labels)
    out = np.zeros((n, 2, 10))
    out[np.arange(n), labels, :] = 3.0
    for i in first_wrong:
        out[i, :, 0] = 0.0
        out[i, 1 - labels[i], 0] = 1.0
    return _run(seed, out, labels)


def test_exit_per_sample_by_hand():
    from tks_lava.study.ablation import _exit_per_sample

    # sample 0: running mean (0, 1), confidence sigmoid(1) = 0.73 from t=1; sample 1: (0.2, 0),
    # confidence sigmoid(0.2) = 0.55, never confident: exits at the last step, predicting 0
    logits = np.array([[[0.0, 0.0], [1.0, 1.0]], [[0.2, 0.2], [0.0, 0.0]]])
    ok, steps = _exit_per_sample(logits, np.array([1, 1]), 0.7)
    assert ok.tolist() == [True, False] and steps.tolist() == [1.0, 2.0]
    ok, steps = _exit_per_sample(logits, np.array([1, 1]), 0.9)
    assert ok.tolist() == [True, False] and steps.tolist() == [2.0, 2.0]


def test_ablation_goal_on_runs_with_a_known_answer():
    from tks_lava.study import report_ablation
    from tks_lava.study.ablation import analyse_ablation
    from tks_lava.study.analysis import compare, family

    labels = np.arange(120) % 2
    half = range(0, 120, 2)
    base = [_synthetic(s, half, labels) for s in (0, 1, 2)]  # t=1: 50% right, then 100%
    good = [_synthetic(s, (), labels) for s in (0, 1, 2)]  # right from t=1
    runs = {"baseline": base, "tks": base, "tks-detach": good, "tks-notau2": base}
    ab = analyse_ablation(runs, [], compare, family)
    assert ab["goal"]["tks-detach"]["reached"] and not ab["goal"]["tks-notau2"]["reached"]
    c1 = next(c for c in ab["family"] if (c["a"], c["t"]) == ("tks-detach", 1))
    assert c1["diff"]["mean"] == pytest.approx(0.5) and c1["claim"] == "A better"
    c3 = next(c for c in ab["family"] if (c["a"], c["t"]) == ("tks-detach", 3))
    assert c3["boot"]["lo"] == c3["boot"]["hi"] == 0.0  # every sample right in both arms
    assert "tks-lif vs baseline-lif" in ab["not_run"]
    assert ab["best"] == "tks-detach"
    # threshold 0.7: both exit at t=1 (confidences 0.95 and 0.73), the baseline wrong for half
    exit7 = ab["best_vs_baseline"]["exit"][0]
    assert exit7["accuracy"]["diff"] == pytest.approx(0.5)
    assert exit7["mean_steps"]["diff"] == pytest.approx(0.0)
    assert ab["best_vs_baseline"]["aurc"]["diff"] == 0.0  # the mean of 10 steps: no errors
    study = {"ablation": ab, "confirmatory": [], "exploratory": [], "previous": None}
    text = "\n".join(report_ablation.markdown(study, {}))
    assert "**Goal reached** by `tks-detach`" in text and "Not run in this session" in text
