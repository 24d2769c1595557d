"""Kang et al.'s strategy metrics: Q (macro-F1), Bradley–Terry preferences p_i and bias B, on hand-made cases."""

from __future__ import annotations

import math
import random

import pytest

from escgraph.strategy_metrics import (
    bradley_terry_preferences,
    confusion_counts,
    distribution_preferences,
    macro_f1,
    preference_bias,
    strategy_report,
)
from escgraph.types import STRATEGIES

Q, R, F = "Question", "Restatement or Paraphrasing", "Reflection of feelings"


def test_macro_f1_by_hand():
    gold = [Q, Q, R, F]
    pred = [Q, R, R, Q]
    # Question: tp 1, gold 2, pred 2 -> 0.5; Restatement: tp 1, gold 1, pred 2 -> 2/3; Reflection: 0.
    assert macro_f1(gold, pred) == pytest.approx(100 * (0.5 + 2 / 3 + 0) / 3)
    assert macro_f1(gold, gold) == 100.0
    assert macro_f1([], []) == 0.0
    assert macro_f1([Q, R], [Q, "nonsense"]) == pytest.approx(100 * (1.0 + 0.0) / 2)  # unknown pred: just wrong
    with pytest.raises(ValueError):
        macro_f1([Q], [])


def test_confusion_counts_are_pred_by_gold():
    w = confusion_counts([Q, Q, R], [R, R, R])
    assert set(w) == set(STRATEGIES) and all(set(row) == set(STRATEGIES) for row in w.values())
    assert w[R][Q] == 2 and w[R][R] == 1 and w[Q][R] == 0
    assert sum(sum(row.values()) for row in w.values()) == 3


def test_balanced_confusion_gives_no_preference():
    w = {i: {j: 5 for j in STRATEGIES} for i in STRATEGIES}
    p = bradley_terry_preferences(w)
    assert p == pytest.approx(dict.fromkeys(STRATEGIES, 1.0))
    assert preference_bias(p) == pytest.approx(0.0, abs=1e-12)


def test_two_strategies_by_hand():
    # A was chosen over B 3 times, B over A once: the MLE has p_A / p_B = 3; rescaled to sum 2 -> 1.5 and 0.5.
    p = bradley_terry_preferences({"A": {"A": 9, "B": 3}, "B": {"A": 1, "B": 9}})
    assert p == pytest.approx({"A": 1.5, "B": 0.5})
    assert preference_bias(p) == pytest.approx(0.5)


def test_always_one_strategy_has_the_largest_bias():
    rng = random.Random(0)
    gold = [rng.choice(STRATEGIES) for _ in range(400)]
    p = bradley_terry_preferences(confusion_counts(gold, [Q] * len(gold)))
    assert p[Q] == pytest.approx(8.0) and all(p[s] == 0.0 for s in STRATEGIES if s != Q)
    assert sum(p.values()) == pytest.approx(8.0)
    assert preference_bias(p) == pytest.approx(math.sqrt(7))


def test_random_guesser_has_tiny_bias_and_useless_q():
    rng = random.Random(1)
    gold = [rng.choice(STRATEGIES) for _ in range(8000)]
    pred = [rng.choice(STRATEGIES) for _ in range(8000)]
    report = strategy_report(gold, pred)
    assert report["B"] < 0.1
    assert report["Q"] < 16  # chance level is 12.5
    assert sum(report["preferences"].values()) == pytest.approx(8.0)


def test_zero_counts_never_divide_by_zero():
    perfect = confusion_counts(list(STRATEGIES), list(STRATEGIES))  # diagonal only: nothing to compare
    assert bradley_terry_preferences(perfect) == pytest.approx(dict.fromkeys(STRATEGIES, 1.0))
    empty = confusion_counts([], [])
    assert bradley_terry_preferences(empty) == pytest.approx(dict.fromkeys(STRATEGIES, 1.0))
    # Q and R confused with each other; the six others never appear: they stay neutral at 1.
    p = bradley_terry_preferences(confusion_counts([Q, R, R, R], [R, Q, Q, Q]))
    assert all(math.isfinite(v) for v in p.values()) and sum(p.values()) == pytest.approx(8.0)
    assert p[Q] / p[R] == pytest.approx(3.0) and p[F] == pytest.approx(p["Others"])
    # R never chosen wrongly but missed: its preference goes to 0; Q only won: finite and on top.
    p = bradley_terry_preferences(confusion_counts([R, R, F], [Q, Q, F]))
    assert p[R] == 0.0 and math.isfinite(p[Q]) and p[Q] > 1


def test_matches_the_reference_iteration_on_a_skewed_confusion():
    # Counts chosen by hand: the model over-uses Question and Affirmation.
    labels = [Q, R, "Affirmation and Reassurance"]
    a = "Affirmation and Reassurance"
    w = {Q: {Q: 10, R: 6, a: 4}, R: {Q: 1, R: 5, a: 1}, a: {Q: 2, R: 3, a: 8}}
    p = bradley_terry_preferences(w, labels=labels)
    # Check the fixed point: for each i, sum_j (w_ji p_i - w_ij p_j) / (p_i + p_j) = 0.
    for i in labels:
        residual = sum((w[j][i] * p[i] - w[i][j] * p[j]) / (p[i] + p[j]) for j in labels if j != i)
        assert residual == pytest.approx(0.0, abs=1e-9)
    assert p[Q] > p[a] > p[R] and sum(p.values()) == pytest.approx(3.0)


def test_distribution_preferences_measure_lopsidedness():
    even = distribution_preferences(dict.fromkeys(STRATEGIES, 7))
    assert even == pytest.approx(dict.fromkeys(STRATEGIES, 1.0)) and preference_bias(even) == pytest.approx(0.0)
    only = distribution_preferences({Q: 12})
    assert only[Q] == pytest.approx(8.0) and preference_bias(only) == pytest.approx(math.sqrt(7))
    counts = {Q: 50, R: 10, F: 30, "Affirmation and Reassurance": 10}
    p = distribution_preferences(counts)  # fixed point: 8 x share
    assert p == pytest.approx({s: 8 * counts.get(s, 0) / 100 for s in STRATEGIES}, abs=1e-6)
    assert preference_bias(p) == pytest.approx(8 * math.sqrt(sum((counts.get(s, 0) / 100 - 1 / 8) ** 2
                                                                 for s in STRATEGIES) / 8), abs=1e-6)
    assert distribution_preferences({"not a strategy": 3}) == pytest.approx(dict.fromkeys(STRATEGIES, 1.0))


def test_preference_bias_is_population_std():
    assert preference_bias([1, 3]) == pytest.approx(1.0)
    assert preference_bias({}) == 0.0
