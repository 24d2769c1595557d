"""Differences between two skills-bank versions: skills added, removed, retired or flagged, and per changed skill
the fields that changed — text compared word by word, lists of text item by item — plus how long each skill of
the newer version has been carried over unchanged (reuse).

``diff_versions`` returns a :class:`BankDiff` (pydantic, JSON-serialisable); ``render_terminal``, ``to_json`` and
``render_html`` present it.
"""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from escgraph.skills_bank.schema import Skill

if TYPE_CHECKING:
    from escgraph.skills_bank.store import SkillBank

__all__ = ["WordOp", "FieldChange", "SkillChange", "SkillReuse", "BankDiff", "diff_versions", "diff_skills",
           "word_diff", "render_terminal", "to_json", "render_html"]

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")  # words, whitespace runs and single punctuation marks


class WordOp(BaseModel):
    op: Literal["equal", "insert", "delete"]
    text: str


class FieldChange(BaseModel):
    """One changed field. ``field`` is a path: ``summary``, ``risks[1]``, ``examples[0].supporter``.

    List items are aligned first, so an item added or removed is its own change (added: index in the new
    list; removed: index in the old one) and a rewritten item gets a word-level diff in ``words``.
    """

    field: str
    kind: Literal["changed", "added", "removed"]
    old: Any = None
    new: Any = None
    words: list[WordOp] | None = None  # text only


class SkillChange(BaseModel):
    id: str
    name: str
    old_status: str
    new_status: str
    fields: list[FieldChange]


class SkillReuse(BaseModel):
    """How long a skill of the newer version has been in the bank, and unchanged (versions counted inclusively)."""

    id: str
    status: str
    unchanged_since: str
    unchanged_versions: int
    in_bank_since: str
    in_bank_versions: int


class BankDiff(BaseModel):
    old_version: str
    new_version: str
    old_hash: str
    new_hash: str
    added: list[Skill]
    removed: list[Skill]
    retired: list[str]
    flagged: list[str]
    reactivated: list[str]
    changed: list[SkillChange]  # every skill present in both whose content differs (status changes included)
    unchanged: list[str]
    reuse: list[SkillReuse]

    @property
    def totals(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                "unchanged": len(self.unchanged), "retired": len(self.retired), "flagged": len(self.flagged)}


# -- computing ---------------------------------------------------------------------------------------------------
def word_diff(old: str, new: str) -> list[WordOp]:
    """Word-level ops that rebuild ``old`` (equal + delete) and ``new`` (equal + insert)."""
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    raw = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            raw.append(("equal", "".join(a[i1:i2]), "".join(a[i1:i2])))
        else:
            raw.append(("change", "".join(a[i1:i2]), "".join(b[j1:j2])))
    # A lone space matched between two changes splits one rewrite into confetti: fold it into the change.
    merged: list[list[str]] = []
    for i, (tag, before, after) in enumerate(raw):
        glue = tag == "equal" and not before.strip() and 0 < i < len(raw) - 1
        if (tag == "change" or glue) and merged and merged[-1][0] == "change":
            merged[-1][1] += before
            merged[-1][2] += after
        else:
            merged.append([tag if not glue else "change", before, after])
    ops = []
    for tag, before, after in merged:
        if tag == "equal":
            ops.append(WordOp(op="equal", text=before))
            continue
        if before:
            ops.append(WordOp(op="delete", text=before))
        if after:
            ops.append(WordOp(op="insert", text=after))
    return ops


def _diff_value(path: str, old: Any, new: Any, out: list[FieldChange]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            _diff_value(f"{path}.{key}" if path else key, old.get(key), new.get(key), out)
    elif isinstance(old, list) and isinstance(new, list):
        _diff_list(path, old, new, out)
    elif isinstance(old, str) and isinstance(new, str):
        out.append(FieldChange(field=path, kind="changed", old=old, new=new, words=word_diff(old, new)))
    elif old is None or new is None:
        out.append(_whole(path, "added" if old is None else "removed", new if old is None else old))
    else:
        out.append(FieldChange(field=path, kind="changed", old=old, new=new))


def _whole(path: str, kind: str, value: Any) -> FieldChange:
    words = [WordOp(op="insert" if kind == "added" else "delete", text=value)] if isinstance(value, str) else None
    return FieldChange(field=path, kind=kind, words=words, **({"new": value} if kind == "added" else {"old": value}))


def _diff_list(path: str, old: list, new: list, out: list[FieldChange]) -> None:
    def key(item: Any) -> str:
        return json.dumps(item, sort_keys=True, ensure_ascii=False)

    matcher = SequenceMatcher(None, [key(x) for x in old], [key(x) for x in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0  # a rewritten item: compare it word by word
        for k in range(paired):
            _diff_value(f"{path}[{j1 + k}]", old[i1 + k], new[j1 + k], out)
        out.extend(_whole(f"{path}[{i}]", "removed", old[i]) for i in range(i1 + paired, i2))
        out.extend(_whole(f"{path}[{j}]", "added", new[j]) for j in range(j1 + paired, j2))


def diff_skills(old: Skill, new: Skill) -> SkillChange:
    fields: list[FieldChange] = []
    _diff_value("", old.model_dump(mode="json"), new.model_dump(mode="json"), fields)
    return SkillChange(id=new.id, name=new.name, old_status=old.status, new_status=new.status, fields=fields)


def _reuse(bank: SkillBank, vid: str) -> list[SkillReuse]:
    newest = bank.get_version(vid)
    older = [bank.get_version(f"v{n}") for n in range(newest.number - 1, 0, -1)]
    result = []
    for sid, skill in newest.skills().items():
        unchanged = present = newest
        for version in older:  # walk back while the skill is present, and unchanged while it stays equal
            if sid not in version:
                break
            present = version
            if unchanged.number == version.number + 1 and version.same_skill(skill):
                unchanged = version
        result.append(SkillReuse(id=sid, status=skill.status, unchanged_since=unchanged.id,
                                 unchanged_versions=newest.number - unchanged.number + 1,
                                 in_bank_since=present.id, in_bank_versions=newest.number - present.number + 1))
    return result


def diff_versions(bank: SkillBank, v1: str | int, v2: str | int) -> BankDiff:
    """What changed from version ``v1`` to ``v2`` (any forms :meth:`SkillBank.resolve` accepts)."""
    first, second = bank.get_version(v1), bank.get_version(v2)
    old, new = first.skills(), second.skills()
    both = sorted(set(old) & set(new))
    changed = [diff_skills(old[sid], new[sid]) for sid in both if old[sid] != new[sid]]
    status = [(c.id, c.new_status) for c in changed if c.old_status != c.new_status]
    return BankDiff(old_version=first.id, new_version=second.id, old_hash=first.content_hash,
                    new_hash=second.content_hash, added=[new[s] for s in sorted(set(new) - set(old))],
                    removed=[old[s] for s in sorted(set(old) - set(new))],
                    retired=[s for s, after in status if after == "retired"],
                    flagged=[s for s, after in status if after == "flagged-unsafe"],
                    reactivated=[s for s, after in status if after == "active"], changed=changed,
                    unchanged=[sid for sid in both if old[sid] == new[sid]], reuse=_reuse(bank, second.id))


# -- presenting --------------------------------------------------------------------------------------------------
def to_json(diff: BankDiff) -> str:
    return json.dumps({**diff.model_dump(mode="json"), "totals": diff.totals}, indent=2, ensure_ascii=False)


def render_html(diff: BankDiff) -> str:
    from escgraph.skills_bank.diff_html import render_html as _render

    return _render(diff)


def _words(ops: list[WordOp], color: bool) -> Any:
    from rich.text import Text

    text = Text()
    for op in ops:
        if op.op == "equal":
            text.append(op.text)
        elif color:
            text.append(op.text, style="bold green" if op.op == "insert" else "red strike")
        else:  # piped or NO_COLOR: git's --word-diff=plain markers keep the change visible
            text.append(f"{{+{op.text}+}}" if op.op == "insert" else f"[-{op.text}-]")
    return text


def render_terminal(diff: BankDiff, *, color: bool = True) -> Any:
    """A rich renderable: a summary line, then a heading per skill with its field changes."""
    from rich.console import Group
    from rich.text import Text

    t = diff.totals
    lines: list[Any] = [Text(f"skills bank {diff.old_version} → {diff.new_version}: {t['added']} added, "
                             f"{t['removed']} removed, {t['changed']} changed ({t['retired']} retired, "
                             f"{t['flagged']} flagged unsafe), {t['unchanged']} unchanged", style="bold")]

    def heading(mark: str, style: str, sid: str, name: str, note: str = "") -> None:
        lines.append(Text(""))
        lines.append(Text.assemble((f"{mark} {sid}", f"bold {style}" if color else ""), f"  {name}{note}"))

    for skill in diff.added:
        heading("+ added", "green", skill.id, skill.name, f"  [{skill.status}]")
        lines.append(Text("    summary: ") + _words([WordOp(op="insert", text=skill.summary)], color))
    for skill in diff.removed:
        heading("- removed", "red", skill.id, skill.name)
    for change in diff.changed:
        note = f"  [{change.old_status} → {change.new_status}]" if change.old_status != change.new_status else ""
        heading("~ changed", "yellow", change.id, change.name, note)
        for fc in change.fields:
            if fc.field == "status":
                continue  # already in the heading
            label = f"    {fc.field} ({fc.kind}): " if fc.kind != "changed" else f"    {fc.field}: "
            if fc.words is not None:
                body = _words(fc.words, color)
            elif fc.kind == "changed":
                body = Text(f"{json.dumps(fc.old, ensure_ascii=False)} → {json.dumps(fc.new, ensure_ascii=False)}")
            else:  # a whole non-text item, e.g. an example exchange
                value = json.dumps(fc.new if fc.kind == "added" else fc.old, ensure_ascii=False)
                body = _words([WordOp(op="insert" if fc.kind == "added" else "delete", text=value)], color)
            lines.append(Text.assemble((label, "cyan" if color else ""), body))  # style the label only
    carried = [r for r in diff.reuse if r.unchanged_versions > 1]
    lines += [Text(""), Text(f"reuse: carried over unchanged from {diff.old_version} {t['unchanged']}, changed "
                             f"{t['changed']}, added {t['added']}; in {diff.new_version} {len(carried)} of "
                             f"{len(diff.reuse)} skills unchanged for 2+ versions", style="dim" if color else "")]
    return Group(*lines)
