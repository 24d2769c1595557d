"""The safety detector: rules + embedding similarity (+ an optional model), combined in one explainable score.

Every message is read in several views (``_normalize.py``): as written, deobfuscated (homoglyphs, leetspeak,
spaced letters), with base64 / hex runs decoded, and with emoji as words. Rules match in every view (a rule counts
once, at its best); the embedding signal also reads each extra view; the verdict names the views behind its
score (``signals["view.<name>"] = 1.0`` and a reason line).

How the score is made, per category ``c`` (suicide, self_harm, abuse, violence, acute_danger)::

    rule_c       noisy-OR of the weights of matching rules (after idiom / media dampeners)   see _rules.py
    embedding_c  calibrated margin of crisis-exemplar over hard-negative similarity          see _similarity.py
    trust        1 for English (or unknown) text, ``foreign_embedding_trust`` otherwise (MiniLM is English-only)
    combined_c = 1 - (1 - rule_c) * (1 - trust * embedding_c)                                 (noisy-OR)
    score      = max_c combined_c;  category = argmax;  crisis = score >= threshold

A strong rule hit (weight >= the rule book's ``strong_weight``) is a crisis on its own. When a chat model is
given and the score is ambiguous (``ambiguous`` band) with no strong hit, the model's structured answer may
raise the score above the threshold or, if confident, lower it below; it can never clear a strong hit.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from escgraph.agents.safety._language import guess_language
from escgraph.agents.safety._model_check import MODEL_FORMATS, RiskAssessment, aassess_with_model, assess_with_model
from escgraph.agents.safety._normalize import TextView, text_views
from escgraph.agents.safety._rules import CATEGORIES, RuleBook, RuleResult, load_rulebook
from escgraph.agents.safety._similarity import (
    EmbeddingCalibration,
    ExemplarIndex,
    SimilarityScore,
    load_exemplar_index,
)
from escgraph.agents.safety._text import (
    chunks_for_embedding,
    clause_spans,
    clean_text,
    fold_for_rules,
    sentence_spans,
)
from escgraph.types import SafetyVerdict

__all__ = ["SafetyDetector", "default_detector"]

_MAX_SENTENCE_PIECES = 8  # a short message is also embedded sentence by sentence, up to this many
_MAX_VIEW_CHARS = 600  # an extra view (deobfuscated, decoded, emoji) is embedded when at most this long


@dataclass
class _Prepared:
    """One message after cleaning, language guess and rule scan; embedding pieces still to score."""

    text: str
    language: str | None
    rules: RuleResult
    pieces: list[str]
    piece_damping: list[float]
    piece_views: list[str]
    views: list[TextView]


class SafetyDetector:
    """Decides whether a seeker message shows risk. Thread-safe; share one instance.

    Args:
        model: optional capable chat model for a second opinion on ambiguous messages (``None``: no model).
        model_format: how the model is asked: ``"structured"`` (a structured-output schema, any capable chat
            model) or ``"llama_guard"`` (a Llama-Guard-style classification prompt for a guard model, answered
            ``safe`` / ``unsafe`` + categories; a guard can raise an ambiguous message but never clear it).
        model_may_clear: whether a structured model's confident "no risk" may turn an ambiguous crisis verdict
            (a score between the threshold and the top of the ambiguous band) into no crisis. Off by default:
            the embedded model, asked this way, cleared 7 of 104 real crises of a dev set and no false alarm, so
            the model may only raise a verdict unless you trust it to clear one (and have measured it).
        threshold: combined score at or above which a message is a crisis.
        ambiguous: ``(low, high)`` score band in which the model, if any, is asked.
        foreign_embedding_trust: weight of the (English-only) embedding signal for non-English text.
        use_embeddings: ``False`` runs on rules alone (no model load; lower recall on indirect phrasing).
        rules_path / exemplars_path: your own ``rules.yaml`` / ``exemplars.yaml`` instead of the packaged ones.
        calibration: the embedding signal's sigmoid constants.
    """

    def __init__(
        self,
        model: Any = None,
        *,
        model_format: str = "structured",
        model_may_clear: bool = False,
        threshold: float = 0.5,
        ambiguous: tuple[float, float] = (0.25, 0.75),
        foreign_embedding_trust: float = 0.6,
        use_embeddings: bool = True,
        rules_path: str | Path | None = None,
        exemplars_path: str | Path | None = None,
        calibration: EmbeddingCalibration | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if not 0.0 <= ambiguous[0] <= ambiguous[1] <= 1.0:
            raise ValueError(f"ambiguous must be a (low, high) band inside [0, 1], got {ambiguous}")
        if model_format not in MODEL_FORMATS:
            raise ValueError(f"model_format must be one of {', '.join(MODEL_FORMATS)}, got {model_format!r}")
        self.model = model
        self.model_format = model_format
        self.model_may_clear = model_may_clear
        self.threshold = threshold
        self.ambiguous = ambiguous
        self.foreign_embedding_trust = foreign_embedding_trust
        self.use_embeddings = use_embeddings
        self.calibration = calibration or EmbeddingCalibration()
        self.rulebook: RuleBook = load_rulebook(rules_path)
        self._exemplars_path = exemplars_path
        self._index: ExemplarIndex | None = None
        self._index_lock = threading.Lock()
        # one batcher per event loop: concurrent checks (many episodes at once) are scored as one batch
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CheckBatcher] = \
            weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return (f"SafetyDetector(threshold={self.threshold}, embeddings={self.use_embeddings}, "
                f"model={type(self.model).__name__ if self.model is not None else None})")

    # -- public API -------------------------------------------------------------------------------------------
    def check(self, text: Any) -> SafetyVerdict:
        """Verdict for one message. Never raises on odd input (``None``, bytes, control characters, 1 MB)."""
        return self.check_many([text])[0]

    async def acheck(self, text: Any) -> SafetyVerdict:
        """:meth:`check` without blocking the event loop (CPU work runs in a worker thread).

        Checks that arrive while one is being scored wait and are scored together, as :meth:`check_many` does: a
        simulation with many episodes in flight sends many checks at once, and one embedding call per batch
        costs less CPU than one per message (about 1.2x less for 32 concurrent checks on a 2-core machine).
        """
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers.setdefault(loop, _CheckBatcher(self._score_without_model))
        scored = await batcher.score(text)
        return (await self._afinish([scored]))[0]

    def check_many(self, texts: Iterable[Any]) -> list[SafetyVerdict]:
        """Verdicts for many messages; the embedding model sees all of them in one batch."""
        scored = self._score_without_model(list(texts))
        return [self._apply_model(item, verdict) for item, verdict in scored]

    async def acheck_many(self, texts: Iterable[Any]) -> list[SafetyVerdict]:
        scored = await asyncio.to_thread(self._score_without_model, list(texts))
        return await self._afinish(scored)

    # -- scoring --------------------------------------------------------------------------------------------
    def _index_or_none(self) -> ExemplarIndex | None:
        if not self.use_embeddings:
            return None
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = load_exemplar_index(self._exemplars_path)
        return self._index

    def with_model(self, model: Any, model_format: str = "structured") -> "SafetyDetector":
        """This detector with ``model`` as its second opinion; rules and embedding index are shared, not reloaded."""
        if model_format not in MODEL_FORMATS:
            raise ValueError(f"model_format must be one of {', '.join(MODEL_FORMATS)}, got {model_format!r}")
        twin = copy.copy(self)
        twin.model, twin.model_format = model, model_format
        self._index_or_none()  # built once here, so the twin and this detector hold the same index
        twin._index, twin._index_lock = self._index, threading.Lock()  # batches shared too: same scoring
        return twin

    def _prepare(self, raw: Any) -> _Prepared:
        text = clean_text(raw)
        views = text_views(text) if text else [TextView("original", text)]
        folded = [fold_for_rules(v.text) for v in views]
        rules = self.rulebook.scan_views([(v.name, f) for v, f in zip(views, folded)])
        readable = next((v.text for v in views if v.name == "deobfuscated"), text)
        pieces: list[str] = []
        piece_views: list[str] = []
        piece_damping: list[float] = []
        if self.use_embeddings:
            for view, whole in zip(views, folded):
                if view.name != "original" and len(view.text) > _MAX_VIEW_CHARS:
                    continue
                found = self._pieces(view.text)
                pieces += found
                piece_views += [view.name] * len(found)
                piece_damping += [self.rulebook.damping_factor(fold_for_rules(p), whole) for p in found]
        return _Prepared(text, guess_language(readable), rules, pieces, piece_damping, piece_views, views)

    @staticmethod
    def _pieces(text: str) -> list[str]:
        """What to embed of one view: the whole text (or its chunks when long), plus its sentences and clauses."""
        pieces = chunks_for_embedding(text)
        if len(text) <= 400:
            parts = [text[a:b].strip() for a, b in sentence_spans(text)]
            parts += [text[a:b].strip() for a, b in clause_spans(text)]
            seen = {text}
            for part in parts:
                if len(part.split()) >= 3 and part not in seen:
                    seen.add(part)
                    pieces.append(part)
                    if len(pieces) > _MAX_SENTENCE_PIECES:
                        break
        return pieces

    def _score_without_model(self, texts: Sequence[Any]) -> list[tuple[_Prepared, SafetyVerdict]]:
        prepared = [self._prepare(t) for t in texts]
        index = self._index_or_none()
        similarity: list[SimilarityScore | None] = [None] * len(prepared)
        if index is not None:
            from escgraph.embeddings import EMBEDDING_DIM, embed

            all_pieces = [p for item in prepared for p in item.pieces]
            vectors = embed(all_pieces) if all_pieces else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
            start = 0
            for i, item in enumerate(prepared):
                rows = vectors[start:start + len(item.pieces)]
                start += len(item.pieces)
                similarity[i] = index.score_pieces(rows, item.piece_damping, self.calibration)
        return [(item, self._combine(item, sim)) for item, sim in zip(prepared, similarity)]

    def _combine(self, item: _Prepared, sim: SimilarityScore | None) -> SafetyVerdict:
        if not item.text:
            return SafetyVerdict(crisis=False, category="none", score=0.0, reasons=["empty message"])
        trust = 1.0 if item.language in (None, "en") else self.foreign_embedding_trust
        embedding = {c: trust * (sim.scores[c] if sim else 0.0) for c in CATEGORIES}
        combined = {c: 1.0 - (1.0 - item.rules.scores[c]) * (1.0 - embedding[c]) for c in CATEGORIES}
        category = max(CATEGORIES, key=combined.__getitem__)
        score = combined[category]
        strongest = item.rules.strongest_hit
        strong = strongest is not None and not strongest.dampened_by \
            and strongest.weight >= self.rulebook.strong_weight
        if strong:  # a strong hit decides the category, whatever the embedding leans to
            category = strongest.rule.category
            score = max(score, combined[category])
        crisis = strong or score >= self.threshold

        signals: dict[str, float] = {"rules": round(item.rules.top, 4), "embedding": round(max(embedding.values()), 4)}
        for view in _views_behind(item, sim, category, embedding):
            signals[f"view.{view}"] = 1.0
        for c in CATEGORIES:
            if item.rules.scores[c] > 0:
                signals[f"rules.{c}"] = round(item.rules.scores[c], 4)
            if embedding[c] > 0.01:
                signals[f"embedding.{c}"] = round(embedding[c], 4)
        if sim is not None:
            signals["similarity.crisis"] = round(sim.crisis_similarity, 4)
            signals["similarity.negative"] = round(sim.negative_similarity, 4)
        if item.rules.dampeners:
            signals["dampeners"] = float(len(item.rules.dampeners))

        reasons = [_hit_reason(hit, item) for hit in sorted(item.rules.hits, key=lambda h: -h.weight)[:4]]
        extra_views = sorted(k.split(".", 1)[1] for k in signals if k.startswith("view."))
        if extra_views:
            reasons.append("matched in the " + " and ".join(extra_views) + " view of the text")
        if sim is not None and sim.nearest_exemplar and max(embedding.values()) >= 0.05:
            reasons.append(f'close to crisis example "{sim.nearest_exemplar}" ({sim.crisis_similarity:.2f}) '
                           f'vs ordinary "{sim.nearest_negative}" ({sim.negative_similarity:.2f})')
        if trust < 1.0:
            reasons.append(f"language {item.language}: embedding signal weighted {trust:.2f}")
        dampener_ids = sorted({d for d, _ in item.rules.dampeners})
        if dampener_ids:
            reasons.append("figure of speech / media context: " + ", ".join(dampener_ids))
        reasons.append(f"score {score:.2f} {'>=' if crisis else '<'} threshold {self.threshold:.2f}"
                       + (" (strong rule)" if strong else ""))
        return SafetyVerdict(crisis=crisis, category=category if crisis else "none",
                             score=min(1.0, max(0.0, score)), signals=signals, reasons=reasons,
                             language=item.language)

    # -- optional model ---------------------------------------------------------------------------------------
    def _needs_model(self, item: _Prepared, verdict: SafetyVerdict) -> bool:
        if self.model is None or not item.text:
            return False
        strongest = item.rules.strongest_hit
        if strongest is not None and not strongest.dampened_by and strongest.weight >= self.rulebook.strong_weight:
            return False  # never second-guess a strong rule
        low, high = self.ambiguous
        return low <= verdict.score < high

    def _apply_model(self, item: _Prepared, verdict: SafetyVerdict) -> SafetyVerdict:
        if not self._needs_model(item, verdict):
            return verdict
        return _merge_model(verdict, assess_with_model(self.model, _model_text(item), self.model_format),
                            self.threshold, self.model_may_clear)

    async def _afinish(self, scored: list[tuple[_Prepared, SafetyVerdict]]) -> list[SafetyVerdict]:
        async def finish(item: _Prepared, verdict: SafetyVerdict) -> SafetyVerdict:
            if not self._needs_model(item, verdict):
                return verdict
            answer = await aassess_with_model(self.model, _model_text(item), self.model_format)
            return _merge_model(verdict, answer, self.threshold, self.model_may_clear)

        return list(await asyncio.gather(*(finish(i, v) for i, v in scored)))


def _merge_model(verdict: SafetyVerdict, answer: RiskAssessment | None, threshold: float,
                 may_clear: bool = False) -> SafetyVerdict:
    if answer is None:
        return verdict
    signals = {**verdict.signals, "model": round(answer.confidence if answer.category != "none" else 0.0, 4)}
    reasons = list(verdict.reasons)
    if answer.category != "none":
        score = max(verdict.score, threshold + (1.0 - threshold) * 0.5 * answer.confidence)
        reasons.append(f"model: {answer.category} ({answer.confidence:.2f}) {answer.reason}".strip())
        return verdict.model_copy(update={"crisis": True, "category": answer.category, "score": min(score, 1.0),
                                          "signals": signals, "reasons": reasons})
    if answer.confidence >= 0.6 and verdict.crisis and not may_clear:
        reasons.append(f"model: no risk ({answer.confidence:.2f}); crisis verdict kept: the model may only raise "
                       "one (model_may_clear=False)")
        return verdict.model_copy(update={"signals": signals, "reasons": reasons})
    if answer.confidence >= 0.6:
        reasons.append(f"model: no risk ({answer.confidence:.2f}) {answer.reason}".strip())
        score = min(verdict.score, threshold * 0.9)
        return verdict.model_copy(update={"crisis": False, "category": "none", "score": score,
                                          "signals": signals, "reasons": reasons})
    reasons.append(f"model unsure ({answer.confidence:.2f}); kept rule/embedding verdict")
    return verdict.model_copy(update={"signals": signals, "reasons": reasons})


def _model_text(item: _Prepared) -> str:
    """What the model reads: the message, plus its decoded / deobfuscated / emoji readings when there are any."""
    extra = [v.text for v in item.views if v.name != "original"][:3]
    if not extra:
        return item.text
    return item.text + "\n\n(The same message, read plainly: " + " | ".join(t[:600] for t in extra) + ")"


def _views_behind(item: _Prepared, sim: SimilarityScore | None, category: str,
                  embedding: dict[str, float]) -> list[str]:
    """The extra text views (not the original) whose matches carry the score of ``category``."""
    found = {hit.view for hit in item.rules.hits
             if hit.rule.category == category and hit.weight >= 0.3 and hit.view != "original"}
    if sim is not None and embedding.get(category, 0.0) >= 0.3 and category in sim.best_piece:
        view = item.piece_views[sim.best_piece[category]]
        if view != "original":
            found.add(view)
    return sorted(found)


def _hit_reason(hit: Any, item: _Prepared) -> str:
    matched = hit.matched[:60]
    note = f", dampened by {', '.join(hit.dampened_by)}" if hit.dampened_by else ""
    where = f" [{hit.view}]" if hit.view != "original" else ""
    return f'rule {hit.rule.id} ({hit.rule.category} {hit.weight:.2f}{note}){where}: "{matched}"'


class _CheckBatcher:
    """Scores the texts of concurrent :meth:`SafetyDetector.acheck` calls of one event loop in batches.

    The first check starts a drain task; checks that arrive while a batch is scored in a worker thread form the
    next batch. An idle gate therefore adds no delay, and a busy one scores many messages per embedding call.
    """

    def __init__(self, score: Any) -> None:
        self._score = score
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._draining = False

    async def score(self, text: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # checks started in this same tick join the batch
                batch, self._pending = self._pending, []
                try:
                    results = await asyncio.to_thread(self._score, [text for text, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiting check raises it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():  # a cancelled check (a step timeout) no longer waits
                        future.set_result(result)
        finally:
            self._draining = False


_default: SafetyDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> SafetyDetector:
    """The process-wide default :class:`SafetyDetector` (no model), created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = SafetyDetector()
    return _default

