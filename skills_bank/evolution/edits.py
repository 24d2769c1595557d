"""Typed skill-bank edits proposed by the evolution loop, their validation, and how they apply.

An edit is one of: ``add`` a missing skill, ``amend`` fields of a skill (guidance, conditions, risks, ...),
``flag_unsafe`` or ``retire`` a skill. Every edit cites the episodes and counselor turns that justify it; the
citations must be turns the trace analysis actually found. Validation happens before anything is simulated:
unknown skills, unknown fields, invalid results and text that fails the screen (``screen.py``) in any field are
rejected with reasons. The screen also looks for long spans copied from what the seekers of the cited turns said:
the edit carries those lines (``quoted``, set by the analyst, never saved), and a caller holding the traces can
pass them itself (``known_refs`` as a mapping from cited turn to seeker lines, see ``cited_seeker_lines``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from escgraph.skills_bank.bankfiles import describe_validation_error
from escgraph.skills_bank._versions import Changes
from escgraph.skills_bank.evolution.screen import (
    READABLE_FIELDS,
    SCREENED_FIELDS,
    QuoteIndex,
    readability_problem,
    screen_text,
)
from escgraph.skills_bank.schema import Skill

__all__ = ["EditKind", "EvidenceRef", "FieldChange", "SkillEdit", "AMENDABLE_FIELDS", "validate_edit",
           "apply_edit", "apply_edits", "edits_to_changes", "cited_seeker_lines"]

EditKind = Literal["add", "amend", "flag_unsafe", "retire"]
AMENDABLE_FIELDS: tuple[str, ...] = (
    "name", "summary", "guidance", "expected_outcomes", "risks", "strategies", "examples",
    "applicability.when_to_use", "applicability.when_not_to_use", "applicability.stages",
    "applicability.situations", "applicability.emotions", "applicability.min_intensity",
    "applicability.max_intensity",
)


class EvidenceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episode_id: str
    turn: int = Field(ge=0, description="index of the counselor utterance in the episode")


class FieldChange(BaseModel):
    """Provenance down to the field: what one field held before and after an edit."""

    skill_id: str
    field: str
    before: Any = None
    after: Any = None


class SkillEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="", description="assigned by the loop, e.g. r1-p2")
    kind: EditKind
    skill_id: str
    rationale: str = Field(min_length=1, max_length=600)
    evidence: list[EvidenceRef] = Field(min_length=1)
    finding: str | None = None
    set: dict[str, Any] = Field(default_factory=dict, description="amend: field path -> new value")
    skill: Skill | None = Field(default=None, description="add: the new skill")
    author: str = "analyst"
    quoted: list[str] = Field(default_factory=list, exclude=True,
                              description="what the seekers of the cited turns said (trace data the edit was "
                                          "drafted from): the screen rejects long spans copied from it; not saved")

    def summary(self) -> str:
        if self.kind == "amend":
            return f"amend {self.skill_id} ({', '.join(sorted(self.set))})"
        return f"{self.kind.replace('_', ' ')} {self.skill_id}"


def _get(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def _field_texts(path: str, value: Any) -> Iterable[tuple[str, str]]:
    """(where, text) of every string in ``value``; example lines are named ``examples[i].seeker`` / ``.supporter``
    so the screen knows who speaks."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _field_texts(f"{path}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _field_texts(f"{path}[{i}]" if isinstance(item, Mapping) else path, item)
    elif isinstance(value, str):
        yield path, value


def _new_text(field: str, before: Any, after: Any) -> list[tuple[str, str]]:
    """The text an edit introduces into ``field`` (list items that were not there before, or the new value)."""
    if isinstance(after, list) and isinstance(before, list):
        old = {repr(x) for x in before}
        return [pair for i, item in enumerate(after) if repr(item) not in old
                for pair in _field_texts(f"{field}[{i}]" if isinstance(item, Mapping) else field, item)]
    return [] if after == before else list(_field_texts(field, after))


def cited_seeker_lines(analysis: Any) -> dict[tuple[str, int], list[str]]:
    """Every turn an edit may cite (as ``TraceAnalysis.refs()``), mapped to what the seeker said before and after
    it: pass it as ``known_refs`` to ``validate_edit`` so the copied-span check does not depend on the analyst."""
    lines: dict[tuple[str, int], list[str]] = {}
    for finding in analysis.findings:
        for unit in finding.units:
            lines.setdefault((unit.episode_id, unit.turn), []).extend(
                t for t in (unit.seeker_before, unit.seeker_after) if t)
    return lines


def apply_edit(skills: Mapping[str, Skill], edit: SkillEdit) -> tuple[dict[str, Skill], list[FieldChange]]:
    """The bank content after ``edit`` and the field changes it makes. Raises ``ValueError`` naming the problem."""
    result = dict(skills)
    episodes = sorted({ref.episode_id for ref in edit.evidence})
    if edit.kind == "add":
        if edit.skill is None:
            raise ValueError("an 'add' edit needs the new skill")
        if edit.skill.id != edit.skill_id:
            raise ValueError(f"the new skill's id {edit.skill.id!r} differs from skill_id {edit.skill_id!r}")
        if edit.skill_id in skills:
            raise ValueError(f"skill {edit.skill_id!r} already exists; amend it instead")
        data = edit.skill.model_dump(mode="json")
        data["provenance"]["episodes"] = sorted(set(data["provenance"]["episodes"]) | set(episodes))
        result[edit.skill_id] = Skill.model_validate(data)
        return result, [FieldChange(skill_id=edit.skill_id, field="(skill)", before=None, after=data)]
    if edit.skill_id not in skills:
        raise ValueError(f"unknown skill {edit.skill_id!r}")
    old = skills[edit.skill_id]
    if old.status != "active":
        raise ValueError(f"skill {edit.skill_id!r} is {old.status}, not active")
    data = old.model_dump(mode="json")
    changes: list[FieldChange] = []
    if edit.kind == "amend":
        if not edit.set:
            raise ValueError("an 'amend' edit must set at least one field")
        for path, value in sorted(edit.set.items()):
            if path not in AMENDABLE_FIELDS:
                raise ValueError(f"field {path!r} cannot be amended; amendable: {', '.join(AMENDABLE_FIELDS)}")
            before = _get(data, path)
            if before != value:
                changes.append(FieldChange(skill_id=edit.skill_id, field=path, before=before, after=value))
            _set(data, path, value)
        if not changes:
            raise ValueError(f"the amendment leaves {edit.skill_id!r} unchanged")
    else:
        status = "retired" if edit.kind == "retire" else "flagged-unsafe"
        changes.append(FieldChange(skill_id=edit.skill_id, field="status", before=data["status"], after=status))
        data["status"] = status
    data["provenance"]["episodes"] = sorted(set(data["provenance"]["episodes"]) | set(episodes))
    try:
        result[edit.skill_id] = Skill.model_validate(data)
    except ValidationError as exc:
        where, problem = describe_validation_error(exc)
        raise ValueError(f"the edited skill is invalid: {where}: {problem}") from None
    return result, changes


def _base_field(where: str) -> str:
    return re.sub(r"\[\d+\]", "", where).split(".seeker")[0].split(".supporter")[0]


def validate_edit(edit: SkillEdit, skills: Mapping[str, Skill],
                  known_refs: Collection[tuple[str, int]] | Mapping[tuple[str, int], Sequence[str]],
                  *, quotes: Sequence[str] = ()) -> list[str]:
    """Reasons to reject ``edit`` before testing it (empty: it may be simulated).

    ``known_refs``: the turns an edit may cite, or a mapping from them to the seeker lines around them. Every text
    field the edit writes is screened (all of a new skill's); spans copied from the seeker lines of the cited
    turns (the mapping's, ``edit.quoted`` and ``quotes``) are rejected too.
    """
    problems = []
    unknown = [f"{r.episode_id} turn {r.turn}" for r in edit.evidence if (r.episode_id, r.turn) not in known_refs]
    if unknown:
        problems.append(f"cites turns the trace analysis did not select: {', '.join(unknown)}")
    try:
        after, changes = apply_edit(skills, edit)
    except ValueError as exc:
        return problems + [str(exc)]
    quoted = [*edit.quoted, *quotes]
    if isinstance(known_refs, Mapping):
        quoted += [line for r in edit.evidence for line in known_refs.get((r.episode_id, r.turn)) or ()]
    index = QuoteIndex(quoted)
    for change in changes:
        field = change.field
        if field == "(skill)":
            new = after[edit.skill_id].model_dump(mode="json")
            texts = [("id", edit.skill_id.replace("-", " "))]
            texts += [pair for f in SCREENED_FIELDS for pair in _field_texts(f, _get(new, f))]
        elif field in AMENDABLE_FIELDS:
            texts = _new_text(field, change.before, change.after)
        else:
            texts = []
        for where, text in texts:
            if _base_field(where) in READABLE_FIELDS and (unreadable := readability_problem(text)):
                problems.append(f"{edit.skill_id}.{where} {unreadable}")
            problems.extend(hit.reason() for hit in screen_text(text, f"{edit.skill_id}.{where}", quotes=index))
    if edit.kind in ("retire", "flag_unsafe"):
        active = [s for s in after.values() if s.status == "active"]
        if not active:
            problems.append("it would leave the bank with no active skill")
    return problems


def apply_edits(skills: Mapping[str, Skill], edits: Iterable[SkillEdit]) -> tuple[dict[str, Skill],
                                                                                    list[FieldChange]]:
    content, changes = dict(skills), []
    for edit in edits:
        content, made = apply_edit(content, edit)
        changes.extend(made)
    return content, changes


def edits_to_changes(base: Mapping[str, Skill], content: Mapping[str, Skill]) -> Changes:
    """A bank change set turning ``base`` into ``content`` (skills added or edited are put, statuses follow)."""
    put = [content[sid] for sid in sorted(content)
           if sid not in base or base[sid].model_copy(update={"status": "active"})
           != content[sid].model_copy(update={"status": "active"})]
    put_ids = {s.id for s in put}
    retire = [sid for sid in sorted(content) if sid in base and sid not in put_ids
              and content[sid].status == "retired" and base[sid].status != "retired"]
    flag = [sid for sid in sorted(content) if sid in base and sid not in put_ids
            and content[sid].status == "flagged-unsafe" and base[sid].status != "flagged-unsafe"]
    return Changes(put=put, retire=retire, flag_unsafe=flag)
