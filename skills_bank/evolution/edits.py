"""Typed skill-bank edits proposed by the evolution loop, their validation, and how they apply.

An edit is one of: ``add`` a missing skill, ``amend`` fields of a skill (guidance, conditions, risks, ...),
``flag_unsafe`` or ``retire`` a skill. Every edit cites the episodes and counselor turns that justify it; the
citations must be turns the trace analysis actually found. Validation happens before anything is simulated:
unknown skills, unknown fields, invalid results and text that fails the quality screen are rejected with reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from escgraph.skills_bank._bankfiles import describe_validation_error
from escgraph.skills_bank._versions import Changes
from escgraph.skills_bank.evolution.screen import SCREENED_FIELDS, readability_problem, screen_text
from escgraph.skills_bank.schema import Skill

__all__ = ["EditKind", "EvidenceRef", "FieldChange", "SkillEdit", "AMENDABLE_FIELDS", "validate_edit",
           "apply_edit", "apply_edits", "edits_to_changes"]

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


def _new_text(field: str, before: Any, after: Any) -> list[str]:
    """The text an edit introduces into ``field`` (list items that were not there before, or the new value)."""
    if isinstance(after, list) and isinstance(before, list):
        old = {repr(x) for x in before}
        return [t for item in after if repr(item) not in old for t in _texts(item)]
    return [] if after == before else list(_texts(after))


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


def validate_edit(edit: SkillEdit, skills: Mapping[str, Skill], known_refs: set[tuple[str, int]]) -> list[str]:
    """Reasons to reject ``edit`` before testing it (empty: it may be simulated)."""
    problems = []
    unknown = [f"{r.episode_id} turn {r.turn}" for r in edit.evidence if (r.episode_id, r.turn) not in known_refs]
    if unknown:
        problems.append(f"cites turns the trace analysis did not select: {', '.join(unknown)}")
    try:
        after, changes = apply_edit(skills, edit)
    except ValueError as exc:
        return problems + [str(exc)]
    for change in changes:
        field = change.field
        if field == "(skill)":
            new = after[edit.skill_id].model_dump(mode="json")
            texts = [(f, t) for f in SCREENED_FIELDS for t in _texts(_get(new, f))]
            texts += [(f, t) for f in ("risks", "applicability.when_not_to_use") for t in _texts(_get(new, f))]
        elif field in SCREENED_FIELDS or field in ("risks", "applicability.when_not_to_use"):
            texts = [(field, t) for t in _new_text(field, change.before, change.after)]
        else:
            texts = []
        for where, text in texts:
            if unreadable := readability_problem(text):
                problems.append(f"{edit.skill_id}.{where} {unreadable}")
            elif where in SCREENED_FIELDS:
                problems.extend(hit.reason() for hit in screen_text(text, f"{edit.skill_id}.{where}"))
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
