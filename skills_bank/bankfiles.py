"""File formats of the skills bank: readable YAML, skill files and export files, the bank lock, content hashes,
errors (atomic writes are :func:`escgraph.files.atomic_write`).

Kept apart from :mod:`escgraph.skills_bank.store` so the store reads as the bank's rules, not as file handling;
public, because the CLI reads and writes the same formats.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from escgraph.datafiles import MAX_SKILLS_BYTES, DataFileError, one_line, parse_by_suffix, parse_yaml, read_text
from escgraph.skills_bank.schema import Skill

__all__ = ["SkillBankError", "SkillFileError", "UnknownVersionError", "UnknownSkillError", "dump_yaml", "load_yaml",
           "skill_text", "exclusive_lock", "content_hash", "describe_validation_error",
           "read_skill_file", "read_skill_path", "read_skills_export"]


class SkillBankError(ValueError):
    """A skills-bank problem the user can fix; the message names it in one line."""


class SkillFileError(SkillBankError):
    """A skill file (or one skill inside an import file) is not a valid skill; names the file and the field."""

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(one_line(f"{file}: {problem}"))
        self.file, self.field, self.problem = file, field, problem


class UnknownVersionError(SkillBankError, LookupError):
    """No such version in this bank."""


class UnknownSkillError(SkillBankError, LookupError):
    """No skill with that id in the version asked for."""

class _ReadableDumper(yaml.SafeDumper):
    """Block style, list items indented under their key, no anchors: files a person can edit and diff in git."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # multi-line text as a literal block; the emitter falls back to quoting when a block cannot hold it exactly
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_ReadableDumper.add_representer(str, _represent_str)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: long histories load fast


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


def skill_text(skill: Skill) -> str:
    """The working-copy rendering of one skill: every field, in the schema's order."""
    return dump_yaml(skill.model_dump(mode="json"))


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), across processes and threads. Not re-entrant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def content_hash(skills: Mapping[str, Skill]) -> str:
    """sha256 of a version's exact skill content; :func:`escgraph.skills_bank.bank_fingerprint` is its prefix."""
    canonical = json.dumps({k: skills[k].model_dump(mode="json") for k in sorted(skills)}, sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _location(loc: tuple[Any, ...], prefix: str) -> str:
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(whole skill)"


def describe_validation_error(exc: ValidationError, prefix: str = "") -> tuple[str, str]:
    """``(first field, one-line description of every problem)`` for a pydantic error on a skill."""
    fields, parts = [], []
    for err in exc.errors():
        where = _location(err["loc"], prefix)
        fields.append(where)
        if err["type"] == "missing":
            parts.append(f"missing field '{where}'")
        elif err["type"] == "extra_forbidden":
            parts.append(f"unknown field '{where}'")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool, type(None))) else ""
            parts.append(f"field '{where}': {err['msg']}{shown[:80]}")
    return (fields[0] if fields else ""), "; ".join(parts)


def read_skill_file(text: str, where: str, expected_id: str | None = None, prefix: str = "") -> Skill:
    """Parse and validate one skill (YAML text) or raise :class:`SkillFileError` naming ``where`` and the field.

    The text is a person's file: nesting, anchors and aliases are bounded as in :mod:`escgraph.datafiles`."""
    try:
        data = parse_yaml(text, where)
    except DataFileError as exc:
        raise SkillFileError(where, "", exc.problem) from None
    return validate_skill(data, where, expected_id, prefix)


def read_skill_path(path: Path, expected_id: str | None = None) -> Skill:
    """One skill file from disk (a working-copy file): size, UTF-8 and YAML checked, each error naming the file."""
    try:
        text = read_text(path, max_bytes=MAX_SKILLS_BYTES)
    except OSError as exc:
        raise SkillBankError(f"cannot read {path}: {exc.strerror or exc}") from None
    except DataFileError as exc:
        raise SkillFileError(str(path), "", exc.problem) from None
    return read_skill_file(text, str(path), expected_id)


def validate_skill(data: Any, where: str, expected_id: str | None = None, prefix: str = "") -> Skill:
    if not isinstance(data, dict):
        raise SkillFileError(where, prefix, f"{prefix or 'the file'} must be a mapping of skill fields, "
                                            f"not {type(data).__name__}")
    try:
        skill = Skill.model_validate(data)
    except ValidationError as exc:
        first, problem = describe_validation_error(exc, prefix)
        raise SkillFileError(where, first, problem) from None
    if expected_id is not None and skill.id != expected_id:
        raise SkillFileError(where, "id", f"field 'id' is {skill.id!r} but the file is named {expected_id}.yaml")
    return skill


def read_skills_export(path: Path) -> tuple[dict[str, Skill], str | None]:
    """Skills from an export (YAML/JSON), a bare list of skills, or one skill; plus ``"v3 of <hash>"`` if known."""
    try:
        doc = parse_by_suffix(read_text(path, max_bytes=MAX_SKILLS_BYTES), path)
    except OSError as exc:
        raise SkillBankError(f"cannot read {path}: {exc.strerror or exc}") from None
    except DataFileError as exc:
        raise SkillFileError(str(path), "", exc.problem) from None
    origin = None
    if isinstance(doc, dict) and "skills" in doc:
        meta = doc.get("version") if isinstance(doc.get("version"), dict) else {}
        if meta.get("id"):
            digest = str(meta.get("content_hash") or "")[:12]
            origin = one_line(meta["id"])[:40] + (f" of content {one_line(digest)}" if digest else "")
        doc = doc["skills"]
    elif isinstance(doc, dict):
        doc = [doc]  # a single skill
    if not isinstance(doc, list) or not doc:
        raise SkillFileError(str(path), "skills", "no skills found: expected an export, a list of skills or one "
                                                  "skill")
    skills: dict[str, Skill] = {}
    for i, data in enumerate(doc):
        sid = data.get("id") if isinstance(data, dict) else None
        shown = f" ({sid!r})" if isinstance(sid, str) and len(sid) <= 80 else (f" ({sid!r:.80}…)" if sid else "")
        skill = validate_skill(data, f"{path}: skill #{i + 1}" + shown, None)
        if skill.id in skills:
            raise SkillFileError(str(path), "id", f"skill id {skill.id!r} appears twice")
        skills[skill.id] = skill
    return skills, origin

