"""Vector indexes over a skills-bank version: a persistent chromadb collection, or numpy in memory for small banks.

Both embed :meth:`Skill.retrieval_text` with the bundled offline MiniLM (:mod:`escgraph.embeddings`) and answer
``search(query_text, k, where) -> [(skill_id, cosine similarity)]``, best first, ties broken by id. ``where`` is a
flat conjunction of equalities over :func:`skill_metadata` (e.g. ``{"status": "active", "stage_comforting": True}``).

chromadb's default embedding function downloads an ONNX model, so every collection is created and reopened with
:class:`MiniLMEmbeddingFunction`, which is registered under its own name: chromadb persists that name and rebuilds
our function from it instead of falling back to its default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.config import Settings
from chromadb.errors import NotFoundError
from chromadb.utils.embedding_functions import register_embedding_function

from escgraph.embeddings import embed
from escgraph.types import STAGES
from escgraph.skills_bank.schema import Skill

__all__ = ["Where", "SkillIndex", "MiniLMEmbeddingFunction", "InMemorySkillIndex", "ChromaSkillIndex",
           "skill_metadata", "content_hash", "collection_name"]

Where = Mapping[str, str | int | bool]
_MODEL = "all-MiniLM-L6-v2"
_MARKER = "escgraph-skills"  # collection metadata tag: only collections carrying it are ever pruned
_EMBED_BATCH = 256


@runtime_checkable
class SkillIndex(Protocol):
    def search(self, query_text: str, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """The ``k`` skills most similar to ``query_text`` among those matching ``where``: (id, similarity)."""
        ...


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """chromadb embedding function over the shared, offline all-MiniLM-L6-v2 (L2-normalised, cosine space)."""

    def __init__(self) -> None:  # nothing to configure: the model is the process-wide shared one
        pass

    def __call__(self, input: Documents) -> Embeddings:  # chromadb checks the parameter is named `input`
        return list(self.embed_array(input))

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings as one ``(n, 384)`` float32 array; batches keep peak memory flat for big banks."""
        chunks = [embed(texts[i:i + _EMBED_BATCH]) for i in range(0, len(texts), _EMBED_BATCH)]
        return np.concatenate(chunks) if chunks else embed([])

    @staticmethod
    def name() -> str:
        return "escgraph-minilm"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]  # unit vectors: all three rank alike

    def get_config(self) -> dict[str, Any]:
        return {"model": _MODEL}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        MiniLMEmbeddingFunction.validate_config(config)
        return MiniLMEmbeddingFunction()

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        if config.get("model", _MODEL) != _MODEL:
            raise ValueError(f"collection was embedded with {config.get('model')!r}, not {_MODEL!r}")


def skill_metadata(skill: Skill) -> dict[str, str | int | bool]:
    """Flat, filterable metadata: lists become ``|``-delimited strings, stages also one boolean flag each."""
    a = skill.applicability
    meta: dict[str, str | int | bool] = {
        "name": skill.name, "status": skill.status, "stages": "|".join(a.stages),
        "situations": "|".join(a.situations), "emotions": "|".join(a.emotions),
        "min_intensity": a.min_intensity, "max_intensity": a.max_intensity,
        "strategies": "|".join(skill.strategies),
    }
    # chromadb cannot filter on a substring of metadata, so stage membership gets its own flag
    meta.update({f"stage_{stage}": stage in a.stages for stage in STAGES})
    return meta


def _matches(meta: Mapping[str, Any], where: Where | None) -> bool:
    return not where or all(meta.get(key) == value for key, value in where.items())


def _ranked(pairs: Iterator[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    # rounding makes float noise (numpy vs chromadb's kernels) break ties by id in both indexes alike
    return sorted(((sid, round(float(sim), 6)) for sid, sim in pairs), key=lambda p: (-p[1], p[0]))[:k]


class InMemorySkillIndex:
    """Exact cosine search with numpy: for tests, small banks and one-off scripts (embeds on construction)."""

    def __init__(self, skills: Mapping[str, Skill], *, embedding_function: MiniLMEmbeddingFunction | None = None):
        self._ef = embedding_function or MiniLMEmbeddingFunction()
        self.ids = sorted(skills)
        self._meta = [skill_metadata(skills[sid]) for sid in self.ids]
        self._matrix = self._ef.embed_array([skills[sid].retrieval_text() for sid in self.ids])
        # the retriever uses a handful of filters (status x stage); rescanning 10k metadata dicts costs milliseconds
        self._masks: dict[frozenset, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query_text: str, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        if k <= 0 or not self.ids:
            return []
        # einsum, not `@`: a matrix-vector product this size makes OpenBLAS wake its threads, whose spinning then
        # starves torch's threads on small machines (the next query embedding measured ~10x slower on 2 cores)
        sims = np.einsum("ij,j->i", self._matrix, self._ef.embed_array([query_text])[0])
        key = frozenset((where or {}).items())
        if key not in self._masks:
            self._masks[key] = np.flatnonzero([_matches(m, where) for m in self._meta])
        candidates = self._masks[key]
        if len(candidates) > k:  # a partial sort; the few kept (plus ties at the cut) are ordered exactly below
            cut = np.partition(sims[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[sims[candidates] >= cut]
        return _ranked(((self.ids[i], sims[i]) for i in candidates), k)


def content_hash(skills: Mapping[str, Skill]) -> str:
    """Hash of everything the collection stores: ids, embedded texts, metadata, and the embedding model."""
    payload = [_MODEL] + [[sid, skills[sid].retrieval_text(), skill_metadata(skills[sid])] for sid in sorted(skills)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def collection_name(version_id: str, skills: Mapping[str, Skill]) -> str:
    """``skills-<version slug>-<content hash>``: valid for chromadb (3-512 chars of ``[a-zA-Z0-9._-]``)."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", version_id).strip("-_")[:48] or "v"
    return f"skills-{slug}-{content_hash(skills)}"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise build/prune across processes (simulation workers open the same index at start-up)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: one process per index folder is the caller's job
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ChromaSkillIndex:
    """A persistent chromadb collection per bank version, built once and reused by every later run."""

    def __init__(self, collection: Any, embedding_function: MiniLMEmbeddingFunction) -> None:
        self.collection = collection
        self._ef = embedding_function
        self._count = collection.count()

    @classmethod
    def open(cls, index_dir: str | Path, version_id: str, skills: Mapping[str, Skill], *, keep: int = 4,
             embedding_function: MiniLMEmbeddingFunction | None = None) -> ChromaSkillIndex:
        """Open (building if missing or incomplete) the collection for ``version_id``; prune all but the ``keep``
        most recently opened skill collections in ``index_dir`` (the one opened now always stays)."""
        ef = embedding_function or MiniLMEmbeddingFunction()
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        name = collection_name(version_id, skills)
        # the client creates chromadb's tables when the folder is new: two processes opening it at once (Ray
        # actors, process workers) would race on that, so the lock covers the client too
        with _file_lock(index_dir / ".escgraph-index.lock"):
            client = chromadb.PersistentClient(path=str(index_dir), settings=Settings(anonymized_telemetry=False))
            collection = cls._reuse(client, name, ef, len(skills))
            if collection is None:
                collection = cls._build(client, name, ef, version_id, skills)
            cls._prune(client, keep=max(keep, 1), current=name)
        return cls(collection, ef)

    @staticmethod
    def _reuse(client: Any, name: str, ef: MiniLMEmbeddingFunction, size: int) -> Any | None:
        try:
            collection = client.get_collection(name, embedding_function=ef)
        except NotFoundError:
            return None
        meta = dict(collection.metadata or {})
        if not meta.get("complete") or collection.count() != size:
            client.delete_collection(name)  # a build that died half-way: start over rather than serve a partial
            return None
        meta["last_used"] = time.time()
        collection.modify(metadata=meta)
        return collection

    @staticmethod
    def _build(client: Any, name: str, ef: MiniLMEmbeddingFunction, version_id: str,
               skills: Mapping[str, Skill]) -> Any:
        meta = {"escgraph": _MARKER, "version": version_id, "complete": False, "created": time.time()}
        collection = client.create_collection(name, embedding_function=ef, metadata=meta,
                                              configuration={"hnsw": {"space": "cosine"}})
        ids = sorted(skills)
        step = max(1, min(client.get_max_batch_size(), 4096))
        for start in range(0, len(ids), step):
            batch = ids[start:start + step]
            documents = [skills[sid].retrieval_text() for sid in batch]
            collection.add(ids=batch, documents=documents, embeddings=ef.embed_array(documents),
                           metadatas=[skill_metadata(skills[sid]) for sid in batch])
        # only now is the collection trusted for reuse; see _reuse
        collection.modify(metadata={**meta, "complete": True, "last_used": time.time()})
        return collection

    @staticmethod
    def _prune(client: Any, *, keep: int, current: str) -> None:
        ours = [c for c in client.list_collections() if (c.metadata or {}).get("escgraph") == _MARKER]
        ours.sort(key=lambda c: (c.name != current, -float((c.metadata or {}).get("last_used", 0))))
        for stale in ours[keep:]:
            client.delete_collection(stale.name)

    def __len__(self) -> int:
        return self._count

    def search(self, query_text: str, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        if k <= 0 or not self._count:
            return []
        clauses = [{key: value} for key, value in (where or {}).items()]
        result = self.collection.query(
            query_embeddings=self._ef.embed_array([query_text]), n_results=min(k, self._count),
            where=clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None),
            include=["distances"])
        # cosine space: distance = 1 - similarity
        return _ranked(zip(result["ids"][0], (1.0 - d for d in result["distances"][0])), k)
