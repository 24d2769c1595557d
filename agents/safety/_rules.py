"""The rule signal: weighted regular expressions from ``rules.yaml``, with dampeners for idioms and media talk.

Rules match on folded text (see :func:`fold_for_rules`). Each hit has a weight; a dampener that overlaps a hit
(idiom) or shares its sentence (media talk, joke markers) scales the weight down, except for strong hits, which
are never dampened: when a real person may be at risk we would rather flag. Per category, hits combine by
noisy-OR: ``1 - prod(1 - w)``, so two moderate hits count for more than one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from escgraph.agents.safety._text import sentence_spans

__all__ = ["Rule", "Dampener", "RuleHit", "RuleBook", "RuleResult", "load_rulebook", "CATEGORIES"]

CATEGORIES: tuple[str, ...] = ("suicide", "self_harm", "abuse", "violence", "acute_danger")
_DAMPENER_KINDS = ("idiom", "media", "joke")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]
    lang: str | None = None


@dataclass(frozen=True)
class Dampener:
    id: str
    kind: str  # idiom: scales overlapping hits; media / joke: scales hits in the same sentence
    factor: float
    patterns: tuple[re.Pattern[str], ...]


@dataclass
class RuleHit:
    rule: Rule
    span: tuple[int, int]
    weight: float  # after dampening
    dampened_by: list[str] = field(default_factory=list)


@dataclass
class RuleResult:
    scores: dict[str, float]  # per category, noisy-OR of hit weights
    hits: list[RuleHit]
    dampeners: list[tuple[str, tuple[int, int]]]  # (dampener id, span) found in the text
    dampened_spans: list[tuple[int, int]]  # idiom spans plus sentences holding media/joke markers

    @property
    def top(self) -> float:
        return max(self.scores.values(), default=0.0)

    @property
    def strongest_hit(self) -> RuleHit | None:
        return max(self.hits, key=lambda h: h.weight, default=None)


class RuleBook:
    """Compiled rules and dampeners. Build with :func:`load_rulebook`."""

    def __init__(self, rules: list[Rule], dampeners: list[Dampener], strong_weight: float = 0.85) -> None:
        self.rules = rules
        self.dampeners = dampeners
        self.strong_weight = strong_weight

    def scan(self, folded: str) -> RuleResult:
        """Score ``folded`` text (already cleaned and folded)."""
        found_dampeners = [
            (d, m.span()) for d in self.dampeners for p in d.patterns for m in p.finditer(folded)
        ]
        sentences = sentence_spans(folded)
        dampened_spans: list[tuple[int, int]] = []
        for damp, span in found_dampeners:
            dampened_spans.append(span if damp.kind == "idiom" else _sentence_of(span, sentences))

        hits: list[RuleHit] = []
        for rule in self.rules:
            match = next((m for p in rule.patterns for m in [p.search(folded)] if m), None)
            if match is None:
                continue
            hit = RuleHit(rule, match.span(), rule.weight)
            if rule.weight < self.strong_weight:  # strong hits are never explained away
                sentence = _sentence_of(hit.span, sentences)
                for damp, span in found_dampeners:
                    near = _overlaps(span, hit.span) if damp.kind == "idiom" else _overlaps(span, sentence)
                    if near and damp.id not in hit.dampened_by:
                        hit.weight *= damp.factor
                        hit.dampened_by.append(damp.id)
            hits.append(hit)

        scores = {c: 0.0 for c in CATEGORIES}
        for category in CATEGORIES:
            remaining = 1.0
            for hit in hits:
                if hit.rule.category == category:
                    remaining *= 1.0 - hit.weight
            scores[category] = 1.0 - remaining
        return RuleResult(scores, hits, [(d.id, s) for d, s in found_dampeners], dampened_spans)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _sentence_of(span: tuple[int, int], sentences: list[tuple[int, int]]) -> tuple[int, int]:
    for start, end in sentences:
        if start <= span[0] <= end:
            return (start, end)
    return span


def _compile(patterns: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns:
        raise ValueError(f"{where}: 'patterns' must be a non-empty list of regular expressions")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
    return tuple(compiled)


def parse_rulebook(data: dict[str, Any], source: str = "rules") -> RuleBook:
    """Validate and compile the YAML structure; errors name the rule and the problem."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValueError(f"{source}: expected a mapping with a 'rules' list")
    rules = []
    for i, item in enumerate(data["rules"]):
        where = f"{source}: rule {item.get('id', i) if isinstance(item, dict) else i}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping")
        if item.get("category") not in CATEGORIES:
            raise ValueError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        weight = float(item.get("weight", 0.5))
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"{where}: weight must be in [0, 1]")
        rules.append(Rule(str(item.get("id", i)), item["category"], weight,
                          _compile(item.get("patterns"), where), item.get("lang")))
    dampeners = []
    for i, item in enumerate(data.get("dampeners") or []):
        where = f"{source}: dampener {item.get('id', i) if isinstance(item, dict) else i}"
        if not isinstance(item, dict) or item.get("kind") not in _DAMPENER_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(_DAMPENER_KINDS)}")
        dampeners.append(Dampener(str(item.get("id", i)), item["kind"], float(item.get("factor", 0.3)),
                                  _compile(item.get("patterns"), where)))
    return RuleBook(rules, dampeners, float(data.get("strong_weight", 0.85)))


@lru_cache(maxsize=8)
def _load_cached(path: str | None) -> RuleBook:
    if path is None:
        text = resources.files("escgraph.agents.safety").joinpath("rules.yaml").read_text(encoding="utf-8")
        return parse_rulebook(yaml.safe_load(text), "rules.yaml")
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read safety rules {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"safety rules {path} is not valid YAML: {exc}") from None
    return parse_rulebook(data, path)


def load_rulebook(path: str | Path | None = None) -> RuleBook:
    """The packaged rule book, or one from ``path``; compiled once per path per process."""
    return _load_cached(None if path is None else str(path))
