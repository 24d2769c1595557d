"""Reading user data files (profiles, skills, ESConv, HEAL) with bounds: one clear error, never a traceback.

Every parser of a file a person hands escgraph goes through here, so the limits are the same everywhere:

- size: a file larger than the caller's ``max_bytes`` is refused before it is read (:data:`MAX_PROFILE_BYTES`,
  :data:`MAX_SKILLS_BYTES`, :data:`MAX_DATASET_BYTES`);
- encoding: UTF-8 (a leading byte-order mark is dropped); otherwise the error names the line and byte offset;
- nesting: at most :data:`MAX_DEPTH` levels of lists and mappings, checked before the parser recurses (deep input
  used to end in ``RecursionError``);
- YAML: anchors and aliases (``&name`` / ``*name``, and ``<<: *name`` merges) are refused — an alias bomb of a few
  hundred bytes expands to gigabytes — and so is more than one document;
- JSON: strict (no trailing commas, no ``NaN`` / ``Infinity``, no number that overflows to infinity);
- text: no lone surrogates (``"\\ud800"``), which could not be written back out as UTF-8.

Errors are :class:`DataFileError` (a ``ValueError``) with one line of text, ``<file>: <problem>``, and, where the
parser knows it, the line and column (1-based): ``<file>: not valid JSON at line 3, column 7: Expecting value``.
Callers re-raise it as their own error type (``ProfileError``, ``SkillFileError``, ``ESConvError``,
``KnowledgeGraphError``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DataFileError", "MAX_DEPTH", "MAX_PROFILE_BYTES", "MAX_SKILLS_BYTES", "MAX_DATASET_BYTES",
           "read_text", "decode_utf8", "parse_json", "parse_yaml", "parse_by_suffix", "one_line"]

MAX_DEPTH = 64
MAX_PROFILE_BYTES = 16 * 1024 * 1024
MAX_SKILLS_BYTES = 16 * 1024 * 1024
MAX_DATASET_BYTES = 256 * 1024 * 1024

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: no Python recursion to parse
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A JSON string (an unterminated one runs to the end, so the scan stays linear) or a bracket.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\[\s\S])*+(?:"|\Z)|[\[\]{}]')


class DataFileError(ValueError):
    """A data file cannot be used; ``str()`` is one line naming the file, where (if known) and the problem."""

    def __init__(self, where: str, problem: str, line: int | None = None, column: int | None = None) -> None:
        self.where, self.problem, self.line, self.column = str(where), one_line(problem), line, column
        super().__init__(f"{self.where}: {self.problem}")


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def _at(line: int | None, column: int | None) -> str:
    if line is None:
        return ""
    return f" at line {line}" + (f", column {column}" if column is not None else "")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def read_text(path: str | Path, *, max_bytes: int) -> str:
    """The file's text: at most ``max_bytes`` bytes of UTF-8. ``OSError`` (missing file, no permission) passes
    through for the caller to word; a file that is too large or not UTF-8 is a :class:`DataFileError`."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)  # read no more than the limit, even from a pipe or a device
    if len(data) > max_bytes:
        raise DataFileError(str(path), f"file is larger than the {_size_text(max_bytes)} limit for this input")
    return decode_utf8(data, str(path))


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a leading byte-order mark dropped), or an error naming the line and byte offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFileError(where, f"not valid UTF-8 at line {line} (byte 0x{data[exc.start]:02x} at offset "
                                   f"{exc.start}); save the file as UTF-8", line) from None
    return text[1:] if text.startswith("\ufeff") else text


# -- JSON ---------------------------------------------------------------------------------------------------------
class _BadNumber(ValueError):
    def __init__(self, literal: str, problem: str) -> None:
        super().__init__(problem)
        self.literal = literal


def _json_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _BadNumber(literal, f"number {literal[:40]} is out of range")
    return value


def _json_int(literal: str) -> int:
    try:
        return int(literal)
    except ValueError:  # longer than Python's int-conversion limit (4,300 digits)
        raise _BadNumber(literal, f"integer of {len(literal):,} digits is too long") from None


def _json_constant(literal: str) -> Any:
    raise _BadNumber(literal, f"{literal} is not allowed (JSON has no NaN or Infinity)")


def _check_json_depth(text: str, where: str, max_depth: int) -> None:
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                line, column = _line_col(text, match.start())
                raise DataFileError(where, f"nested deeper than {max_depth} levels{_at(line, column)}", line, column)
        elif char in "]}":
            depth -= 1


def parse_json(text: str, where: str, *, max_depth: int = MAX_DEPTH, kind: str = "JSON") -> Any:
    """Strict JSON with bounded nesting; errors name ``where``, the line and the column."""
    _check_json_depth(text, where, max_depth)
    try:
        value = json.loads(text, parse_float=_json_float, parse_int=_json_int, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(where, f"not valid {kind}{_at(exc.lineno, exc.colno)}: {exc.msg}", exc.lineno,
                            exc.colno) from None
    except _BadNumber as exc:
        line, column = _line_col(text, text.find(exc.literal)) if exc.literal in text else (None, None)
        raise DataFileError(where, f"not valid {kind}{_at(line, column)}: {exc}", line, column) from None
    except RecursionError:  # only if max_depth is set above what the interpreter's stack allows
        raise DataFileError(where, f"not valid {kind}: nested too deeply") from None
    _check_values(value, where)
    return value


# -- YAML ---------------------------------------------------------------------------------------------------------
class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, with constructor failures (a bad date, an over-long integer) reported at their node."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise IndexError, ValueError, ... on odd input
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {node.tag.rsplit(':', 1)[-1]} "
                                                    f"value ({exc or type(exc).__name__})", node.start_mark) from None


def _yaml_error(exc: yaml.YAMLError, text: str, where: str, max_depth: int) -> DataFileError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is not None and "maximum nesting depth" in str(problem):  # libyaml's own stop, which can come first
        line, column = mark.line + 1, mark.column + 1
        return DataFileError(where, f"nested deeper than {max_depth} levels{_at(line, column)}", line, column)
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _line_col(text, exc.position)
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        problem = f"character U+{code:04X} is not allowed" if isinstance(code, int) else one_line(exc.reason)
    elif mark is not None:
        line, column = mark.line + 1, mark.column + 1
    else:
        line = column = None
    problem = one_line(problem or str(exc) or type(exc).__name__)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and (context_mark.line + 1, context_mark.column + 1) != (line, column):
        problem += f" ({one_line(context)} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        problem += f" ({one_line(context)})"
    return DataFileError(where, f"not valid YAML{_at(line, column)}: {problem}", line, column)


def _check_yaml_events(text: str, where: str, max_depth: int) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line, column = mark.line + 1, mark.column + 1
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise DataFileError(where, f"YAML anchors and aliases are not accepted in data files"
                                       f"{_at(line, column)}: found {sign}{event.anchor}; write the value out in "
                                       f"full", line, column)
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                line, column = mark.line + 1, mark.column + 1
                raise DataFileError(where, f"nested deeper than {max_depth} levels{_at(line, column)}", line,
                                    column)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def parse_yaml(text: str, where: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """One YAML document with the safe loader, bounded nesting and no anchors or aliases; an empty text is None."""
    if _SURROGATE.search(text):
        raise DataFileError(where, "not valid text: it holds a lone surrogate code point")
    try:
        _check_yaml_events(text, where, max_depth)  # scanner and parser errors surface here, with their marks
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, where, max_depth) from None
    except RecursionError:
        raise DataFileError(where, "not valid YAML: nested too deeply") from None
    _check_values(value, where)
    return value


def _check_values(value: Any, where: str) -> None:
    """No lone surrogates in any string and no infinite or NaN float (YAML's ``.inf`` / ``.nan``, overflow)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise DataFileError(where, f"text {item[:40]!r} holds a lone surrogate (an escape such as "
                                           f"\\ud800 that is not a character)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DataFileError(where, f"number {item} is not allowed (it must be finite)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)


def parse_by_suffix(text: str, path: str | Path, *, max_depth: int = MAX_DEPTH) -> Any:
    """``.json`` files as strict JSON; anything else (``.yaml``, ``.yml``, ...) as YAML."""
    if Path(path).suffix.lower() == ".json":
        return parse_json(text, str(path), max_depth=max_depth)
    return parse_yaml(text, str(path), max_depth=max_depth)
