"""Text clean-up shared by the rules and the embedding signal.

Messages arrive from anywhere: non-strings, bytes, control characters, replacement characters, megabyte pastes.
Everything here is total (never raises) and bounded in time.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["clean_text", "fold_for_rules", "sentence_spans", "clause_spans", "chunks_for_embedding",
           "MAX_SCAN_CHARS"]

# Rules scan at most this many characters from the head and from the tail of a message; a real message is far
# shorter, and the cap keeps a 1 MB paste from costing seconds of regex time.
MAX_SCAN_CHARS = 20_000

# Invisible characters that evaders put *inside* words ("k\u200bill"): zero-width spaces and joiners, bidi marks,
# embeddings, overrides and isolates, word joiner, invisible operators, soft hyphen, BOM, Mongolian vowel
# separator, Hangul fillers, tag characters. They are removed, so the word stays whole.
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0e\ufeff\uffa0\U000e0000-\U000e007f]")
# Other control characters separate words: they become spaces.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'", "\u201c": '"', "\u201d": '"'})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]")
_WIDE_GAPS = re.compile(r" {3,}")
_SENTENCE_END = re.compile(r"[.!?;\u3002\uff01\uff1f\u061f\u0964\n]+")


def clean_text(text: Any) -> str:
    """Any input as a tidy ``str``: bytes decoded leniently, invisible characters removed (joining the word they
    sat in), other control characters turned into spaces, fullwidth forms folded (NFKC), quotes unified, runs of
    spaces shortened to at most two (two spaces separate words in "k i l l  m y s e l f")."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    if len(text) > 2 * MAX_SCAN_CHARS:
        # Keep head and tail: a crisis sentence in a long paste is usually near one end.
        text = text[:MAX_SCAN_CHARS] + "\n" + text[-MAX_SCAN_CHARS:]
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\ufffd", " ")
    text = _CONTROL.sub(" ", text)
    text = text.translate(_APOSTROPHES)
    text = _WIDE_GAPS.sub("  ", _SPACES.sub(" ", text))  # a double space survives: it separates spaced-out words
    return text.strip()


def _is_latin_base(ch: str) -> bool:
    return ch.isascii() or "\u00c0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff"


def fold_for_rules(text: str) -> str:
    """Lower-case and strip accents from Latin letters only ("está" -> "esta"), so rules match unaccented typing.

    Combining marks after non-Latin letters (Devanagari vowel signs, Japanese dakuten) are kept: they change
    the letter. The result has the same length as ``text`` only in the common case; callers match on it directly.
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    out: list[str] = []
    previous_base = ""
    for ch in decomposed:
        if unicodedata.combining(ch):
            if _is_latin_base(previous_base):
                continue
        else:
            previous_base = ch
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).replace("ß", "ss")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence-like piece of ``text`` (split on . ! ? ; newlines and CJK/Devanagari stops)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


# Where a clause ends inside a sentence: a comma or dash followed by a conjunction, or a conjunction that starts
# a new thought ("..., and since then I ...", "... but now I ..."). Dampeners (media, professional, joke) reach
# only the clause they are in, so "I read a novel last week, and since then I want to die" is not explained away.
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[,:\u2013\u2014]|\s-\s)\s*(?=(?:and|but|so|yet|because|though|although|except|now|since|then|which|"
    r"while|whereas|and\s+now|and\s+since|and\s+then|and\s+i|and\s+i'\w+|and\s+we)\b)"
    r"|\s+(?=(?:but|because|although|though|except\s+that|whereas)\b)"
    r"|\s+(?=and\s+(?:now|since|then|today|tonight|yet|still|i|i'm|i've|i'll|im|ive|we|my)\b)",
    re.IGNORECASE)


def clause_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each clause: sentences, further split before "but", ", and", "and now", "and I" ..."""
    spans: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        cut = start
        for match in _CLAUSE_BREAK.finditer(text, start, end):
            if match.start() > cut:
                spans.append((cut, match.start()))
            cut = match.end()
        if cut < end:
            spans.append((cut, end))
    return spans or [(0, len(text))]


def chunks_for_embedding(text: str, *, short: int = 400, window: int = 300, max_chunks: int = 24) -> list[str]:
    """Pieces of ``text`` to embed: the whole text when short, else groups of sentences of about ``window`` chars.

    MiniLM reads only ~256 word pieces, so a long message is embedded piece by piece and the riskiest piece counts.
    Very long texts keep their first and last pieces (``max_chunks`` in total).
    """
    if len(text) <= short:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for start, end in sentence_spans(text):
        sentence = text[start:end].strip()
        if not sentence:
            continue
        while len(sentence) > window:  # one giant "sentence" (no punctuation): hard-wrap it
            pieces.append(sentence[:window])
            sentence = sentence[window:]
        if current and len(current) + len(sentence) + 2 > window:
            pieces.append(current)
            current = ""
        current = f"{current}. {sentence}" if current else sentence
    if current:
        pieces.append(current)
    if len(pieces) > max_chunks:
        half = max_chunks // 2
        pieces = pieces[:half] + pieces[-(max_chunks - half):]
    return pieces
