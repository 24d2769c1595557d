"""Chat models loaded from specs once per process, for run contexts that name models by spec (ARCHITECTURE.md §4).

A JSON run context (``langgraph dev``, the LangGraph API) can only carry strings, so ``ESCContext`` resolves a
role's spec on first use through :func:`cached_chat_model`. The cache is keyed by spec, base URL and settings; a
load that fails is not cached, so the next call tries again. Loading holds a lock per key (thread-safe, and two
different models can load at the same time).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

__all__ = ["cached_chat_model", "clear_model_cache", "apply_model_settings"]

_CacheKey = tuple[str, str | None, tuple[tuple[str, Any], ...]]

_models: dict[_CacheKey, BaseChatModel] = {}
_locks: dict[_CacheKey, threading.Lock] = {}
_guard = threading.Lock()


def cached_chat_model(spec: str, *, base_url: str | None = None,
                      settings: Mapping[str, Any] | None = None) -> BaseChatModel:
    """The chat model for ``spec`` (and ``base_url``, ``settings``), loaded on the first call and then shared.

    ``settings`` are :class:`~escgraph.llm.ModelSettings` fields (temperature, seed, max_tokens, top_p,
    repeat_penalty); those the model class has no field for are left out, as simulations do. Plain ``local``
    is the same object as :func:`~escgraph.llm.default_chat_model`. Raises what :func:`load_chat_model` raises.
    """
    spec = spec.strip()
    pinned = tuple(sorted((k, v) for k, v in (settings or {}).items() if v is not None))
    key: _CacheKey = (spec, base_url, pinned)
    model = _models.get(key)
    if model is not None:
        return model
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        model = _models.get(key)
        if model is None:
            model = _load(spec, base_url, dict(pinned))
            _models[key] = model
    return model


def _load(spec: str, base_url: str | None, settings: dict[str, Any]) -> BaseChatModel:
    if settings:  # one base model per spec and URL, a cheap copy per group of settings
        return apply_model_settings(cached_chat_model(spec, base_url=base_url), settings)
    if spec == "local" and base_url is None:
        from ._spec import default_chat_model

        return default_chat_model()
    from ._spec import load_chat_model

    return load_chat_model(spec, base_url=base_url)


def apply_model_settings(model: BaseChatModel, settings: Mapping[str, Any]) -> BaseChatModel:
    """A copy of ``model`` with the settings its class has fields for (the model itself if none apply)."""
    fields = type(model).model_fields
    update = {k: v for k, v in settings.items() if k in fields and v is not None}
    return model.model_copy(update=update) if update else model


def clear_model_cache() -> None:
    """Forget every cached model (tests; a long-lived process that wants to reload a changed GGUF file)."""
    with _guard:
        _models.clear()
        _locks.clear()
