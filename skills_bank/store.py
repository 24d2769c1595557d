"""The versioned skills bank: a folder a person can read, edit and keep under git, with a linear immutable history.

Layout of a bank folder::

    bank.yaml            format marker, ``head`` (newest version) and ``working_copy`` (the version skills/ holds)
    skills/<id>.yaml     the working copy: one readable YAML file per skill, edited by hand then committed
    versions/v<n>.yaml   immutable snapshots: id, parent, author, kind, message, created, content hash, changes,
                         and the exact content of every skill in that version
    .lock                the inter-process commit lock (``flock``)

Every commit happens inside the lock on top of the *current* head, so concurrent writers queue up and none is
lost. The version file is written (atomically) before ``bank.yaml`` moves the head, so a crash never leaves a
head pointing at a missing version; a version file edited after the fact fails its content-hash check.

People edit ``skills/*.yaml`` and run :meth:`SkillBank.commit_from_folder`. A program committing meanwhile
rewrites only the files nobody touched, so pending hand edits survive; where both changed one skill, the commit
wins in ``skills/`` and the person's file is kept beside it as ``<id>.yaml.mine``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from escgraph.files import atomic_write
from escgraph.skills_bank.bankfiles import (SkillBankError, SkillFileError, UnknownSkillError, UnknownVersionError,
                                            content_hash, describe_validation_error, dump_yaml, exclusive_lock,
                                            load_yaml, read_skill_file, read_skill_path, read_skills_export,
                                            skill_text)
from escgraph.skills_bank._versions import Changes, Version, summarize_changes
from escgraph.skills_bank.schema import Skill

__all__ = ["SkillBank", "Version", "Changes", "KINDS", "SkillBankError", "SkillFileError", "UnknownVersionError",
           "UnknownSkillError", "summarize_changes", "content_hash", "builtin_skills", "builtin_seed_message"]

log = logging.getLogger(__name__)
FORMAT = "escgraph-skills-bank"
EXPORT_FORMAT = "escgraph-skills-export"
KINDS = ("person", "evolution", "import", "seed")
_VERSION = re.compile(r"(?i)(head|v?(\d+))(?:~(\d+))?")


def _package_default_dir() -> Any:
    return resources.files("escgraph.skills_bank").joinpath("default")


def builtin_skills() -> list[Skill]:
    """The built-in skills a new bank is seeded with (the package's ``default`` folder), in file-name order."""
    folder = _package_default_dir()
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name) \
        if folder.is_dir() else []
    if not files:
        raise SkillBankError("the built-in skills bank is missing or empty (is escgraph fully installed?); "
                             "use --bank with an existing bank")
    return [read_skill_file(f.read_text(encoding="utf-8"), f"built-in {f.name}", f.name[:-5]) for f in files]


def builtin_seed_message() -> str:
    """The message of a bank's first version when it is seeded from :func:`builtin_skills`."""
    from escgraph import __version__

    return f"seed from the built-in skills bank (escgraph {__version__})"


class SkillBank:
    """A skills bank folder. Use :meth:`open`, :meth:`create` or :meth:`default`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._versions: dict[str, Version] = {}  # committed versions never change: safe to cache

    def __repr__(self) -> str:
        return f"SkillBank({str(self.path)!r})"

    # -- opening ------------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> SkillBank:
        bank = cls(path)
        if not bank.path.is_dir():
            raise SkillBankError(f"{bank.path} is not a skills bank: no such folder")
        bank._state()  # fails clearly on a missing or corrupt bank.yaml
        return bank

    @classmethod
    def create(cls, path: str | Path, skills: Iterable[Skill] | Mapping[str, Skill], author: str, message: str,
               kind: str = "seed") -> SkillBank:
        bank = cls(path)
        bank.path.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(bank._lock):
            bank._create_locked(skills, author, message, kind)
        return bank

    @classmethod
    def default(cls, path: str | Path | None = None) -> SkillBank:
        """The bank at ``path`` (default: ``data_dir()/skills``), seeded from the built-in skills on first use."""
        from escgraph.config import data_dir

        bank = cls(path if path is not None else data_dir() / "skills")
        if (bank.path / "bank.yaml").exists():
            return cls.open(bank.path)
        skills = builtin_skills()
        bank.path.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(bank._lock):
            if not (bank.path / "bank.yaml").exists():  # another process may have seeded it while we waited
                bank._create_locked(skills, "escgraph", builtin_seed_message(), "seed")
        return cls.open(bank.path)

    def _create_locked(self, skills: Iterable[Skill] | Mapping[str, Skill], author: str, message: str,
                       kind: str) -> None:
        if (self.path / "bank.yaml").exists():
            raise SkillBankError(f"{self.path} is already a skills bank")
        for sub in ("skills", "versions"):
            if any((self.path / sub).glob("*.yaml")):
                raise SkillBankError(f"{self.path / sub} already holds YAML files; create the bank in an empty "
                                     f"folder")
        listed = list(skills.values()) if isinstance(skills, Mapping) else list(skills)
        content: dict[str, Skill] = {}
        for skill in listed:
            if skill.id in content:
                raise SkillBankError(f"skill {skill.id!r} given twice")
            content[skill.id] = skill
        self._write_version(content, None, {}, author=author, message=message, kind=kind, meta=None)
        ignore = self.path / ".gitignore"
        if not ignore.exists():  # the bank is meant for git: keep lock, search index and leftovers out of it
            atomic_write(ignore, ".lock\n.index/\n.*.tmp\n")

    # -- reading -------------------------------------------------------------------------------------------------
    @property
    def _lock(self) -> Path:
        return self.path / ".lock"

    def _state(self) -> dict[str, Any]:
        state_file = self.path / "bank.yaml"
        if not state_file.is_file():
            raise SkillBankError(f"{self.path} is not a skills bank (no bank.yaml)")
        try:
            state = load_yaml(state_file.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - any parse failure means the same thing to the user
            raise SkillBankError(f"{state_file} is corrupt: {str(exc).splitlines()[0]}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise SkillBankError(f"{state_file} is not a skills-bank file (expected format: {FORMAT})")
        head = state.get("head")
        if not isinstance(head, str) or not re.fullmatch(r"v[1-9]\d*", head):
            raise SkillBankError(f"{state_file} is corrupt: head {head!r} is not a version id")
        if not (self.path / "versions" / f"{head}.yaml").is_file():
            raise SkillBankError(f"{state_file} is corrupt: head {head} has no file versions/{head}.yaml")
        state.setdefault("working_copy", head)
        return state

    @property
    def head(self) -> str:
        return self._state()["head"]

    def resolve(self, version: str | int | None = "head") -> str:
        """A version id from ``head``, ``v3``, ``3``, ``head~1`` (or ``v3~2``)."""
        text = "head" if version is None else str(version).strip()
        match = _VERSION.fullmatch(text)
        if not match:
            raise UnknownVersionError(f"not a version: {text!r} (use head, v3, 3 or head~1)")
        head = self.head
        base = int(head[1:]) if match.group(2) is None else int(match.group(2))
        number = base - int(match.group(3) or 0)
        if number < 1:
            raise UnknownVersionError(f"{text} goes back past the first version v1" if match.group(3)
                                      else f"unknown version {text} (versions start at v1)")
        if number > int(head[1:]) or not (self.path / "versions" / f"v{number}.yaml").is_file():
            raise UnknownVersionError(f"unknown version {text} (head is {head})")
        return f"v{number}"

    def get_version(self, version: str | int = "head") -> Version:
        vid = self.resolve(version)
        if vid not in self._versions:
            self._versions[vid] = self._load_version(vid)
        return self._versions[vid]

    def _load_version(self, vid: str) -> Version:
        path = self.path / "versions" / f"{vid}.yaml"
        try:
            doc = load_yaml(path.read_text(encoding="utf-8"))
            skills = {}
            for i, data in enumerate(doc["skills"]):
                skill = Skill.model_validate(data)
                skills[skill.id] = skill
            version = Version(id=doc["id"], parent=doc["parent"], author=doc["author"], kind=doc["kind"],
                              message=doc["message"], created=doc["created"], content_hash=doc["content_hash"],
                              changes=MappingProxyType(doc.get("changes") or {}),
                              meta=MappingProxyType(doc.get("meta") or {}), _skills=MappingProxyType(skills))
        except ValidationError as exc:
            raise SkillBankError(f"{path} is corrupt: skill #{i + 1}: {describe_validation_error(exc)[1]}") from None
        except Exception as exc:  # noqa: BLE001 - yaml errors, missing keys, wrong shapes
            raise SkillBankError(f"{path} is corrupt: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        if version.id != vid:
            raise SkillBankError(f"{path} is corrupt: it holds version {version.id!r}")
        if content_hash(skills) != version.content_hash:
            raise SkillBankError(f"{path} was modified after it was committed (content hash mismatch)")
        return version

    def versions(self) -> list[Version]:
        """The log, newest first; checks that the history is one linear chain."""
        chain, vid = [], self.head
        while vid is not None:
            version = self.get_version(vid)
            expected = f"v{version.number - 1}" if version.number > 1 else None
            if version.parent != expected:
                raise SkillBankError(f"corrupt history: {vid} has parent {version.parent!r}, expected {expected!r}")
            chain.append(version)
            vid = version.parent
        return chain

    def skills(self, version: str | int | None = None) -> dict[str, Skill]:
        return self.get_version(version or "head").skills()

    def skill(self, skill_id: str, version: str | int | None = None) -> Skill:
        found = self.get_version(version or "head")
        if skill_id not in found.skill_ids:
            raise UnknownSkillError(f"unknown skill {skill_id!r} in {found.id}")
        return found.skills()[skill_id]

    # -- writing -------------------------------------------------------------------------------------------------
    def commit(self, changes: Changes, *, author: str, message: str, kind: str = "person",
               meta: Mapping[str, Any] | None = None) -> Version:
        """Apply ``changes`` to the current head as a new version (serialised across processes)."""
        with exclusive_lock(self._lock):
            state = self._state()
            current = self.get_version(state["head"]).skills()
            return self._write_version(changes.apply(current), state["head"], state, author=author,
                                       message=message, kind=kind, meta=meta)

    def commit_from_folder(self, author: str, message: str) -> Version:
        """Commit the hand edits in ``skills/`` (adds, edits, deleted files). Every file is validated first."""
        with exclusive_lock(self._lock):
            state = self._state()
            base = self.get_version(state["working_copy"]).skills()
            current = self.get_version(state["head"]).skills()
            edited = self._read_working_copy()
            touched = [sid for sid in sorted(set(base) | set(edited)) if base.get(sid) != edited.get(sid)]
            if not touched:
                raise SkillBankError(f"nothing to commit: {self.path / 'skills'} matches {state['working_copy']}")
            if clash := [sid for sid in touched if current.get(sid) != base.get(sid)]:
                raise SkillBankError(f"{', '.join(clash)} changed in {state['head']} since your working copy "
                                     f"({state['working_copy']}); merge by hand and commit again")
            for sid in touched:
                if sid in edited:
                    current[sid] = edited[sid]
                else:
                    current.pop(sid, None)
            return self._write_version(current, state["head"], state, author=author, message=message,
                                       kind="person", meta=None)

    def _read_working_copy(self) -> dict[str, Skill]:
        skills = {}
        for path in sorted((self.path / "skills").glob("*.yaml")):
            skills[path.stem] = read_skill_path(path, path.stem)  # size, UTF-8, nesting, aliases: clear errors
        return skills

    def _write_version(self, content: dict[str, Skill], parent: str | None, state: Mapping[str, Any], *,
                       author: str, message: str, kind: str, meta: Mapping[str, Any] | None) -> Version:
        """Inside the lock: version file, then head, then working copy (each step atomic)."""
        if kind not in KINDS:
            raise SkillBankError(f"unknown version kind {kind!r}; use one of {', '.join(KINDS)}")
        if not str(author).strip() or not str(message).strip():
            raise SkillBankError("a commit needs an author and a message")
        old = self.get_version(parent).skills() if parent else {}
        if parent and content == old:
            raise SkillBankError(f"no change: the result is identical to {parent}")
        vid = f"v{int(parent[1:]) + 1}" if parent else "v1"
        doc = {"id": vid, "parent": parent, "author": str(author).strip(), "kind": kind,
               "message": str(message).strip(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "content_hash": content_hash(content), "changes": summarize_changes(old, content),
               "meta": dict(meta or {}), "skills": [content[k].model_dump(mode="json") for k in sorted(content)]}
        atomic_write(self.path / "versions" / f"{vid}.yaml", dump_yaml(doc), read_only=True)
        base_vid = state.get("working_copy", parent)
        self._write_state(vid, base_vid or vid)
        base = self.get_version(base_vid).skills() if base_vid else {}
        self._sync_working_copy(base, content)
        self._write_state(vid, vid)
        return self.get_version(vid)

    def _write_state(self, head: str, working_copy: str) -> None:
        atomic_write(self.path / "bank.yaml", dump_yaml({"format": FORMAT, "format_version": 1, "head": head,
                                                         "working_copy": working_copy}))

    def _sync_working_copy(self, base: Mapping[str, Skill], new: Mapping[str, Skill]) -> None:
        """Make ``skills/`` show ``new`` without destroying hand edits made since ``base`` was written out.

        A file still equal to ``base`` follows the new version; a hand-edited file of a skill this commit did not
        touch stays as the person left it; if both changed, the person's file is kept as ``<id>.yaml.mine``.
        """
        folder = self.path / "skills"
        folder.mkdir(parents=True, exist_ok=True)
        on_disk = {p.stem for p in folder.glob("*.yaml")}
        for sid in sorted(set(base) | set(new) | on_disk):
            path = folder / f"{sid}.yaml"
            text = _read_as_text(path) if sid in on_disk else None  # bytes when not UTF-8: a hand edit, kept
            wanted = skill_text(new[sid]) if sid in new else None
            if text == wanted:
                continue
            if isinstance(text, str) and sid in new and _holds(text, sid, new[sid]):
                atomic_write(path, wanted)  # the same skill in the person's own layout: just normalise it
                continue
            if text != (skill_text(base[sid]) if sid in base else None):
                if base.get(sid) == new.get(sid):
                    continue  # the person's pending edit of a skill nobody else changed
                if text is not None:
                    atomic_write(folder / f"{sid}.yaml.mine", text)
                log.warning("skills bank %s: %s changed both by hand and by a commit; your file was kept as "
                            "%s.yaml.mine", self.path, sid, sid)
            if wanted is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, wanted)

    # -- export / import -----------------------------------------------------------------------------------------
    def export(self, version: str | int, path: str | Path) -> Path:
        """One file (YAML, or JSON for ``.json``) with the version's metadata and all its skills."""
        import json

        target = Path(path)
        if target.suffix.lower() not in (".yaml", ".yml", ".json"):
            raise SkillBankError(f"{target}: export to a .yaml, .yml or .json file")
        found = self.get_version(version)
        doc = {"format": EXPORT_FORMAT, "format_version": 1, "version": found.metadata(),
               "skills": [s.model_dump(mode="json") for s in found.skills().values()]}
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n" if target.suffix.lower() == ".json" \
            else dump_yaml(doc)
        atomic_write(target, text)
        return target

    def import_file(self, path: str | Path, author: str, message: str | None = None, *,
                    replace: bool | None = None) -> Version:
        """Commit a file's skills (an export, a list of skills, or one skill) as kind ``import``.

        ``replace=True``: the file's skills become the whole new content (skills absent from it are removed).
        ``replace=False``: they are added or replace same-id skills; the others stay.
        ``replace=None`` (the default): an empty bank takes the file's skills; a bank that holds skills refuses,
        so a one-skill file never silently replaces a whole bank — say which you mean.
        The file is read and every skill validated before anything is written; a failed import changes nothing.
        """
        source = Path(path)
        skills, origin = read_skills_export(source)
        with exclusive_lock(self._lock):
            state = self._state()
            current = self.get_version(state["head"]).skills()
            if replace is None:
                if current:
                    raise SkillBankError(
                        f"{source}: not imported: the bank ({state['head']}) holds {len(current)} skill(s) and the "
                        f"file {len(skills)}; pass --merge to add or update the file's skills and keep the others, "
                        f"or --replace to make the file the whole bank (skills not in it are removed)")
                replace = True
            note = f"import from {source.name}" + (f" (exported {origin})" if origin else "") + \
                ("" if replace else ", merged")
            content = dict(skills) if replace else {**current, **skills}
            if content == current:
                raise SkillBankError(f"nothing to import: {source.name} matches {state['head']}")
            return self._write_version(content, state["head"], state, author=author,
                                       message=f"{message.strip()} [{note}]" if message else note,
                                       kind="import", meta={"source": str(source), "origin": origin,
                                                            "mode": "replace" if replace else "merge"})


def _read_as_text(path: Path) -> str | bytes:
    """A working-copy file's text, or its raw bytes when it is not UTF-8 (so it can be kept, never lost)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _holds(text: str, skill_id: str, skill: Skill) -> bool:
    """Whether a working-copy file's text is exactly ``skill`` (whatever its YAML layout)."""
    try:
        return read_skill_file(text, f"{skill_id}.yaml", skill_id) == skill
    except SkillBankError:
        return False
