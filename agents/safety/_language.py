"""A small, dependency-free language guess: writing system first, then common function words for Latin script.

Good enough to pick a reply template and to know when the English-only embedding signal should count less;
it returns ``None`` rather than guess on very short or mixed text.
"""

from __future__ import annotations

import re

__all__ = ["guess_language"]

_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana => Japanese even when kanji are present
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
)

# Frequent words that are (mostly) specific to one language. Accents are folded away before lookup.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("i the and you my me is it to of that this was have not what with just im dont feel".split()),
    "es": frozenset("yo el la los las que de y mi me no es una por para con pero muy estoy tengo quiero mas ya".split()),
    "fr": frozenset("je le la les et de des un une mon ma mes ne pas est suis j ai c qu plus tres avec pour".split()),
    "de": frozenset("ich und die der das nicht mein meine mich mir ist bin ein eine zu es mehr sehr auch".split()),
    "pt": frozenset("eu o os as que de e meu minha me nao um uma com para mais estou tenho quero voce isso".split()),
    "it": frozenset("io il lo la gli le che di e mio mia mi non un una sono ho con per piu voglio questo".split()),
    "nl": frozenset("ik de het een en van niet mijn is dat ben heb wil".split()),
    "hinglish": frozenset("main mein hai hoon nahi nahin mujhe mera meri kya ho raha rahi chahta chahti".split()),
}
_WORD = re.compile(r"[a-z]+")


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def guess_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (``"en"``, ``"es"``, ``"ja"``, ...), or ``None`` when unsure.

    Romanised Hindi ("Hinglish") is reported as ``"hi"``.
    """
    if not text or not text.strip():
        return None
    sample = text[:2000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    for language, script in _SCRIPTS:
        if len(script.findall(sample)) / letters > 0.2:
            return language
    words = _WORD.findall(_fold(sample))
    if not words:
        return None
    scores = {lang: sum(w in vocab for w in words) for lang, vocab in _FUNCTION_WORDS.items()}
    best = max(scores, key=scores.__getitem__)
    if scores[best] == 0:
        return None
    runner_up = max(v for k, v in scores.items() if k != best)
    if scores[best] == runner_up:
        # Tie: English wins it (the most frequent language of chat text), else stay unsure.
        return "en" if best == "en" or scores["en"] == scores[best] else None
    return "hi" if best == "hinglish" else best
