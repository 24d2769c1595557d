"""Checking a seeker message before it enters a graph: one clear error per problem, never a traceback."""

from __future__ import annotations

import re
import unicodedata

from escgraph.config import MAX_MESSAGE_CHARS

__all__ = ["InvalidMessageError", "clean_seeker_message", "decode_line"]

# C0/C1 control characters except tab and newline, plus DEL; they confuse tokenizers and terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class InvalidMessageError(ValueError):
    """A seeker message that cannot be used (the message says why)."""


def decode_line(raw: bytes, line_no: int | None = None) -> str:
    """Decode one line of input as UTF-8, naming the line and byte offset when it is not valid UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"line {line_no}: " if line_no is not None else ""
        raise InvalidMessageError(f"{where}input is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                                  f"{exc.start}); send UTF-8 text") from None


def clean_seeker_message(text: str, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Strip control characters and surrounding space; refuse empty and over-long messages."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not text:
        raise InvalidMessageError("empty message: write what is on your mind")
    if len(text) > max_chars:
        raise InvalidMessageError(f"message too long: {len(text):,} characters (limit {max_chars:,}); "
                                  f"send a shorter message")
    return text
