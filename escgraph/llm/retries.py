"""Structured-output retries and give-ups per role, counted from the events our structured runnable dispatches.

Attach a :class:`StructuredOutputTracker` next to the :class:`~escgraph.llm.UsageTracker`; it hears the
``escgraph.structured_output`` custom event that ``_structured`` dispatches once per finished call, and attributes
it to a role by the same tag / metadata rule as token usage (:func:`escgraph.llm.usage.role_of`).

Only models whose ``with_structured_output`` is ours (the embedded llama.cpp model, the fake) dispatch the event;
API models (langchain-openai) use LangChain's own structured output and are simply not counted (zero calls).
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ._structured import STRUCTURED_EVENT
from .usage import role_of

__all__ = ["StructuredOutputTracker"]


class StructuredOutputTracker(BaseCallbackHandler):
    """Per role: structured ``calls``, extra attempts (``retries``) and calls that ``gave_up``. Thread-safe."""

    run_inline = True  # cheap and lock-protected, like UsageTracker

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, tags: list[str] | None = None,
                        metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if name != STRUCTURED_EVENT or not isinstance(data, dict):
            return
        role = role_of(tags, metadata)
        with self._lock:
            counts = self._counts.setdefault(role, {"calls": 0, "retries": 0, "gave_up": 0})
            counts["calls"] += 1
            counts["retries"] += max(0, int(data.get("attempts", 1)) - 1)
            counts["gave_up"] += bool(data.get("gave_up"))

    def totals(self) -> dict[str, dict[str, int]]:
        """A snapshot: role -> ``{"calls", "retries", "gave_up"}``."""
        with self._lock:
            return {role: dict(counts) for role, counts in sorted(self._counts.items())}
