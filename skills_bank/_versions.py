"""Committed versions and change sets of the skills bank (the values :mod:`escgraph.skills_bank.store` deals in)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from escgraph.skills_bank.bankfiles import SkillBankError, UnknownSkillError
from escgraph.skills_bank.schema import Skill

__all__ = ["Version", "Changes", "summarize_changes"]


@dataclass(frozen=True)
class Version:
    """One committed version. Immutable: :meth:`skills` hands out copies."""

    id: str
    parent: str | None
    author: str
    kind: str
    message: str
    created: str
    content_hash: str
    changes: Mapping[str, list[str]]
    meta: Mapping[str, Any]
    _skills: Mapping[str, Skill] = field(repr=False)

    @property
    def number(self) -> int:
        return int(self.id[1:])

    @property
    def skill_ids(self) -> list[str]:
        return sorted(self._skills)

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._skills

    def same_skill(self, skill: Skill) -> bool:
        """Whether this version holds exactly ``skill`` (compared without copying)."""
        return self._skills.get(skill.id) == skill

    def skill(self, skill_id: str) -> Skill | None:
        found = self._skills.get(skill_id)
        return found.model_copy(deep=True) if found is not None else None

    def skills(self) -> dict[str, Skill]:
        return {k: self._skills[k].model_copy(deep=True) for k in sorted(self._skills)}

    def metadata(self) -> dict[str, Any]:
        return {"id": self.id, "parent": self.parent, "author": self.author, "kind": self.kind,
                "message": self.message, "created": self.created, "content_hash": self.content_hash,
                "changes": {k: list(v) for k, v in self.changes.items()}, "meta": dict(self.meta)}


@dataclass
class Changes:
    """What a commit does to the head: ``put`` adds or replaces skills (by id); the rest name existing ids."""

    put: list[Skill] = field(default_factory=list)
    retire: list[str] = field(default_factory=list)
    flag_unsafe: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)

    def apply(self, skills: Mapping[str, Skill]) -> dict[str, Skill]:
        if not (self.put or self.retire or self.flag_unsafe or self.remove):
            raise SkillBankError("empty change set: nothing to commit")
        put_ids = [s.id for s in self.put]
        if clash := sorted((set(put_ids) | set(self.retire) | set(self.flag_unsafe)) & set(self.remove)):
            raise SkillBankError(f"skills both changed and removed in one commit: {', '.join(clash)}")
        if dupes := sorted({i for i in put_ids if put_ids.count(i) > 1}):
            raise SkillBankError(f"skills put twice in one commit: {', '.join(dupes)}")
        result = dict(skills)
        result.update({s.id: Skill.model_validate(s.model_dump()) for s in self.put})  # re-validated copies
        for ids, status in ((self.retire, "retired"), (self.flag_unsafe, "flagged-unsafe")):
            for sid in ids:
                result[sid] = _known(result, sid).model_copy(update={"status": status}, deep=True)
        for sid in self.remove:
            _known(result, sid)
            del result[sid]
        return result


def _known(skills: Mapping[str, Skill], sid: str) -> Skill:
    if sid not in skills:
        raise UnknownSkillError(f"unknown skill {sid!r}")
    return skills[sid]


def summarize_changes(old: Mapping[str, Skill], new: Mapping[str, Skill]) -> dict[str, list[str]]:
    """Ids added, changed (any field but status), retired, flagged unsafe, reactivated, removed."""
    both = sorted(set(old) & set(new))
    status = {sid: (old[sid].status, new[sid].status) for sid in both if old[sid].status != new[sid].status}
    return {
        "added": sorted(set(new) - set(old)),
        "changed": [sid for sid in both
                    if old[sid].model_copy(update={"status": "active"}) != new[sid].model_copy(update={"status":
                                                                                                     "active"})],
        "retired": [sid for sid, (_, after) in status.items() if after == "retired"],
        "flagged": [sid for sid, (_, after) in status.items() if after == "flagged-unsafe"],
        "reactivated": [sid for sid, (_, after) in status.items() if after == "active"],
        "removed": sorted(set(old) - set(new)),
    }
