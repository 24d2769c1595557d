"""Quality-bar screen for skill text written by the evolution loop (blaming, minimising, diagnosing, unsafe
advice, conflicts with the safety gate). Rules are data (``quality_rules.yaml``); a proposal with a hit is
rejected before it is ever simulated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

__all__ = ["ScreenHit", "screen_text", "readability_problem", "SCREENED_FIELDS"]

# Fields whose text tells the counselor what to do. Risks and when-not-to-use are not screened: they exist to
# name harms ("minimising: saying it is not a big deal"), and the supporter reads them as things to avoid.
SCREENED_FIELDS: tuple[str, ...] = (
    "name", "summary", "guidance", "expected_outcomes", "applicability.when_to_use", "examples",
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


@dataclass(frozen=True)
class _Rules:
    categories: tuple[tuple[str, str, tuple[re.Pattern[str], ...]], ...]
    caution: re.Pattern[str]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    data = yaml.safe_load(resources.files("escgraph.skills_bank.evolution").joinpath("quality_rules.yaml")
                          .read_text(encoding="utf-8"))
    categories = tuple((name, spec["why"], tuple(re.compile(p, re.IGNORECASE) for p in spec["patterns"]))
                       for name, spec in data["categories"].items())
    words = "|".join(re.escape(w).replace("'", "['’]") for w in data["cautions"])
    return _Rules(categories, re.compile(rf"(?<![\w'’])({words})(?![\w'’])", re.IGNORECASE))


_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]?")


def screen_text(text: str, field: str = "text") -> list[ScreenHit]:
    """Hits of the quality rules in ``text``; a match preceded, within its sentence, by a caution is ignored."""
    rules = _rules()
    hits = []
    for sentence in _SENTENCE.findall(text.replace("’", "'")):
        for category, why, patterns in rules.categories:
            for pattern in patterns:
                match = pattern.search(sentence)
                if match is None:
                    continue
                before = sentence[:match.start()]
                if rules.caution.search(before):
                    continue  # "avoid telling them they are overreacting" is the rule, not the harm
                hits.append(ScreenHit(category, why, field, " ".join(sentence.split()), match.group(0)))
                break
    return hits


_WORD = re.compile(r"[A-Za-z\u00C0-\u024F'’-]{2,}")


def readability_problem(text: str) -> str | None:
    """Why ``text`` is not usable skill text (empty, a fragment, or mostly symbols), or None when it reads.

    Small models sometimes fill a field with markup or number soup; that is rejected before any simulation.
    """
    stripped = " ".join(str(text).split())
    if not stripped:
        return "is empty"
    words = _WORD.findall(stripped)
    if len(words) < 2:
        return f"is not a phrase: \"{stripped[:60]}\""
    letters = sum(ch.isalpha() or ch.isspace() for ch in stripped)
    if letters / len(stripped) < 0.8:
        return f"is mostly symbols: \"{stripped[:60]}\""
    return None
