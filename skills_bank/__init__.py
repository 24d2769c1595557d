"""Skills bank (ESC-Skills): intervention units, person-readable skills, immutable versions, retrieval, diffs.

- ``schema``: :class:`Skill`, :class:`InterventionUnit` (pydantic);
- ``store``: :class:`SkillBank`, a folder of one YAML file per skill with a linear, immutable version history;
- ``index`` / ``retrieval``: a chromadb collection per bank version (local MiniLM embeddings) and the retriever
  the skilled graph uses;
- ``diff``: field- and word-level differences between versions.

The bank never handles crises: the safety gate runs before any skill is retrieved.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["bank_fingerprint", "pin_version", "frozen_skills", "frozen_retriever", "retriever_for_skills", "default_retriever", "BankVersionError"]

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], Any] = {}


class BankVersionError(ValueError):
    """A frozen bank version cannot be found or its content no longer matches."""


def bank_fingerprint(skills: Mapping[str, Any]) -> str:
    """A short hash of a version's exact skill content (what a run's results depend on): the first 12 characters
    of :func:`escgraph.skills_bank.bankfiles.content_hash`."""
    from escgraph.skills_bank.bankfiles import content_hash

    return content_hash(skills)[:12]


def _open_bank(path: str | Path | None) -> Any:
    from escgraph.skills_bank.store import SkillBank

    return SkillBank.default(path)  # seeded from the built-in skills when the folder holds no bank yet


def pin_version(path: str | Path | None, version: str | None = None) -> str:
    """``"<version id>@<content hash>"`` for ``version`` (default: head) of the bank at ``path``."""
    bank = _open_bank(path)
    vid = bank.resolve(version or "head")
    return f"{vid}@{bank_fingerprint(bank.skills(vid))}"


def frozen_skills(path: str | Path | None, pinned: str | None) -> tuple[str, dict[str, Any]]:
    """(version id, skills) of one bank version (``"v3@hash"``, ``"v3"`` or None for head), content-checked.

    The content hash is checked, so a run resumed against a bank whose history was rewritten fails loudly
    instead of silently retrieving different skills.
    """
    bank = _open_bank(path)
    vid, _, expected = (pinned or "").partition("@")
    vid = bank.resolve(vid or "head")
    skills = bank.skills(vid)
    if expected and bank_fingerprint(skills) != expected:
        raise BankVersionError(f"skills bank {bank.path} version {vid} no longer has content {expected}")
    return vid, skills


def frozen_retriever(path: str | Path | None, pinned: str | None) -> Any:
    """A retriever over one bank version (see :func:`frozen_skills`), cached per process."""
    bank = _open_bank(path)
    key = (str(Path(bank.path).resolve()), bank.resolve((pinned or "").partition("@")[0] or "head"))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    vid, skills = frozen_skills(path, pinned)
    return retriever_for_skills(skills, vid, Path(bank.path) / ".index")


def retriever_for_skills(skills: Mapping[str, Any], version: str, index_dir: str | Path) -> Any:
    """A retriever over ``skills`` with its embedding index kept in ``index_dir`` (cached per process).

    Used where the bank's folder is not at hand (a worker on another machine gets the frozen skills themselves).
    """
    from escgraph.skills_bank.index import ChromaSkillIndex
    from escgraph.skills_bank.retrieval import SkillRetriever

    key = (str(Path(index_dir).resolve().parent), version)
    with _LOCK:
        if key not in _CACHE:
            index = ChromaSkillIndex.open(Path(index_dir), version, dict(skills))
            _CACHE[key] = SkillRetriever(dict(skills), index)
        return _CACHE[key]


def default_retriever() -> Any:
    """The retriever over the head of the user's default bank (seeded from the built-in skills on first use)."""
    return frozen_retriever(None, None)
