"""Text clean-up shared by the rules and the embedding signal.

Messages arrive from anywhere: non-strings, bytes, control characters, replacement characters, megabyte pastes.
Everything here is total (never raises) and bounded in time.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["clean_text", "fold_for_rules", "sentence_spans", "chunks_for_embedding", "MAX_SCAN_CHARS"]

# Rules scan at most this many characters from the head and from the tail of a message; a real message is far
# shorter, and the cap keeps a 1 MB paste from costing seconds of regex time.
MAX_SCAN_CHARS = 20_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'", "\u201c": '"', "\u201d": '"'})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")
_SENTENCE_END = re.compile(r"[.!?;\u3002\uff01\uff1f\u061f\u0964\n]+")


def clean_text(text: Any) -> str:
    """Any input as a tidy ``str``: bytes decoded leniently, control characters dropped, quotes unified."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    if len(text) > 2 * MAX_SCAN_CHARS:
        # Keep head and tail: a crisis sentence in a long paste is usually near one end.
        text = text[:MAX_SCAN_CHARS] + "\n" + text[-MAX_SCAN_CHARS:]
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\ufffd", " ")
    text = _CONTROL.sub(" ", text)
    text = text.translate(_APOSTROPHES)
    text = _SPACES.sub(" ", text)
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
