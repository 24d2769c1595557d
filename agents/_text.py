"""Cleaning model replies: small models prefix roles, wrap in quotes, run on and loop."""

from __future__ import annotations

import re

__all__ = ["clean_reply", "is_degenerate", "sentences"]

_ROLE_PREFIX = re.compile(
    r"^\s*(?:\*\*)?(?:supporter|counselor|counsellor|therapist|assistant|seeker|user|you|me|response|reply)"
    r"(?:\*\*)?\s*:\s*",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"')\]]*|$)")
_WORD = re.compile(r"[A-Za-z']+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _norm(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def clean_reply(text: str, *, max_sentences: int = 3, max_chars: int = 600) -> str:
    """Strip role prefixes and quotes, keep the first paragraph, drop repeated sentences, cap the length."""
    text = text.replace("\r", "")
    # keep what the model said before it started writing the other side of the dialogue
    text = re.split(r"\n\s*(?:seeker|user|supporter|counselor|assistant)\s*:", text, flags=re.IGNORECASE)[0]
    text = _ROLE_PREFIX.sub("", text.strip())
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    text = " ".join(paragraphs[:2])
    text = text.strip().strip('"“”').strip()
    kept: list[str] = []
    seen: set[str] = set()
    for sentence in sentences(text):
        key = _norm(sentence)
        if not key or key in seen:
            continue  # a repeated sentence is the 135M model looping
        seen.add(key)
        kept.append(sentence)
        if len(kept) >= max_sentences:
            break
    out = " ".join(kept)
    if len(out) > max_chars:
        out = out[:max_chars].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out.strip()


def is_degenerate(text: str, *, min_words: int = 3) -> bool:
    """True for empty or near-empty replies and for replies dominated by one repeated phrase."""
    words = _WORD.findall(text.lower())
    if len(words) < min_words:
        return True
    if len(words) >= 12:
        trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
        if len(set(trigrams)) / len(trigrams) < 0.5:
            return True
    return False
