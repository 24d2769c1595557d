"""The screen for skill text written by the evolution loop or skill discovery.

It rejects counselling harms (blaming, minimising, diagnosing, unsafe advice, conflicts with the safety gate) and
anything that must never reach the supporter's system prompt: instructions to the model (prompt injection, role
changes, requests for the prompt, jailbreak phrasings, chat markup), links, e-mail addresses, phone numbers that
are not crisis resources (``agents/safety/resources.yaml``), quantities of drugs or alcohol, long spans copied
from what seekers said in the traces, invisible characters and look-alike letters from other scripts. Rules are
data (``quality_rules.yaml``); a proposal with a hit is rejected before it is ever simulated.

Text is folded before matching (Unicode compatibility forms, invisible characters removed, homoglyphs mapped,
accents dropped, digits inside words read as letters, markdown emphasis removed, spaced-out letters joined), so
casing, zero-width characters, homoglyphs and markdown do not hide a phrase. A caution excuses a match only for
rules that allow it and only when it directly governs the match (see ``lifts`` in the rules file).

Why one module: every check (rules, phone numbers, copied spans, Unicode tricks) reads the same compiled rules and
folded text, and a rule is tuned by reading its check next to the folding that feeds it.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ScreenHit", "QuoteIndex", "screen_text", "fold_text", "readability_problem", "allowed_phone_numbers",
           "SCREENED_FIELDS", "READABLE_FIELDS"]

# Every text field of a skill. All are screened: guidance, conditions and examples reach the supporter's prompt,
# and risks / when-not-to-use are read there too (as things to avoid), so an instruction hidden in them is as
# dangerous as one in the guidance. Harms *named* in risks and when-not-to-use are excused by the ``harm`` lift.
SCREENED_FIELDS: tuple[str, ...] = (
    "name", "summary", "guidance", "expected_outcomes", "risks", "examples", "applicability.when_to_use",
    "applicability.when_not_to_use", "applicability.situations", "applicability.emotions", "provenance.sources",
)
# Fields that must also read as a phrase (situations and emotions are single words; sources are citations).
READABLE_FIELDS: tuple[str, ...] = (
    "name", "summary", "guidance", "expected_outcomes", "risks", "examples", "applicability.when_to_use",
    "applicability.when_not_to_use",
)


@dataclass(frozen=True)
class ScreenHit:
    category: str
    why: str
    field: str
    text: str
    match: str

    def reason(self) -> str:
        return f"{self.why} ({self.category}): {self.field} says \"{self.text}\""


# -- rules ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Lift:
    name: str
    pattern: re.Pattern[str] | None  # the lifting words; None: the whole field lifts (``fields``)
    window: int
    fields: tuple[str, ...]  # empty: any field
    blocked_by: re.Pattern[str] | None


@dataclass(frozen=True)
class _Category:
    name: str
    why: str
    patterns: tuple[re.Pattern[str], ...]
    squashed: tuple[str, ...]
    lifts: tuple[str, ...]
    texts: tuple[str, ...]  # "folded" and/or "plain"
    check: str | None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Rules:
    categories: tuple[_Category, ...]
    lifts: dict[str, _Lift]
    turned: re.Pattern[str]  # a caution turned around by a neutraliser: "do not hesitate to", "never forget to"
    double_negation: re.Pattern[str]
    homoglyphs: dict[int, str]
    contact: re.Pattern[str]


def _words(items: Iterable[str]) -> str:
    """An alternation of literal words / phrases (longest first), curly apostrophes folded."""
    return "|".join(re.escape(w).replace("\\ ", r"\s+")
                    for w in sorted(set(items), key=len, reverse=True))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    data = yaml.safe_load(resources.files("escgraph.skills_bank.evolution").joinpath("quality_rules.yaml")
                          .read_text(encoding="utf-8"))
    lifts = {}
    for name, spec in data["lifts"].items():
        words = spec.get("words")
        if words and name == "reported":  # regular expressions
            pattern = _compile(rf"\b(?:{'|'.join(words)})\b")
        elif words:
            pattern = _compile(rf"(?<![\w'])(?:{_words(words)})(?![\w'])")
        else:
            pattern = None
        blocked = spec.get("blocked_by")
        lifts[name] = _Lift(name, pattern, int(spec.get("window", 0)), tuple(spec.get("fields") or ()),
                            _compile(rf"\b(?:{blocked})\b") if blocked else None)
    categories = []
    for name, spec in data["categories"].items():
        texts = spec.get("text", "folded")
        texts = (texts,) if isinstance(texts, str) else tuple(texts)
        unknown = set(spec.get("lift") or ()) - lifts.keys()
        if unknown:
            raise ValueError(f"quality_rules.yaml: category {name!r} names unknown lifts {sorted(unknown)}")
        options = {k: v for k, v in spec.items()
                   if k not in ("why", "patterns", "squashed", "lift", "text", "check")}
        categories.append(_Category(name, spec["why"], tuple(_compile(p) for p in spec.get("patterns") or ()),
                                    tuple(spec.get("squashed") or ()), tuple(spec.get("lift") or ()), texts,
                                    spec.get("check"), options))
    contact = next((c.options.get("contact_words") for c in categories if c.check == "phone_numbers"), None)
    cautions = _words(data["lifts"]["caution"]["words"])
    turned = _compile(rf"(?<![\w'])(?:{cautions}|not|n't)\s+(?:[\w']+\s+){{0,2}}?(?:{data['neutralisers']})\b")
    return _Rules(tuple(categories), lifts, turned,
                  _compile(rf"(?:\b(?:{data['double_negation']})\b|n't\b)"),
                  {ord(k): v for k, v in (data.get("homoglyphs") or {}).items()},
                  _compile(rf"(?<![\w])(?:{contact})(?![\w])") if contact else _compile(r"(?!x)x"))


# -- folding --------------------------------------------------------------------------------------------------------

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "«": '"',
                         "»": '"', "‐": "-", "‑": "-", "‒": "-", "−": "-"})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_SPACED = re.compile(r"(?<![A-Za-z])(?:[A-Za-z][ .\-_/|]){3,}[A-Za-z](?![A-Za-z])")


def _visible(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs"))


@lru_cache(maxsize=4096)
def _variants(text: str) -> dict[str, str]:
    """``plain``: compatibility forms, no invisible characters, homoglyphs mapped, no accents, straight quotes;
    ``folded``: also digits inside words read as letters, markdown emphasis removed, spaced-out letters joined."""
    rules = _rules()
    plain = _visible(unicodedata.normalize("NFKC", str(text))).translate(rules.homoglyphs)
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", plain) if unicodedata.category(ch) != "Mn")
    plain = unicodedata.normalize("NFC", plain).translate(_QUOTES)
    plain = re.sub(r"[^\S\n]+", " ", plain).strip()

    def leet(m: re.Match[str]) -> str:
        token = m.group(0)
        letters = sum(ch.isalpha() for ch in token)
        digits = len(token) - letters
        return token.translate(_LEET) if digits and letters >= 2 and letters >= digits else token

    folded = _TOKEN.sub(leet, plain)
    folded = re.sub(r"[*_~`]+", "", folded)
    folded = _SPACED.sub(lambda m: re.sub(r"[ .\-_/|]", "", m.group(0)), folded)
    folded = re.sub(r"[^\S\n]+", " ", folded).strip()
    return {"plain": plain, "folded": folded}


def fold_text(text: str) -> str:
    """``text`` as the screen reads it (see the module docstring)."""
    return _variants(text)["folded"]


def _squash(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


# -- helpers --------------------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?;\n](?=\s|$)")
_CLAUSE_BREAK = re.compile(r"[.!?;:()\[\]—–\n]|\s-\s|\b(?:and|but|then|so|however|yet|although|though|whereas)\b",
                           re.IGNORECASE)
_SPEECH_VERB = re.compile(r"^\s*(?:tell|say|remind|explain|insist|point out|call|agree|ask|suggest|add|write|"
                          r"reply|respond|answer|confirm|state|mention)\b", re.IGNORECASE)
_WORD = re.compile(r"[\w']+")


def _sentence(text: str, start: int, end: int) -> str:
    left = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    right = _SENTENCE_END.search(text, end)
    sentence = text[left:right.end() if right else len(text)].strip()
    return sentence if len(sentence) <= 200 else sentence[:197] + "..."


def _clause(text: str, pos: int) -> tuple[int, int]:
    """Where the clause holding ``pos`` starts, and where the list item holding ``pos`` starts (``anchor``).

    A clause starts after the last hard break, or after a comma unless what follows the comma up to ``pos`` is a
    short list item ("weak, dramatic or overreacting"), which continues the clause from the item before it.
    """
    hard = max((m.end() for m in _CLAUSE_BREAK.finditer(text, 0, pos)), default=0)
    anchor = pos
    while True:
        comma = text.rfind(",", hard, anchor)
        if comma < 0:
            return hard, anchor
        item = text[comma + 1:anchor]
        if len(_WORD.findall(item)) <= 3 and not _SPEECH_VERB.match(item):
            anchor = comma  # a list item: keep looking left
            continue
        return comma + 1, anchor


def _field_key(field_name: str) -> tuple[str, str]:
    parts = re.sub(r"\[\d+\]", "", field_name).split(".")
    return parts[-1], ".".join(parts[-2:])


def _lifted(category: _Category, text: str, match: re.Match[str], field_name: str) -> bool:
    if not category.lifts:
        return False
    rules = _rules()
    last, last_two = _field_key(field_name)
    start, anchor = _clause(text, match.start())
    prefix = text[start:match.start()]
    turned = rules.turned.search(prefix) is not None  # "do not hesitate to ...", "never forget to ..."
    for name in category.lifts:
        lift = rules.lifts[name]
        if lift.fields and last not in lift.fields and last_two not in lift.fields:
            continue
        if lift.pattern is None:
            return True  # the whole field lifts (an example line spoken by the seeker)
        if turned:
            continue
        found = list(lift.pattern.finditer(prefix))
        if not found:
            continue
        nearest = found[-1]
        between = prefix[nearest.end():]
        if len(_WORD.findall(text[start + nearest.end():anchor])) > lift.window:
            continue
        if lift.blocked_by is not None and lift.blocked_by.search(between):
            continue
        before = _WORD.findall(prefix[:nearest.start()])[-2:]
        if any(rules.double_negation.fullmatch(w) or w.lower().endswith("n't") for w in before):
            continue  # "never avoid ...", "don't refrain from ..."
        return True
    return False


# -- phone numbers --------------------------------------------------------------------------------------------------

_RUN = re.compile(r"\+?\(?\d+\)?(?:[ .\-]{1,2}\(?\d+\)?)*")


def _resources_file() -> Path | None:
    """``agents/safety/resources.yaml`` found without importing the agents layer (read only)."""
    spec = importlib.util.find_spec("escgraph.agents")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "safety" / "resources.yaml"
        if path.is_file():
            return path
    path = Path(__file__).resolve().parents[2] / "agents" / "safety" / "resources.yaml"
    return path if path.is_file() else None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@lru_cache(maxsize=1)
def allowed_phone_numbers() -> frozenset[str]:
    """The digits of every number in the crisis resources (``agents/safety/resources.yaml``), plus the trailing
    7+ digits of long ones (so "800-799-7233" matches "1-800-799-7233")."""
    path = _resources_file()
    if path is None:
        return frozenset()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: set[str] = set()
    for key in ("locales", "international"):
        for text in _strings(data.get(key) or {}):
            for run in re.finditer(r"\d+(?:[ .\-]\d+)*", unicodedata.normalize("NFKC", text)):
                digits = re.sub(r"\D", "", run.group(0))
                found.add(digits)
                found.update(digits[-n:] for n in range(7, len(digits)))
    return frozenset(found)


def _run_allowed(run: str, allowed: frozenset[str]) -> bool:
    """Whether a run of digit groups is allowed numbers plus at most two stray digits ("988 24/7", "+1 800 ...").

    Reads the groups left to right, taking each either as (part of) an allowed number or as stray digits, and keeps
    the reading with the fewest stray digits: "5 5 5 0 1 9 9" has seven and is a phone number."""
    groups = [re.sub(r"\D", "", g) for g in re.split(r"[ .\-]+", run) if re.sub(r"\D", "", g)]
    best = [0] + [10 ** 6] * len(groups)  # fewest stray digits to read groups[:i]
    for i in range(len(groups)):
        if best[i] >= 10 ** 6:
            continue
        best[i + 1] = min(best[i + 1], best[i] + len(groups[i]))
        for j in range(i + 1, len(groups) + 1):
            if "".join(groups[i:j]) in allowed:
                best[j] = min(best[j], best[i])
    return best[-1] <= 2


def _phone_hits(category: _Category, text: str) -> list[tuple[int, int, str]]:
    allowed = allowed_phone_numbers()
    rules = _rules()
    min_digits = int(category.options.get("min_digits", 7))
    hits = []
    for run in _RUN.finditer(text):
        digits = re.sub(r"\D", "", run.group(0))
        if len(digits) < 3 or _run_allowed(run.group(0), allowed):
            continue
        if len(digits) >= min_digits:
            hits.append((run.start(), run.end(), run.group(0)))
            continue
        # a short number right after a contact word ("call 5555", "text 12345 to ...")
        lead = text[max(0, run.start() - 30):run.start()]
        contact = list(rules.contact.finditer(lead))
        if contact and not re.search(r"\d|[.!?;]", lead[contact[-1].end():]):
            hits.append((run.start(), run.end(), run.group(0)))
    for vanity in re.finditer(r"\b1?-?8\d\d-[A-Z]{4,}\b", text):
        hits.append((vanity.start(), vanity.end(), vanity.group(0)))
    return hits


# -- copied spans ---------------------------------------------------------------------------------------------------

def _word_list(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"\w+", fold_text(text).replace("'", ""))]


class QuoteIndex:
    """The n-grams of seeker utterances an edit was drafted from, to find long spans copied into skill text."""

    def __init__(self, quotes: Iterable[str] = (), n: int | None = None) -> None:
        self.n = n or int(next((c.options.get("min_words", 8) for c in _rules().categories
                                if c.check == "copied_span"), 8))
        self.grams: set[tuple[str, ...]] = set()
        for quote in quotes:
            words = _word_list(str(quote or ""))
            self.grams.update(tuple(words[i:i + self.n]) for i in range(len(words) - self.n + 1))

    def __bool__(self) -> bool:
        return bool(self.grams)

    def shared_span(self, text: str) -> str | None:
        """The longest run of words ``text`` shares with a quote (at least ``n`` words), or None."""
        words = _word_list(text)
        best: tuple[int, int] | None = None
        i = 0
        while i <= len(words) - self.n:
            if tuple(words[i:i + self.n]) in self.grams:
                j = i + 1
                while j <= len(words) - self.n and tuple(words[j:j + self.n]) in self.grams:
                    j += 1
                if best is None or (j - i) > (best[1] - best[0]):
                    best = (i, j)
                i = j
            else:
                i += 1
        return None if best is None else " ".join(words[best[0]:best[1] + self.n - 1])


# -- unicode tricks -------------------------------------------------------------------------------------------------

def _hidden(text: str) -> list[str]:
    return [f"U+{ord(ch):04X}" for ch in str(text)
            if ch not in "\n\t\r" and unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cs", "Zl", "Zp")]


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split()[0]
    except ValueError:
        return "UNKNOWN"


def _mixed_words(text: str) -> list[str]:
    out = []
    for word in re.findall(r"[^\W\d_]{2,}", _visible(unicodedata.normalize("NFKC", str(text)))):
        scripts = {_script(ch) for ch in word if ch.isalpha()}
        if "LATIN" in scripts and len(scripts) > 1:
            out.append(word)
    return out


# -- the screen -----------------------------------------------------------------------------------------------------

def _as_index(quotes: QuoteIndex | Sequence[str] | None) -> QuoteIndex | None:
    if quotes is None or isinstance(quotes, QuoteIndex):
        return quotes
    return QuoteIndex(quotes)


def screen_text(text: str, field: str = "text", *,
                quotes: QuoteIndex | Sequence[str] | None = None) -> list[ScreenHit]:
    """Hits of the rules in ``text`` (one per rule category and sentence).

    ``field`` names the skill field in the reasons and decides which lifts apply (``risks`` and
    ``when_not_to_use`` may name harms; ``examples[i].seeker`` is the seeker speaking). ``quotes``: the seeker
    utterances of the cited traces; a span of ``min_words`` or more words shared with one of them is a hit.
    """
    rules = _rules()
    variants = _variants(str(text))
    hits: list[ScreenHit] = []
    seen: set[tuple[str, str]] = set()

    def add(category: _Category, source: str, start: int, end: int, matched: str) -> None:
        sentence = _sentence(source, start, end) if source else matched
        if (category.name, sentence) in seen:
            return
        seen.add((category.name, sentence))
        hits.append(ScreenHit(category.name, category.why, field, sentence, matched))

    for category in rules.categories:
        if category.check == "phone_numbers":
            for start, end, matched in _phone_hits(category, variants["plain"]):
                add(category, variants["plain"], start, end, matched)
            continue
        if category.check == "copied_span":
            index = _as_index(quotes)
            span = index.shared_span(str(text)) if index else None
            if span:
                hits.append(ScreenHit(category.name, category.why, field, span, span))
            continue
        if category.check == "hidden_characters":
            if found := _hidden(text):
                hits.append(ScreenHit(category.name, category.why, field, variants["folded"][:200],
                                      ", ".join(dict.fromkeys(found))))
            continue
        if category.check == "mixed_script":
            for word in dict.fromkeys(_mixed_words(text)):
                hits.append(ScreenHit(category.name, category.why, field, variants["folded"][:200], word))
            continue
        matched_any = False
        for name in category.texts:
            source = variants[name]
            for pattern in category.patterns:
                for match in pattern.finditer(source):
                    matched_any = True
                    if not _lifted(category, source, match, field):
                        add(category, source, match.start(), match.end(), match.group(0))
        if category.squashed and not matched_any:
            squashed = _squash(variants["folded"])
            for key in category.squashed:
                if key in squashed:
                    add(category, "", 0, 0, key)
                    break
    return hits


_READ_WORD = re.compile(r"[A-Za-z\u00C0-\u024F'’-]{2,}")


def readability_problem(text: str) -> str | None:
    """Why ``text`` is not usable skill text (empty, a fragment, or mostly symbols), or None when it reads.

    Small models sometimes fill a field with markup or number soup; that is rejected before any simulation.
    """
    stripped = " ".join(str(text).split())
    if not stripped:
        return "is empty"
    words = _READ_WORD.findall(stripped)
    if len(words) < 2:
        return f"is not a phrase: \"{stripped[:60]}\""
    letters = sum(ch.isalpha() or ch.isspace() for ch in stripped)
    if letters / len(stripped) < 0.8:
        return f"is mostly symbols: \"{stripped[:60]}\""
    return None
