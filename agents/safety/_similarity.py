"""The embedding signal: how much closer a message is to crisis exemplars than to hard negatives.

For each piece of a message (the whole text when short, plus its sentences) and each category::

    margin_c = max cosine to the crisis exemplars of c  -  max cosine to any hard negative
    signal_c = sigmoid((margin_c - center) / scale) * ramp(crisis similarity; floor -> 0, full -> 1)

The riskiest piece counts. A piece that contains an idiom / media / joke dampener has its signal scaled by the
dampener's factor (a sentence like "this exam is killing me" should not lean on its neighbour's words). The
constants were calibrated on the development set (``tests/data/safety_dev.jsonl``); see ``bench/eval_safety.py``.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from escgraph.agents.safety._rules import CATEGORIES

__all__ = ["ExemplarIndex", "SimilarityScore", "load_exemplar_index", "EmbeddingCalibration"]


@dataclass(frozen=True)
class EmbeddingCalibration:
    center: float = 0.14  # margin at which the signal is 0.5
    scale: float = 0.035  # margin spread: smaller is sharper
    floor: float = 0.45  # crisis similarity below this: the message is not about a crisis at all ...
    full: float = 0.55  # ... and from here up the margin counts fully (linear ramp in between)


@dataclass
class SimilarityScore:
    scores: dict[str, float]  # per category, in [0, 1]
    crisis_similarity: float  # best crisis cosine over pieces (for explanations)
    negative_similarity: float  # nearest hard negative for that piece
    nearest_exemplar: str
    nearest_negative: str
    best_piece: dict[str, int] = field(default_factory=dict)  # per category: the piece that gave its score


class ExemplarIndex:
    """Embedded exemplars. The vectors are computed once per exemplar file per process."""

    def __init__(self, crisis: dict[str, list[str]], negatives: list[str]) -> None:
        from escgraph.embeddings import embed

        self.crisis_texts = [(c, t) for c in CATEGORIES for t in crisis.get(c, [])]
        self.negative_texts = list(negatives)
        if not self.crisis_texts or not self.negative_texts:
            raise ValueError("exemplars: need at least one crisis exemplar and one hard negative")
        vectors = embed([t for _, t in self.crisis_texts] + self.negative_texts)
        self.crisis_vectors = vectors[: len(self.crisis_texts)]
        self.negative_vectors = vectors[len(self.crisis_texts):]
        self.crisis_categories = np.array([c for c, _ in self.crisis_texts])

    def score_pieces(self, piece_vectors: np.ndarray, piece_damping: list[float],
                     calibration: EmbeddingCalibration) -> SimilarityScore:
        """Score one message from its embedded pieces (rows) and each piece's dampening factor (1 = none)."""
        scores = {c: 0.0 for c in CATEGORIES}
        best_piece: dict[str, int] = {}
        best = (-1.0, 0.0, "", "")
        if len(piece_vectors) == 0:
            return SimilarityScore(scores, 0.0, 0.0, "", "")
        crisis_sims = piece_vectors @ self.crisis_vectors.T  # (pieces, crisis exemplars)
        negative_sims = piece_vectors @ self.negative_vectors.T
        nearest_negative = negative_sims.argmax(axis=1)
        for i in range(len(piece_vectors)):
            neg = float(negative_sims[i, nearest_negative[i]])
            for category in CATEGORIES:
                mask = self.crisis_categories == category
                if not mask.any():
                    continue
                row = np.where(mask, crisis_sims[i], -1.0)
                j = int(row.argmax())
                sim = float(row[j])
                if sim > best[0]:
                    best = (sim, neg, self.crisis_texts[j][1], self.negative_texts[int(nearest_negative[i])])
                ramp = (sim - calibration.floor) / max(calibration.full - calibration.floor, 1e-6)
                if ramp <= 0:
                    continue
                value = _sigmoid((sim - neg - calibration.center) / calibration.scale) * min(ramp, 1.0)
                if value * piece_damping[i] > scores[category]:
                    scores[category] = value * piece_damping[i]
                    best_piece[category] = i
        top_sim, top_neg, exemplar, negative = best
        return SimilarityScore(scores, max(top_sim, 0.0), top_neg, exemplar, negative, best_piece)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


_indexes: dict[str, ExemplarIndex] = {}
_index_lock = threading.Lock()


def _parse(data: Any, source: str) -> tuple[dict[str, list[str]], list[str]]:
    if not isinstance(data, dict) or not isinstance(data.get("crisis"), dict):
        raise ValueError(f"{source}: expected a mapping with 'crisis' (category -> sentences) and 'negatives'")
    crisis = {}
    for category, texts in data["crisis"].items():
        if category not in CATEGORIES:
            raise ValueError(f"{source}: unknown category {category!r}; use one of {', '.join(CATEGORIES)}")
        crisis[category] = [str(t) for t in texts or []]
    return crisis, [str(t) for t in data.get("negatives") or []]


def load_exemplar_index(path: str | Path | None = None) -> ExemplarIndex:
    """The exemplar index for the packaged ``exemplars.yaml`` (or ``path``), embedded once per content."""
    if path is None:
        text = resources.files("escgraph.agents.safety").joinpath("exemplars.yaml").read_text(encoding="utf-8")
        source = "exemplars.yaml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    key = hashlib.sha256(text.encode()).hexdigest()
    with _index_lock:  # one embedding pass even when several threads ask at once
        if key not in _indexes:
            _indexes[key] = ExemplarIndex(*_parse(yaml.safe_load(text), source))
        return _indexes[key]
