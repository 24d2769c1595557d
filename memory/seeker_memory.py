"""Long-term seeker memory: facts about a seeker (how they want to be addressed, their situation, what helped
before, their preferences) kept across conversations by seeker id, on LangGraph's store with the local embedding
index. Opt-in (nothing is stored without a seeker id and a store), inspectable and deletable.

Facts live under the namespace ``("escgraph", "seekers", <seeker id>, "facts")``, one item per fact, keyed by a
hash of its kind and text (so telling the same thing twice stores it once).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from escgraph.config import data_dir

__all__ = ["SeekerFact", "SeekerMemory", "MemoryStoreError", "open_memory_store", "default_memory_path",
           "validate_seeker_id", "embedding_index"]

FactKind = Literal["address", "situation", "helped", "preference", "other"]
_SEEKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


class MemoryStoreError(RuntimeError):
    """The memory store cannot be opened, or a seeker id is not usable."""


class SeekerFact(BaseModel):
    kind: FactKind
    text: str = Field(min_length=2, max_length=300)
    source: str = Field(default="", description="where it was learnt, e.g. thread id and turn")
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def key(self) -> str:
        norm = " ".join(self.text.lower().split())
        return hashlib.sha256(f"{self.kind}\x1f{norm}".encode()).hexdigest()[:16]


def validate_seeker_id(seeker_id: str) -> str:
    if not isinstance(seeker_id, str) or not _SEEKER_ID.match(seeker_id):
        raise MemoryStoreError(f"seeker id {seeker_id!r} is not usable: use 1-128 letters, digits, '.', '_', '@' "
                               f"or '-', starting with a letter or digit")
    return seeker_id


def default_memory_path() -> Path:
    return data_dir() / "memory.sqlite"


def embedding_index() -> dict[str, Any]:
    """LangGraph store index config over escgraph's local MiniLM embeddings (never downloads)."""
    from escgraph.embeddings import EMBEDDING_DIM, embed

    return {"dims": EMBEDDING_DIM, "embed": lambda texts: embed(list(texts)).tolist(), "fields": ["text"]}


def open_memory_store(path: str | Path | None = None) -> Any:
    """A LangGraph ``SqliteStore`` with semantic search, at ``path`` (default: the escgraph data folder)."""
    from langgraph.store.sqlite import SqliteStore

    path = Path(path).expanduser() if path is not None else default_memory_path()
    if path.is_dir():
        raise MemoryStoreError(f"cannot open memory store {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.Error, OSError) as exc:
        raise MemoryStoreError(f"cannot open memory store {path}: {exc}") from None
    try:
        store = SqliteStore(conn, index=embedding_index())
        store.setup()
    except (AttributeError, sqlite3.OperationalError):
        # this Python's sqlite3 cannot load the sqlite-vec extension: keep the facts in the same store without
        # its vector index; SeekerMemory.recall then ranks a seeker's (few) facts with the same embeddings itself
        store = SqliteStore(conn)
        try:
            store.setup()
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"cannot open memory store {path}: {exc}") from None
    except sqlite3.Error as exc:
        raise MemoryStoreError(f"cannot open memory store {path}: {exc}") from None
    return store


class SeekerMemory:
    """Facts per seeker on any LangGraph ``BaseStore`` (in-memory, SQLite, Postgres, ...)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @staticmethod
    def namespace(seeker_id: str) -> tuple[str, ...]:
        return ("escgraph", "seekers", validate_seeker_id(seeker_id), "facts")

    def remember(self, seeker_id: str, facts: Iterable[SeekerFact]) -> list[SeekerFact]:
        """Store ``facts``; returns the ones that were new. Only one address form is kept (the latest)."""
        ns = self.namespace(seeker_id)
        new = []
        for fact in facts:
            if self.store.get(ns, fact.key) is not None:
                continue
            if fact.kind == "address":
                for old in self.facts(seeker_id, kind="address"):
                    self.store.delete(ns, old.key)
            self.store.put(ns, fact.key, fact.model_dump())
            new.append(fact)
        return new

    def facts(self, seeker_id: str, *, kind: str | None = None) -> list[SeekerFact]:
        items = self.store.search(self.namespace(seeker_id), filter={"kind": kind} if kind else None, limit=1000)
        return sorted((SeekerFact.model_validate(i.value) for i in items), key=lambda f: (f.created, f.kind, f.text))

    def recall(self, seeker_id: str, query: str, *, k: int = 4) -> list[SeekerFact]:
        """The address form (always) and the ``k`` facts most related to ``query``."""
        ns = self.namespace(seeker_id)
        address = self.facts(seeker_id, kind="address")
        if getattr(self.store, "index_config", None):
            hits = self.store.search(ns, query=query or None, limit=k + len(address))
            related = [SeekerFact.model_validate(i.value) for i in hits]
        else:  # a store without a vector index: rank this seeker's facts with the same local embeddings
            related = [f for f in self.facts(seeker_id) if f.kind != "address"]
            if query and len(related) > k:
                from escgraph.embeddings import embed

                scores = embed([f.text for f in related]) @ embed(query)[0]
                related = [related[i] for i in sorted(range(len(related)), key=lambda i: -scores[i])]
        return address + [f for f in related if f.kind != "address"][:k]

    def forget(self, seeker_id: str) -> int:
        """Delete everything stored about ``seeker_id``; returns how many facts were removed."""
        ns = self.namespace(seeker_id)
        items = self.store.search(ns, limit=100000)
        for item in items:
            self.store.delete(ns, item.key)
        return len(items)

    def seekers(self) -> list[str]:
        found = self.store.list_namespaces(prefix=("escgraph", "seekers"), limit=100000)
        return sorted({ns[2] for ns in found if len(ns) >= 4})
