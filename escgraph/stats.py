"""Uncertainty for the numbers escgraph compares: paired deltas, confidence intervals, p-values, Holm.

Simulated outcomes are noisy whenever a model samples (and a model judge always adds noise of its own), so a bare
mean difference between two runs says little. Everything here is distribution-free and deterministic for a given
``seed``, so a replayed evolution reaches the same decisions:

- :func:`paired` — per-key deltas (candidate − control on the same episode keys): the mean, a confidence interval
  and one-sided / two-sided p-values from the **sign-flip permutation test** (exact enumeration up to
  ``EXACT_MAX_N`` pairs, Monte Carlo with a fixed seed above). The interval is the set of shifts the same test
  does not reject, so interval and test always agree, and small samples get honestly wide intervals (with fewer
  than 5 pairs no 95 % one-sided bound exists at all: the bound is ``None``);
- :func:`unpaired` — two independent samples (runs whose episode keys differ): a percentile-bootstrap interval
  for the difference of means and a permutation p-value; labelled ``unpaired`` wherever it is shown;
- :func:`mean_interval` — a percentile-bootstrap interval for one run's mean, resampling whole clusters (all
  trials of a profile) when given them;
- :func:`holm` — Holm's step-down adjustment for the several proposals of one evolution round.

The sign-flip test assumes each delta is symmetric around the true mean under the null, which holds when the two
arms are exchangeable (same keys, the arm decided by a coin): exactly the verification design.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PairedStat", "UnpairedStat", "paired", "unpaired", "mean_interval", "holm", "lower_bound",
           "binomial_interval", "EXACT_MAX_N", "MIN_PAIRS_FOR_BOUND"]

EXACT_MAX_N = 13  # 2**13 sign patterns: enumerate exactly up to here (Monte Carlo above costs about the same)
_MONTE_CARLO = 9999
_BOOTSTRAP = 4000


def MIN_PAIRS_FOR_BOUND(alpha: float) -> int:  # noqa: N802 - reads as a constant at call sites
    """The fewest pairs for which a one-sided sign-flip bound at level ``alpha`` exists (1/2**n must be ≤ alpha)."""
    return max(1, math.ceil(math.log2(1 / alpha)))


def _signs(n: int, seed: int) -> np.ndarray:
    """Sign patterns for the permutation test: every pattern (exact) or the identity plus random ones."""
    if n <= EXACT_MAX_N:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    rng = np.random.default_rng(seed)
    random = rng.choice((1.0, -1.0), size=(_MONTE_CARLO, n))
    return np.vstack([np.ones((1, n)), random])


def _thresholds(d: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """For each sign pattern s, the smallest shift m at which s's permuted mean of (d − m) reaches the observed
    one: mean(s·(d−m)) ≥ mean(d−m)  ⇔  m ≥ (mean(d) − mean(s·d)) / (1 − mean(s)). Patterns with mean(s) = 1
    (the identity) always count: −inf."""
    n = len(d)
    sd = signs @ d / n
    c = 1.0 - signs.sum(axis=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(c > 0, (d.mean() - sd) / np.where(c > 0, c, 1.0), -np.inf)
    return np.sort(t)


def _p_at(thresholds: np.ndarray, shift: float) -> float:
    """One-sided p-value of H0 "mean ≤ shift" against "mean > shift"."""
    return float(np.searchsorted(thresholds, shift, side="right") / len(thresholds))


def _bound_from(thresholds: np.ndarray, alpha: float) -> float | None:
    """The lowest shift the one-sided test at ``alpha`` does not reject (None: no bound at this sample size).

    Not rejected means count/total > alpha, with count = #{thresholds ≤ shift}; the smallest such count is k."""
    k = math.floor(alpha * len(thresholds)) + 1
    if k > len(thresholds) or thresholds[k - 1] == -np.inf:
        return None
    return float(thresholds[k - 1])


def lower_bound(deltas: Sequence[float], alpha: float = 0.05, *, seed: int = 0) -> float | None:
    """One-sided (1 − alpha) lower confidence bound for the mean of paired deltas (None: too few pairs)."""
    d = np.asarray(deltas, dtype=float)
    if len(d) == 0:
        return None
    return _bound_from(_thresholds(d, _signs(len(d), seed)), alpha)


@dataclass(frozen=True)
class PairedStat:
    """Paired deltas summarised. ``p_greater``: one-sided p for "mean delta > 0"; ``ci``: two-sided interval at
    ``confidence`` (an end is None when the sample is too small to bound it)."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_greater: float | None
    p_less: float | None
    p_two_sided: float | None
    method: str = "paired sign-flip permutation"

    def to_dict(self, digits: int = 4) -> dict:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def paired(deltas: Sequence[float], *, confidence: float = 0.95, seed: int = 0) -> PairedStat:
    """Mean, interval and p-values of paired deltas (candidate − control per shared key)."""
    d = np.asarray([float(x) for x in deltas], dtype=float)
    n = len(d)
    if n == 0:
        return PairedStat(0, None, None, None, None, confidence, None, None, None)
    signs = _signs(n, seed)
    up = _thresholds(d, signs)
    down = _thresholds(-d, signs)
    tail = (1 - confidence) / 2
    low = _bound_from(up, tail)
    high_neg = _bound_from(down, tail)
    p_greater, p_less = _p_at(up, 0.0), _p_at(down, 0.0)
    return PairedStat(
        n=n, mean=float(d.mean()), sd=float(d.std(ddof=1)) if n > 1 else 0.0,
        ci_low=low, ci_high=None if high_neg is None else -high_neg, confidence=confidence,
        p_greater=p_greater, p_less=p_less, p_two_sided=min(1.0, 2 * min(p_greater, p_less)),
        method="paired sign-flip permutation" + (" (exact)" if n <= EXACT_MAX_N else
                                                 f" ({_MONTE_CARLO} random sign patterns)"))


@dataclass(frozen=True)
class UnpairedStat:
    """Difference of means ``mean(b) − mean(a)`` of two independent samples."""

    n_a: int
    n_b: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_two_sided: float | None
    method: str = "unpaired: percentile bootstrap interval, permutation p-value"

    def to_dict(self, digits: int = 4) -> dict:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def unpaired(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, seed: int = 0) -> UnpairedStat:
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(xa) == 0 or len(xb) == 0:
        return UnpairedStat(len(xa), len(xb), None, None, None, confidence, None)
    rng = np.random.default_rng(seed)
    observed = float(xb.mean() - xa.mean())
    boot = (rng.choice(xb, size=(_BOOTSTRAP, len(xb))).mean(axis=1)
            - rng.choice(xa, size=(_BOOTSTRAP, len(xa))).mean(axis=1))
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    pooled = np.concatenate([xa, xb])
    count = 1
    for _ in range(_MONTE_CARLO):
        perm = rng.permutation(pooled)
        if abs(perm[len(xa):].mean() - perm[:len(xa)].mean()) >= abs(observed) - 1e-12:
            count += 1
    return UnpairedStat(len(xa), len(xb), observed, float(low), float(high), confidence,
                        count / (_MONTE_CARLO + 1))


def mean_interval(values: Sequence[float] | Mapping[str, Sequence[float]], *, confidence: float = 0.95,
                  seed: int = 0) -> dict:
    """Percentile-bootstrap interval for a mean. Given ``{cluster: values}`` (a profile's trials), whole clusters
    are resampled, so trials of one seeker do not pass for independent evidence."""
    clustered = isinstance(values, Mapping)
    groups = [np.asarray(v, dtype=float) for v in values.values()] if clustered else \
        [np.asarray([x], dtype=float) for x in values]
    groups = [g for g in groups if len(g)]
    if not groups:
        return {"mean": None, "ci_low": None, "ci_high": None, "confidence": confidence, "n": 0, "clusters": 0,
                "method": "bootstrap"}
    flat = np.concatenate(groups)
    sums = np.array([g.sum() for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(groups), size=(_BOOTSTRAP, len(groups)))
    boot = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    tail = (1 - confidence) / 2
    if len(groups) < 2:  # one unit to resample: no interval, rather than a zero-width one
        low = high = None
    else:
        low, high = (round(float(x), 4) for x in np.quantile(boot, [tail, 1 - tail]))
    return {"mean": round(float(flat.mean()), 4), "ci_low": low, "ci_high": high,
            "confidence": confidence, "n": int(len(flat)), "clusters": len(groups),
            "method": "percentile bootstrap over " + ("profiles (trials kept together)" if clustered
                                                      else "episodes")}


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None stays None and does not count as a hypothesis)."""
    indexed = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(indexed)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def binomial_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson (exact) interval for a rate, e.g. how often an evolution accepted a null edit."""
    if trials <= 0:
        return (0.0, 1.0)
    tail = (1 - confidence) / 2

    def cdf(k: int, p: float) -> float:  # P(X ≤ k) for X ~ Binomial(trials, p)
        return sum(math.comb(trials, i) * p ** i * (1 - p) ** (trials - i) for i in range(k + 1))

    def crossing(f: Callable[[float], float], target: float) -> float:  # f increasing on [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if successes == 0 else crossing(lambda p: 1 - cdf(successes - 1, p), tail)
    high = 1.0 if successes >= trials else crossing(lambda p: -cdf(successes, p), -tail)
    return (low, high)
