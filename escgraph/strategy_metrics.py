"""Strategy metrics of Kang et al. (ACL 2024), ARCHITECTURE.md section 5: proficiency Q, preferences p_i, bias B.

* **Q** — :func:`macro_f1`: macro-averaged F1 (in percent) of predicted against gold strategies.
* **p_i** — :func:`bradley_terry_preferences`: a Bradley–Terry model fitted on the confusion counts
  ``W[pred][gold]``. Every case where the model chose *i* while the gold was *j* (``i != j``) counts as one
  comparison that *i* won against *j*; correct predictions carry no preference and are left out. The fit is
  a minorization–maximization iteration, 20 rounds, each normalised by the geometric mean, and the result is
  rescaled so that the p_i sum to the number of strategies (8) — the authors' reference computation. p_i > 1
  means the model picks strategy *i* more readily than the gold does; without preference every p_i = 1.
* **B** — :func:`preference_bias`: the population standard deviation of the p_i. B = 0 means no preference;
  always predicting a single strategy gives the maximum, ``sqrt(n - 1)`` (√7 ≈ 2.65 for 8 strategies).

Both matter: a random guesser has a tiny B and a useless Q; a model that always answers one strategy may score a
fair Q on a skewed test set but has a huge B.

:func:`distribution_preferences` applies the same model where no gold exists (self-play), treating the gold as
uniform; its B then measures how lopsided the strategy distribution is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from escgraph.types import STRATEGIES

__all__ = [
    "macro_f1",
    "confusion_counts",
    "bradley_terry_preferences",
    "preference_bias",
    "distribution_preferences",
    "strategy_report",
]

Confusion = dict[str, dict[str, float]]


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES) -> float:
    """Proficiency Q: macro-averaged F1 over ``labels``, in percent (0–100).

    A label that occurs in neither ``gold`` nor ``pred`` is left out of the average (as scikit-learn does when it
    infers the labels); a label that occurs but is never predicted correctly scores F1 = 0. A prediction outside
    ``labels`` is simply wrong: it misses its gold label and counts against no label. Empty input gives 0.0.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} != {len(pred)})")
    label_set = set(labels)
    tp = dict.fromkeys(labels, 0)
    n_gold = dict.fromkeys(labels, 0)
    n_pred = dict.fromkeys(labels, 0)
    for g, p in zip(gold, pred):
        if g in label_set:
            n_gold[g] += 1
        if p in label_set:
            n_pred[p] += 1
        if g == p and g in label_set:
            tp[g] += 1
    scores = [2 * tp[s] / (n_gold[s] + n_pred[s]) for s in labels if n_gold[s] + n_pred[s] > 0]
    return 100.0 * sum(scores) / len(scores) if scores else 0.0


def confusion_counts(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES) -> Confusion:
    """Counts ``W[pred][gold]`` over ``labels`` (every cell present, zeros included).

    Pairs with a label outside ``labels`` on either side are skipped: map unknown predictions (e.g. to "Others")
    before calling if they should count.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} != {len(pred)})")
    w: Confusion = {p: dict.fromkeys(labels, 0) for p in labels}
    for g, p in zip(gold, pred):
        if p in w and g in w:
            w[p][g] += 1
    return w


def bradley_terry_preferences(w: Mapping[str, Mapping[str, float]], iterations: int = 20,
                              labels: Sequence[str] | None = None) -> dict[str, float]:
    """Preferences p_i from confusion counts ``w[pred][gold]`` (a Bradley–Terry fit).

    ``w[i][j]`` (``i != j``) is the number of times *i* was chosen where the gold was *j* — a comparison *i*
    won against *j*; the diagonal (correct choices) is ignored. Starting from p = 1, each of ``iterations``
    rounds updates the strategies in order, in place, with the minorization–maximization fixed-point step of the
    authors' reference code (Zermelo's form, as in Newman 2023)::

        p_i <- sum_j w_ij * p_j / (p_i + p_j)  /  sum_j w_ji / (p_i + p_j)

    and then divides the positive p by their geometric mean. Finally all p are rescaled to sum to the number of
    labels (8 for the ESConv strategies). Its fixed point is the maximum-likelihood one of Hunter's (2004) MM
    update ``p_i <- W_i / sum_j (w_ij + w_ji) / (p_i + p_j)``; this form gets there within the 20 rounds, where
    Hunter's plain update is still visibly off after 20, so numbers match the published ones.

    Zero counts are handled without division by zero:

    * no wins but some losses (never chosen wrongly, sometimes missed): p_i = 0, the limit of the
      maximum-likelihood fit; zeros are left out of the geometric mean (as in the reference code);
    * wins but no losses (the step above would divide by zero; the likelihood grows without bound): Hunter's
      update is used for that strategy, which stays finite and keeps it on top;
    * no off-diagonal counts at all (never confused either way, e.g. a perfect predictor, or a strategy absent
      from the data): nothing to estimate, so p_i stays neutral at 1 — the level of the geometric mean;
    * all counts zero: every p_i = 1 (B = 0).

    ``labels`` defaults to the keys of ``w``; missing rows or cells count as zero.
    """
    labels = list(labels if labels is not None else w.keys())
    n = len(labels)
    if n == 0:
        return {}

    def cell(i: str, j: str) -> float:
        return float(w.get(i, {}).get(j, 0) or 0)

    beat = {i: {j: cell(i, j) for j in labels if j != i and cell(i, j) > 0} for i in labels}  # i chosen over j
    lost = {i: {j: cell(j, i) for j in labels if j != i and cell(j, i) > 0} for i in labels}  # j chosen over i
    compared = [i for i in labels if beat[i] or lost[i]]
    p = dict.fromkeys(labels, 1.0)
    for _ in range(iterations):
        for i in compared:
            p[i] = _bt_step(p, i, beat[i], lost[i])
        positive = [p[i] for i in compared if p[i] > 0]
        if positive:
            geo = math.exp(sum(math.log(v) for v in positive) / len(positive))
            for i in compared:
                p[i] /= geo
    total = sum(p.values())
    if total <= 0:
        return dict.fromkeys(labels, 1.0)
    return {i: n * p[i] / total for i in labels}


def _bt_step(p: Mapping[str, float], i: str, beat: Mapping[str, float], lost: Mapping[str, float]) -> float:
    """One update of p_i (see :func:`bradley_terry_preferences`); every denominator is checked for zero."""
    if not beat:
        return 0.0
    if any(p[i] + p[j] <= 0 for j in lost):  # lost to a strategy also at 0: infinitely weak
        return 0.0
    num = sum(c * p[j] / (p[i] + p[j]) for j, c in beat.items() if p[i] + p[j] > 0)
    den = sum(c / (p[i] + p[j]) for j, c in lost.items())
    if den > 0:
        return num / den
    # Only wins: Hunter's update W_i / sum_j w_ij / (p_i + p_j), finite because p_i > 0 after any win.
    hunter = sum(c / (p[i] + p[j]) for j, c in beat.items() if p[i] + p[j] > 0)
    return sum(beat.values()) / hunter if hunter > 0 else p[i]


def preference_bias(p: Mapping[str, float] | Iterable[float]) -> float:
    """Preference bias B: the population standard deviation of the preferences p_i."""
    values = list(p.values()) if isinstance(p, Mapping) else list(p)
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def distribution_preferences(counts: Mapping[str, int], labels: Sequence[str] = STRATEGIES,
                             iterations: int = 20) -> dict[str, float]:
    """Preferences p_i for runs without gold strategies (self-play), from how often each strategy was used.

    The gold is taken as uniform over the ``n`` labels: each use of strategy *i* counts as ``1/n`` of a
    comparison won against every other strategy *j*, so ``w[i][j] = counts[i] / n``; the same Bradley–Terry fit as
    :func:`bradley_terry_preferences` follows. Its fixed point is ``p_i = n * share_i``: p_i > 1 for strategies
    used more than ``1/n`` of the time, 0 for strategies never used.

    So the B of these preferences says how *lopsided the strategy distribution* is (0: all eight used equally;
    √7 ≈ 2.65: only one ever used). It is not Kang et al.'s bias against human choices — without gold there is
    no telling whether a frequent strategy was the right one — but it is on the same scale. Counts for names
    outside ``labels`` are ignored.
    """
    n = len(labels)
    w = {i: {j: (counts.get(i, 0) / n if j != i else 0.0) for j in labels} for i in labels}
    return bradley_terry_preferences(w, iterations=iterations, labels=labels)


def strategy_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STRATEGIES,
                    iterations: int = 20) -> dict[str, object]:
    """Q, B and the per-strategy preferences of predictions against gold, JSON-ready."""
    prefs = bradley_terry_preferences(confusion_counts(gold, pred, labels), iterations=iterations, labels=labels)
    return {"n": len(gold), "Q": macro_f1(gold, pred, labels), "B": preference_bias(prefs), "preferences": prefs}
