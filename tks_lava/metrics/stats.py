"""Paired significance tests for comparing two classifiers on the same samples.

* :func:`mcnemar_exact`: one seed, two methods, the same test samples: only the discordant
  samples count (``b`` = A right and B wrong, ``c`` = the reverse); exact two-sided binomial.
* :func:`cmh_test`: Cochran-Mantel-Haenszel over K 2 x 2 tables (rows: method A, B; columns:
  correct, wrong). With every (seed, sample) pair as its own stratum (:func:`paired_strata`)
  it is the seed-stratified pooled test of paired data: concordant pairs add nothing, so it
  equals McNemar's chi-square (with continuity correction) on the discordant counts summed
  over seeds.
* :func:`holm`: Holm's step-down correction of a family of p-values.
* :func:`wilson_interval`: a confidence interval for an accuracy measured on few samples.
* :func:`two_level_bootstrap`: an interval for an accuracy difference over seeds and shared test
  samples (both resampled), where CMH treats every (seed, sample) pair as independent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def discordant(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """``(b, c)``: samples only A classifies correctly, and samples only B does."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must have the same shape, got {a.shape} and {b.shape}")
    return int((a & ~b).sum()), int((~a & b).sum())


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``min(1, 2 P(X <= min(b, c)))``, X ~ Bin(b + c, 1/2)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b}, {c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def cmh_test(tables: Sequence[np.ndarray], correction: bool = True) -> tuple[float, float]:
    """Cochran-Mantel-Haenszel chi-square (1 df) and p-value for K 2 x 2 tables.

    ``tables[k] = [[a, b], [c, d]]``. Strata without variance (a zero margin) add nothing.
    ``correction``: subtract 1/2 from ``|sum(a - E[a])|`` (Mantel-Haenszel; R's default).
    """
    dev = var = 0.0
    for t in tables:
        t = np.asarray(t, dtype=float)
        if t.shape != (2, 2):
            raise ValueError(f"CMH needs 2 x 2 tables, got shape {t.shape}")
        n = t.sum()
        r1, r2, c1, c2 = t[0].sum(), t[1].sum(), t[:, 0].sum(), t[:, 1].sum()
        if n < 2 or min(r1, r2, c1, c2) == 0:
            continue
        dev += t[0, 0] - r1 * c1 / n
        var += r1 * r2 * c1 * c2 / (n * n * (n - 1))
    if var == 0:
        return 0.0, 1.0
    num = max(0.0, abs(dev) - 0.5) if correction else abs(dev)
    stat = num * num / var
    return stat, math.erfc(math.sqrt(stat / 2.0))


def paired_strata(discordant_counts: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """The 2 x 2 tables of the discordant (seed, sample) pairs, one stratum per pair.

    ``discordant_counts``: ``(b, c)`` per seed. A pair where only A is right is
    ``[[1, 0], [0, 1]]``; only B right, ``[[0, 1], [1, 0]]``; concordant pairs have no
    variance and are left out (they would not change the statistic).
    """
    only_a, only_b = np.array([[1, 0], [0, 1]]), np.array([[0, 1], [1, 0]])
    tables: list[np.ndarray] = []
    for b, c in discordant_counts:
        tables += [only_a] * int(b) + [only_b] * int(c)
    return tables


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (same order as given), each capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, ...]:
    """Wilson score interval (95% for z = 1.96) of a proportion ``k / n``, elementwise;
    ``n = 0`` gives the uninformative (0, 1)."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    safe = np.maximum(n, 1.0)
    p = k / safe
    denom = 1 + z * z / safe
    centre = (p + z * z / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / denom
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    return np.where(n > 0, lo, 0.0), np.where(n > 0, hi, 1.0)


def two_level_bootstrap(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Percentile interval of the accuracy difference A - B, resampling samples and seeds.

    ``correct_a``, ``correct_b``: (S, N) outcomes (bool or 0/1) of S seeds on the same N test
    samples. Each replicate draws N samples with replacement (shared by every seed: the same
    samples recur in every seed) and, independently, S seeds with replacement (a seed is one
    trained network, shared by all samples); its statistic is the mean difference over the
    drawn seed x sample cells. For an additive ``d[s, n] = u[s] + v[n]`` the replicates' variance
    is ``var(u) / S + var(v) / N`` (population variances). Seeded by ``seed``; vectorised.
    Returns ``diff`` (the observed mean), ``lo``, ``hi``, ``sd`` of the replicates,
    ``resamples``, ``level``, ``seed``.
    """
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(
            f"outcomes must be two (seeds, samples) arrays of one shape, got {a.shape}, {b.shape}"
        )
    if resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need resamples >= 1 and 0 < level < 1, got {resamples}, {level}")
    d = a - b
    samples, seeds = _draws(*d.shape, resamples, seed)
    per_seed = d[:, samples].mean(axis=-1).T  # (R, S): each seed's mean over the drawn samples
    reps = np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1)
    return _interval(reps, float(d.mean()), level, seed)


def _draws(s: int, n: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap's draws: sample indices (R, N) and seed indices (R, S), with replacement."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n)), rng.integers(0, s, size=(resamples, s))


def _interval(reps: np.ndarray, observed: float, level: float, seed: int) -> dict[str, float]:
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [tail, 1.0 - tail])
    return {
        "diff": observed,
        "lo": float(lo),
        "hi": float(hi),
        "sd": float(reps.std()),
        "resamples": len(reps),
        "level": float(level),
        "seed": int(seed),
    }


def two_level_bootstrap_stat(
    stat: Callable[[np.ndarray], float],
    data_a: Sequence[np.ndarray],
    data_b: Sequence[np.ndarray],
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """:func:`two_level_bootstrap` of ``stat(A) - stat(B)`` for a statistic of a whole test set
    (e.g. AURC): ``data_a[s]`` / ``data_b[s]`` hold seed s's per-sample rows (N, ...);
    ``stat`` maps rows to a number. The same draws as :func:`two_level_bootstrap` (same seed),
    so with ``stat`` = the mean of 0/1 outcomes both give the same interval. A Python loop over
    replicates and seeds: use it for few comparisons."""
    if len(data_a) != len(data_b) or not len(data_a):
        raise ValueError(f"need the same seeds for A and B, got {len(data_a)} and {len(data_b)}")
    n = len(data_a[0])
    if any(len(x) != n for x in (*data_a, *data_b)):
        raise ValueError("every seed of A and B must hold the same N test samples")
    samples, seeds = _draws(len(data_a), n, resamples, seed)
    per_seed = np.array(
        [
            [stat(a[idx]) - stat(b[idx]) for a, b in zip(data_a, data_b, strict=True)]
            for idx in samples
        ]
    )  # (R, S)
    reps = np.take_along_axis(per_seed, seeds, axis=1).mean(axis=1)
    observed = float(np.mean([stat(a) - stat(b) for a, b in zip(data_a, data_b, strict=True)]))
    return _interval(reps, observed, level, seed)
