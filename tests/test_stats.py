"""escgraph.stats: exact sign-flip p-values on hand-computable inputs, intervals, coverage, Holm, clustering."""

from __future__ import annotations

import numpy as np
import pytest

from escgraph.stats import MIN_PAIRS_FOR_BOUND, holm, lower_bound, mean_interval, paired, unpaired


def test_sign_flip_p_values_are_exact_on_tiny_inputs():
    # All 32 sign patterns of [1..5]: only the identity reaches the observed mean 3, so one-sided p = 1/32.
    s = paired([1, 2, 3, 4, 5])
    assert s.n == 5 and s.mean == 3.0
    assert s.p_greater == pytest.approx(1 / 32) and s.p_two_sided == pytest.approx(2 / 32)
    assert s.p_less == 1.0
    # [2, -1]: permuted means 0.5, 1.5, -1.5, -0.5; two of four reach the observed 0.5.
    s = paired([2, -1])
    assert s.p_greater == pytest.approx(2 / 4) and s.p_less == pytest.approx(3 / 4)
    assert s.p_two_sided == 1.0
    # Mirror image: the same p-values with the tails swapped.
    m = paired([-1, -2, -3, -4, -5])
    assert m.p_less == pytest.approx(1 / 32) and m.p_greater == 1.0
    assert "exact" in s.method and s.method.startswith("paired sign-flip")


def test_interval_contains_the_mean_and_widens_with_noise():
    rng = np.random.default_rng(3)
    base = rng.normal(size=12)
    quiet, noisy = paired(2 + base), paired(2 + 4 * base)
    for s in (quiet, noisy):
        assert s.ci_low < s.mean < s.ci_high
    assert noisy.ci_high - noisy.ci_low > 3 * (quiet.ci_high - quiet.ci_low)
    assert quiet.ci_low > 0  # a clear effect: the interval excludes 0


def test_no_bound_below_five_pairs_at_alpha_005():
    assert MIN_PAIRS_FOR_BOUND(0.05) == 5 and MIN_PAIRS_FOR_BOUND(0.025) == 6
    for n in range(1, 5):  # 1 / 2**n > 0.05: no shift is ever rejected
        assert lower_bound(list(range(1, n + 1)), 0.05) is None
    assert lower_bound([1, 2, 3, 4, 5], 0.05) is not None
    assert lower_bound([], 0.05) is None
    few = paired([1, 2, 3, 4, 5])  # a two-sided 95% interval needs 6 pairs
    assert few.ci_low is None and few.ci_high is None and few.p_greater is not None
    assert paired([1, 2, 3, 4, 5, 6]).ci_low is not None


def test_95_percent_interval_covers_about_95_percent():
    rng = np.random.default_rng(20240601)
    true_mean, hits, trials = 1.5, 0, 240
    for i in range(trials):
        s = paired(rng.normal(true_mean, 2.0, size=12), seed=i)
        hits += s.ci_low <= true_mean <= s.ci_high
    assert 0.90 <= hits / trials <= 0.99


def test_monte_carlo_above_exact_limit_is_deterministic():
    d = list(np.random.default_rng(1).normal(1.0, 1.0, size=25))
    first, second = paired(d, seed=7), paired(d, seed=7)
    assert first == second and "random sign patterns" in first.method
    assert first.ci_low < first.mean < first.ci_high


def test_holm_matches_a_hand_computation():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> raised to the running max 0.06
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == [] and holm([None]) == [None]


def test_unpaired_labels_itself_and_brackets_the_difference():
    rng = np.random.default_rng(5)
    a, b = rng.normal(40, 10, size=30), rng.normal(55, 10, size=25)
    s = unpaired(a, b)
    assert s.method.startswith("unpaired") and s.to_dict()["method"].startswith("unpaired")
    assert (s.n_a, s.n_b) == (30, 25) and s.mean == pytest.approx(b.mean() - a.mean())
    assert s.ci_low < s.mean < s.ci_high and s.ci_low > 0 and s.p_two_sided < 0.01
    assert unpaired([], [1.0]).mean is None


def test_mean_interval_resamples_whole_clusters():
    # Six profiles, five identical trials each: trials add no information, so resampling profiles (clusters)
    # must give a wider interval than treating the 30 episodes as independent.
    values = {f"p{i}": [float(v)] * 5 for i, v in enumerate([20, 35, 50, 60, 75, 90])}
    clustered = mean_interval(values)
    flat = mean_interval([x for v in values.values() for x in v])
    assert clustered["clusters"] == 6 and clustered["n"] == 30 and "profiles" in clustered["method"]
    assert flat["clusters"] == 30 and "episodes" in flat["method"]
    assert clustered["mean"] == flat["mean"] == pytest.approx(55.0)
    assert clustered["ci_low"] < 55 < clustered["ci_high"]
    assert clustered["ci_high"] - clustered["ci_low"] > 1.8 * (flat["ci_high"] - flat["ci_low"])
    assert mean_interval([])["mean"] is None
