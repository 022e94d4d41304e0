"""Paired tests, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tks_lava.metrics.stats import (
    cmh_test,
    discordant,
    holm,
    mcnemar_exact,
    paired_strata,
    two_level_bootstrap,
    two_level_bootstrap_stat,
    wilson_interval,
)


def test_discordant_counts():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 0, 0], bool)
    assert discordant(a, b) == (2, 1)
    with pytest.raises(ValueError, match="same shape"):
        discordant(a, b[:3])


def test_mcnemar_exact_by_hand():
    assert mcnemar_exact(0, 3) == pytest.approx(2 * 1 / 8)  # P(X = 0) = 1/8
    assert mcnemar_exact(1, 4) == pytest.approx(2 * 6 / 32)  # (C(5,0) + C(5,1)) / 2^5
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(74, 26) == pytest.approx(1.7e-6, rel=0.1)  # the step-1 figure


def test_cmh_single_table_by_hand():
    # n 30, rows 15/15, cols 13/17: E[a] = 6.5, dev 3.5, var 15*15*13*17 / (30^2 * 29)
    var = 15 * 15 * 13 * 17 / (900 * 29)
    stat, p = cmh_test([np.array([[10, 5], [3, 12]])], correction=False)
    assert stat == pytest.approx(3.5**2 / var)
    assert p == pytest.approx(math.erfc(math.sqrt(stat / 2)))
    stat_c, _ = cmh_test([np.array([[10, 5], [3, 12]])])
    assert stat_c == pytest.approx(3.0**2 / var)
    assert cmh_test([np.array([[3, 0], [2, 0]])]) == (0.0, 1.0)  # no variance: no evidence


def test_cmh_of_matched_pairs_is_pooled_mcnemar():
    stat, p = cmh_test(paired_strata([(6, 1), (4, 3)]))
    assert stat == pytest.approx((abs(10 - 4) - 1) ** 2 / 14)  # McNemar, continuity-corrected
    assert 0 < p < 1


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_wilson_interval_by_hand():
    # k = 8 of n = 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416, half-width
    # 1.96 * sqrt(0.016 + 0.009604) / 1.38416
    lo, hi = wilson_interval(np.array([8]), np.array([10]))
    centre, half = 0.99208 / 1.38416, 1.96 * math.sqrt(0.025604) / 1.38416
    assert lo[0] == pytest.approx(centre - half) and hi[0] == pytest.approx(centre + half)
    assert lo[0] == pytest.approx(0.4902, abs=1e-4) and hi[0] == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_interval(np.array([0, 0]), np.array([0, 5]))
    assert (lo[0], hi[0]) == (0.0, 1.0) and lo[1] == 0.0 and hi[1] < 0.5


def test_bootstrap_constant_difference_has_no_width():
    a = np.full((3, 50), 0.9)  # outcomes may be 0/1 or averaged (e.g. over repeats)
    b = np.full((3, 50), 0.1)  # A - B = 0.8 in every cell, so in every replicate
    r = two_level_bootstrap(a, b, resamples=200)
    assert [r["diff"], r["lo"], r["hi"]] == pytest.approx([0.8, 0.8, 0.8], abs=1e-12)
    assert r["sd"] == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_additive_model_has_the_known_variance():
    # d[s, n] = u[s] + v[n]: a replicate is mean(u over drawn seeds) + mean(v over drawn
    # samples), independent, so its variance is var(u) / S + var(v) / N (ddof 0).
    rng = np.random.default_rng(1)
    u = np.array([-0.1, 0.0, 0.1])
    v = rng.choice([-1.0, 0.0, 1.0], size=400)
    d = u[:, None] + v[None, :]
    expected = np.sqrt(u.var() / 3 + v.var() / 400)
    r = two_level_bootstrap(d, np.zeros_like(d), resamples=20000, seed=2)
    assert r["sd"] == pytest.approx(expected, rel=0.05)
    assert r["diff"] == pytest.approx(d.mean())
    assert r["lo"] < d.mean() < r["hi"]


def test_bootstrap_ignoring_seeds_would_be_narrower():
    # seeds that disagree (A is 20%, 50%, 80% right; B 50%) widen the interval well beyond the
    # spread from resampling the samples alone, sd(mean over seeds per sample) / sqrt(N)
    a = np.zeros((3, 300), bool)
    a[0, :60], a[1, :150], a[2, :240] = True, True, True
    b = np.zeros((3, 300), bool)
    b[:, :150] = True
    r = two_level_bootstrap(a, b, resamples=4000)
    samples_only = (a.astype(float) - b).mean(axis=0).std() / np.sqrt(300)
    assert r["sd"] > 5 * samples_only
    assert r["lo"] < 0.0 < r["hi"]  # mean difference 0, the seeds disagree
    assert r == two_level_bootstrap(a, b, resamples=4000)  # seeded: repeatable


def test_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match="seeds, samples"):
        two_level_bootstrap(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="resamples"):
        two_level_bootstrap(np.ones((2, 5)), np.ones((2, 5)), resamples=0)


def test_bootstrap_of_a_statistic_matches_the_vectorised_mean():
    rng = np.random.default_rng(3)
    a, b = rng.random((3, 40)) < 0.7, rng.random((3, 40)) < 0.5
    fast = two_level_bootstrap(a, b, resamples=300, seed=5)
    slow = two_level_bootstrap_stat(lambda x: float(x.mean()), list(a), list(b), 300, seed=5)
    assert slow == pytest.approx(fast)
    with pytest.raises(ValueError, match="same N"):
        two_level_bootstrap_stat(np.mean, [a[0]], [b[0, :10]])
