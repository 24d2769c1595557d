"""Evaluate strategy predictions against gold cases: Q, B, accuracy, per-strategy F1 and preferences, and a
confusion-matrix plot (a self-contained SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from escgraph.strategy_metrics import confusion_counts, strategy_report
from escgraph.types import STRATEGIES

__all__ = ["evaluate", "per_strategy_f1", "confusion_svg"]


def per_strategy_f1(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    out = {}
    for s in STRATEGIES:
        tp = sum(g == s and p == s for g, p in zip(gold, pred))
        fp = sum(g != s and p == s for g, p in zip(gold, pred))
        fn = sum(g == s and p != s for g, p in zip(gold, pred))
        out[s] = round(100 * 2 * tp / (2 * tp + fp + fn), 2) if tp else 0.0
    return out


def evaluate(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    report = strategy_report(list(gold), list(pred))
    return {"n": len(gold), "Q": round(report["Q"], 3), "B": round(report["B"], 4),
            "accuracy": round(100 * sum(g == p for g, p in zip(gold, pred)) / max(1, len(gold)), 2),
            "f1": per_strategy_f1(gold, pred),
            "preferences": {k: round(v, 4) for k, v in report["preferences"].items()},
            "predicted": {s: sum(p == s for p in pred) for s in STRATEGIES},
            "gold": {s: sum(g == s for g in gold) for s in STRATEGIES}}


def confusion_svg(gold: Sequence[str], pred: Sequence[str], title: str = "") -> str:
    """Rows: gold strategy; columns: predicted; each cell shaded by its share of the row."""
    w = confusion_counts(list(gold), list(pred))  # w[pred][gold]
    cell, left, top = 54, 190, 150
    size = len(STRATEGIES)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + cell * size + 20}" '
             f'height="{top + cell * size + 40}" font-family="sans-serif" font-size="12">',
             f'<text x="10" y="20" font-size="14">{escape(title or "Confusion matrix")} (rows: gold, '
             f'columns: predicted)</text>']
    for j, s in enumerate(STRATEGIES):
        x = left + j * cell + cell / 2
        parts.append(f'<text transform="translate({x:.0f},{top - 8}) rotate(-50)">{escape(s)}</text>')
    for i, g in enumerate(STRATEGIES):
        row_total = sum(w[p][g] for p in STRATEGIES) or 1
        y = top + i * cell
        parts.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4:.0f}" text-anchor="end">{escape(g)}</text>')
        for j, p in enumerate(STRATEGIES):
            share = w[p][g] / row_total
            colour = f"rgb({int(255 - 180 * share)},{int(255 - 120 * share)},255)"
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell}" height="{cell}" fill="{colour}" '
                         f'stroke="#fff"/><text x="{left + j * cell + cell / 2:.0f}" y="{y + cell / 2 + 4:.0f}" '
                         f'text-anchor="middle">{int(w[p][g])}</text>')
    parts.append("</svg>\n")
    return "".join(parts)
