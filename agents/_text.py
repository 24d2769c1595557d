"""Cleaning model replies: small models prefix roles, wrap in quotes, run on and loop."""

from __future__ import annotations

import re

__all__ = ["clean_reply", "clean_rationale", "is_degenerate", "sentences"]

_ROLE_PREFIX = re.compile(
    r"^\s*(?:\*\*)?(?:supporter|counselor|counsellor|therapist|assistant|seeker|user|you|me|response|reply)"
    r"(?:\*\*)?\s*:\s*",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?…]+(?:[.!?…]+[\"')\]]*|$)")
_WORD = re.compile(r"[A-Za-z']+")
# Small models often step out of the role to comment on their own reply; everything from there on is dropped.
_META = re.compile(
    r"^\W*(?:this|that|the above|my|here is|here's|in this)\s+(?:\w+\s+){0,3}?"
    r"(?:response|reply|answer|example|message|strategy)\b|^\W*(?:note|explanation|strategy|rationale)\s*:"
    r"|\bas an ai\b|\blanguage model\b",
    re.IGNORECASE,
)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _norm(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def clean_reply(text: str, *, max_sentences: int = 3, max_chars: int = 600) -> str:
    """Strip role prefixes and quotes, keep the first paragraph, drop repeated sentences, cap the length."""
    text = text.replace("\r", "")
    # keep what the model said before it started writing the other side of the dialogue
    text = re.split(r"\n\s*(?:seeker|user|supporter|counselor|assistant)\s*:", text, flags=re.IGNORECASE)[0]
    for _ in range(2):  # quotes and role prefixes come nested either way round
        text = _ROLE_PREFIX.sub("", text.strip().strip('"“”').strip())
    paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
    text = " ".join(paragraphs[:2])
    text = text.strip().strip('"“”').strip()
    kept: list[str] = []
    seen: set[str] = set()
    for sentence in sentences(text):
        if _META.search(sentence):
            break
        sentence = sentence.strip().strip('"“”').strip()
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


def clean_rationale(text: str, *, max_chars: int = 200) -> str:
    """First meaningful line of a model-written rationale, or '' when it is not made of words."""
    for line in text.replace("\r", "").split("\n"):
        line = line.strip().strip("{}[]\"'`#*:- ").strip()
        if len(_WORD.findall(line)) >= 3:
            return line[:max_chars]
    return ""
