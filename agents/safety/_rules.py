"""The rule signal: weighted regular expressions from ``rules.yaml``, with dampeners for harmless settings.

Rules match on folded text (see :func:`fold_for_rules`), in every *view* of a message (as written, deobfuscated,
decoded, emoji read as words; see ``_normalize.py``); a rule counts once, in the view where it scores best, and
the hit records that view. Each hit has a weight. Per category, hits combine by noisy-OR: ``1 - prod(1 - w)``,
so two moderate hits count for more than one.

A rule may also name patterns that must *all* be present somewhere in the same view (``requires``: "a gun" and
"I want it to stop"), patterns that cancel a match found in the same clause (``unless``: "bungee"), and patterns
that cancel the rule when found anywhere in the view (``excludes``: "talk soon" for a goodbye). Patterns may use
``{name}`` for a fragment of the rule book's ``lexicon``.

Dampeners scale hits down, each only near itself:

==============  =====================================================  ===========================================
kind            reach                                                  strong hits (weight >= strong_weight)
==============  =====================================================  ===========================================
idiom           hits whose span overlaps the idiom                     dampened
media           hits in the same clause (fiction, news, games)         only quoted, or in a clause with no "I/me/my"
professional    hits in the same clause (clinicians, teachers)         only in a clause with no "I/me/my"
joke            hits in the same clause ("lol", "jk")                  never
past            hits in the same sentence, only when the message also  dampened
                says it is resolved (``requires``) and nothing says
                it is back (``unless``)
==============  =====================================================  ===========================================

A clause is a sentence, split further before "but", ", and", "and now", "and I" ... (see :func:`clause_spans`),
so "I read a novel last week, and since then I want to die" is not explained away by the novel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from escgraph.agents.safety._text import clause_spans, sentence_spans

__all__ = ["Rule", "Dampener", "RuleHit", "RuleBook", "RuleResult", "load_rulebook", "parse_rulebook",
           "CATEGORIES", "DAMPENER_KINDS"]

CATEGORIES: tuple[str, ...] = ("suicide", "self_harm", "abuse", "violence", "acute_danger")
DAMPENER_KINDS = ("idiom", "media", "professional", "joke", "past")
_MAX_MATCHES = 8  # matches of one pattern looked at (the least dampened one counts)

# First person singular, in the languages the rules cover; a clause with one of these speaks about the writer.
_FIRST_PERSON = re.compile(
    r"\b(i|i'm|im|i've|ive|i'll|i'd|me|my|myself|mine|je|j'\w*|moi|mon|ma|mes|ich|mich|mir|mein\w*|yo|mi|mis|"
    r"eu|meu|minha|io|mio|mia)\b|(我|私|僕|俺|мне|меня|я\b|मैं|मुझे|أنا)")
# Quoted speech: "..." or '...' (an apostrophe inside a word, as in 'I'm', does not end the quote).
_QUOTES = re.compile(r"\"[^\"]{1,200}\"|(?<!\w)'(?:[^'\n]|(?<=\w)'(?=\w)){1,200}'(?!\w)")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]
    lang: str | None = None
    requires: tuple[re.Pattern[str], ...] = ()  # each must match somewhere in the same view
    unless: tuple[re.Pattern[str], ...] = ()  # any one in the hit's clause cancels the hit
    excludes: tuple[re.Pattern[str], ...] = ()  # any one anywhere in the view cancels the rule


@dataclass(frozen=True)
class Dampener:
    id: str
    kind: str  # see DAMPENER_KINDS and the module docstring
    factor: float
    patterns: tuple[re.Pattern[str], ...]
    requires: tuple[re.Pattern[str], ...] = ()  # past: something in the message must say it is resolved ...
    unless: tuple[re.Pattern[str], ...] = ()  # ... and nothing may say it is back


@dataclass
class RuleHit:
    rule: Rule
    span: tuple[int, int]
    weight: float  # after dampening
    dampened_by: list[str] = field(default_factory=list)
    view: str = "original"  # the text view the hit was found in
    matched: str = ""  # the matched text (folded, from that view)


@dataclass
class RuleResult:
    scores: dict[str, float]  # per category, noisy-OR of hit weights
    hits: list[RuleHit]
    dampeners: list[tuple[str, tuple[int, int]]]  # (dampener id, span) found in the text (any view)
    dampened_spans: list[tuple[int, int]]  # idiom spans plus clauses holding media/joke markers (original view)

    @property
    def top(self) -> float:
        return max(self.scores.values(), default=0.0)

    @property
    def strongest_hit(self) -> RuleHit | None:
        return max(self.hits, key=lambda h: h.weight, default=None)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _span_of(span: tuple[int, int], spans: list[tuple[int, int]]) -> tuple[int, int]:
    for start, end in spans:
        if start <= span[0] < end or start == span[0] == end:
            return (start, end)
    return span


class RuleBook:
    """Compiled rules and dampeners. Build with :func:`load_rulebook`."""

    def __init__(self, rules: list[Rule], dampeners: list[Dampener], strong_weight: float = 0.85) -> None:
        self.rules = rules
        self.dampeners = dampeners
        self.strong_weight = strong_weight

    # -- dampeners ---------------------------------------------------------------------------------------------
    def _active_dampeners(self, folded: str) -> list[tuple[Dampener, tuple[int, int]]]:
        found = []
        for damp in self.dampeners:
            spans = [m.span() for p in damp.patterns for m in p.finditer(folded)]
            if not spans:
                continue
            if damp.requires and not any(p.search(folded) for p in damp.requires):
                continue
            if damp.unless and any(p.search(folded) for p in damp.unless):
                continue
            found.extend((damp, span) for span in spans)
        return found

    def damping_factor(self, piece: str, whole: str | None = None) -> float:
        """Smallest factor of the dampeners present in ``piece`` (1.0 when none); for the embedding signal.

        ``requires`` / ``unless`` of a dampener are checked on ``whole`` (the full message) when given.
        """
        factors = []
        context = whole if whole is not None else piece
        for damp in self.dampeners:
            if not any(p.search(piece) for p in damp.patterns):
                continue
            if damp.requires and not any(p.search(context) for p in damp.requires):
                continue
            if damp.unless and any(p.search(context) for p in damp.unless):
                continue
            factors.append(damp.factor)
        return min(factors, default=1.0)

    def _dampen(self, hit: RuleHit, folded: str, found: list[tuple[Dampener, tuple[int, int]]],
                clauses: list[tuple[int, int]], sentences: list[tuple[int, int]]) -> None:
        strong = hit.rule.weight >= self.strong_weight
        clause = _span_of(hit.span, clauses)
        sentence = _span_of(hit.span, sentences)
        clause_text = folded[clause[0]:clause[1]]
        quoted = any(q.start() + clause[0] <= hit.span[0] and hit.span[1] <= q.end() + clause[0]
                     for q in _QUOTES.finditer(clause_text))
        personal = bool(_FIRST_PERSON.search(_QUOTES.sub(" ", clause_text)))
        for damp, span in found:
            if damp.id in hit.dampened_by:
                continue
            if damp.kind == "idiom":
                near, allowed = _overlaps(span, hit.span), True
            elif damp.kind == "past":
                near, allowed = _overlaps(span, sentence), True
            elif damp.kind == "joke":
                near, allowed = _overlaps(span, clause), not strong
            else:  # media, professional
                near = _overlaps(span, clause)
                allowed = not strong or quoted or not personal
            if near and allowed:
                hit.weight *= damp.factor
                hit.dampened_by.append(damp.id)

    # -- scanning ----------------------------------------------------------------------------------------------
    def scan(self, folded: str) -> RuleResult:
        """Score one ``folded`` text (already cleaned and folded)."""
        return self.scan_views([("original", folded)])

    def scan_views(self, views: list[tuple[str, str]]) -> RuleResult:
        """Score a message from its ``(view name, folded text)`` views; each rule counts once, at its best."""
        best: dict[str, RuleHit] = {}
        all_dampeners: list[tuple[str, tuple[int, int]]] = []
        dampened_spans: list[tuple[int, int]] = []
        for view, folded in views:
            found = self._active_dampeners(folded)
            clauses = clause_spans(folded)
            sentences = sentence_spans(folded)
            all_dampeners.extend((d.id, s) for d, s in found)
            if view == "original":
                for damp, span in found:
                    if damp.kind == "idiom":
                        dampened_spans.append(span)
                    else:
                        dampened_spans.append(_span_of(span, sentences if damp.kind == "past" else clauses))
            for rule in self.rules:
                hit = self._best_hit(rule, view, folded, found, clauses, sentences)
                if hit is not None and (rule.id not in best or hit.weight > best[rule.id].weight):
                    best[rule.id] = hit
        hits = list(best.values())
        scores = {c: 0.0 for c in CATEGORIES}
        for category in CATEGORIES:
            remaining = 1.0
            for hit in hits:
                if hit.rule.category == category:
                    remaining *= 1.0 - hit.weight
            scores[category] = 1.0 - remaining
        return RuleResult(scores, hits, all_dampeners, dampened_spans)

    def _best_hit(self, rule: Rule, view: str, folded: str, found: list[tuple[Dampener, tuple[int, int]]],
                  clauses: list[tuple[int, int]], sentences: list[tuple[int, int]]) -> RuleHit | None:
        if rule.requires and not all(p.search(folded) for p in rule.requires):
            return None
        if rule.excludes and any(p.search(folded) for p in rule.excludes):
            return None
        best: RuleHit | None = None
        for pattern in rule.patterns:
            for n, match in enumerate(pattern.finditer(folded)):
                if n >= _MAX_MATCHES:
                    break
                if rule.unless:
                    clause = _span_of(match.span(), clauses)
                    if any(p.search(folded, clause[0], clause[1]) for p in rule.unless):
                        continue
                hit = RuleHit(rule, match.span(), rule.weight, view=view, matched=match.group()[:80])
                self._dampen(hit, folded, found, clauses, sentences)
                if best is None or hit.weight > best.weight:
                    best = hit
                if not hit.dampened_by:
                    return best  # cannot do better than undampened
        return best


# -- loading -------------------------------------------------------------------------------------------------------

_LEXICON_REF = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _expand(pattern: str, lexicon: dict[str, str], where: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lexicon:
            raise ValueError(f"{where}: unknown lexicon entry {{{name}}} in {pattern!r}")
        return f"(?:{lexicon[name]})"

    for _ in range(4):  # lexicon entries may refer to each other, a few levels deep
        expanded = _LEXICON_REF.sub(sub, pattern)
        if expanded == pattern:
            break
        pattern = expanded
    return pattern


def _compile(patterns: Any, where: str, lexicon: dict[str, str], field_name: str = "patterns",
             required: bool = True) -> tuple[re.Pattern[str], ...]:
    if patterns is None and not required:
        return ()
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or (required and not patterns):
        raise ValueError(f"{where}: '{field_name}' must be a non-empty list of regular expressions")
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise ValueError(f"{where}: '{field_name}' entries must be strings, got {pattern!r}")
        try:
            compiled.append(re.compile(_expand(pattern, lexicon, where), re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
    return tuple(compiled)


def parse_rulebook(data: dict[str, Any], source: str = "rules") -> RuleBook:
    """Validate and compile the YAML structure; errors name the rule and the problem."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValueError(f"{source}: expected a mapping with a 'rules' list")
    lexicon_raw = data.get("lexicon") or {}
    if not isinstance(lexicon_raw, dict) or not all(isinstance(v, str) for v in lexicon_raw.values()):
        raise ValueError(f"{source}: 'lexicon' must map names to regular-expression fragments")
    lexicon = {str(k): v for k, v in lexicon_raw.items()}
    for name, fragment in lexicon.items():
        try:
            re.compile(_expand(fragment, lexicon, f"{source}: lexicon {name}"))
        except re.error as exc:
            raise ValueError(f"{source}: lexicon {name}: bad regular expression: {exc}") from None
    rules = []
    seen: set[str] = set()
    for i, item in enumerate(data["rules"]):
        where = f"{source}: rule {item.get('id', i) if isinstance(item, dict) else i}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping")
        if item.get("category") not in CATEGORIES:
            raise ValueError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
        weight = float(item.get("weight", 0.5))
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"{where}: weight must be in [0, 1]")
        rule_id = str(item.get("id", i))
        if rule_id in seen:
            raise ValueError(f"{where}: duplicate rule id")
        seen.add(rule_id)
        rules.append(Rule(rule_id, item["category"], weight, _compile(item.get("patterns"), where, lexicon),
                          item.get("lang"),
                          _compile(item.get("requires"), where, lexicon, "requires", required=False),
                          _compile(item.get("unless"), where, lexicon, "unless", required=False),
                          _compile(item.get("excludes"), where, lexicon, "excludes", required=False)))
    dampeners = []
    for i, item in enumerate(data.get("dampeners") or []):
        where = f"{source}: dampener {item.get('id', i) if isinstance(item, dict) else i}"
        if not isinstance(item, dict) or item.get("kind") not in DAMPENER_KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(DAMPENER_KINDS)}")
        factor = float(item.get("factor", 0.3))
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"{where}: factor must be in [0, 1]")
        dampeners.append(Dampener(str(item.get("id", i)), item["kind"], factor,
                                  _compile(item.get("patterns"), where, lexicon),
                                  _compile(item.get("requires"), where, lexicon, "requires", required=False),
                                  _compile(item.get("unless"), where, lexicon, "unless", required=False)))
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
