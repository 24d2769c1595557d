"""Checking a seeker message before it enters a graph: one clear error per problem, never a traceback."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

from escgraph.config import MAX_MESSAGE_CHARS

__all__ = ["InvalidMessageError", "clean_seeker_message", "decode_line", "read_lines", "message_from_line",
           "MAX_LINE_BYTES"]

# Longest input line read whole (16 KiB): room for a message of MAX_MESSAGE_CHARS characters of up to 4 UTF-8 bytes
# each, plus surrounding space. A longer line is skipped without holding it in memory.
MAX_LINE_BYTES = 16 * 1024

# C0/C1 control characters except tab and newline, plus DEL; they confuse tokenizers and terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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
    if _SURROGATE.search(text):  # e.g. a terminal in a non-UTF-8 locale: could not be stored or printed
        raise InvalidMessageError("message is not valid text (it holds a lone surrogate); send UTF-8 text")
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not text:
        raise InvalidMessageError("empty message: write what is on your mind")
    if len(text) > max_chars:
        raise InvalidMessageError(f"message too long: {len(text):,} characters (limit {max_chars:,}); "
                                  f"send a shorter message")
    return text


def read_lines(stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes without the line ending)`` for each line of ``stream``; ``None`` for a line longer than
    ``max_bytes``, whose rest is read and dropped in bounded pieces (never held in memory)."""
    line_no = 0
    while True:
        chunk = stream.readline(max_bytes + 1)
        if not chunk:
            return
        line_no += 1
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            while (rest := stream.readline(max_bytes + 1)) and not rest.endswith(b"\n"):
                pass
            yield line_no, None
            continue
        yield line_no, chunk.rstrip(b"\r\n")


def message_from_line(raw: bytes | None, line_no: int, *, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """One piped input line as a clean seeker message, or :class:`InvalidMessageError` naming the line."""
    if raw is None:
        raise InvalidMessageError(f"line {line_no}: message too long: over {MAX_LINE_BYTES:,} bytes (limit "
                                  f"{max_chars:,} characters); send a shorter message")
    try:
        return clean_seeker_message(decode_line(raw, line_no), max_chars=max_chars)
    except InvalidMessageError as exc:
        message = str(exc)
        raise InvalidMessageError(message if message.startswith("line ") else f"line {line_no}: {message}") \
            from None
