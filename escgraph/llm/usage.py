"""Token accounting per role through LangChain callbacks (ARCHITECTURE.md section 4).

Attach a :class:`UsageTracker` to a run's callbacks and tag each model call with its role, either as a tag
``"role:counselor"`` or as metadata ``{"role": "counselor"}``; tags and metadata are inherited by child runs, so
tagging an agent node is enough.

Calls answered by a :class:`~escgraph.llm.ServerPoolChatModel` carry their server in the message's
``response_metadata["server"]``; :meth:`UsageTracker.by_server` counts calls per server.
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import ChatGeneration, LLMResult
from pydantic import BaseModel

__all__ = ["Usage", "UsageTracker", "UNKNOWN_ROLE"]

UNKNOWN_ROLE = "unknown"
_ROLE_TAG_PREFIX = "role:"


class Usage(BaseModel):
    """Tokens spent by a set of model calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    calls: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            calls=self.calls + other.calls,
        )


def role_of(tags: list[str] | None, metadata: dict[str, Any] | None) -> str:
    """The role a run belongs to: metadata ``role`` wins over a ``role:`` tag; the last tag wins among tags."""
    if metadata and metadata.get("role"):
        return str(metadata["role"])
    for tag in reversed(tags or []):
        if tag.startswith(_ROLE_TAG_PREFIX) and len(tag) > len(_ROLE_TAG_PREFIX):
            return tag[len(_ROLE_TAG_PREFIX) :]
    return UNKNOWN_ROLE


def server_of(response: LLMResult) -> str | None:
    """The server that answered (``response_metadata["server"]``, set by a server pool), if recorded."""
    for generations in response.generations:
        for generation in generations:
            message = generation.message if isinstance(generation, ChatGeneration) else None
            server = getattr(message, "response_metadata", {}).get("server") if message is not None else None
            if server:
                return str(server)
    return None


def usage_of(response: LLMResult) -> Usage:
    """Sum the usage a model reported: per-message ``usage_metadata`` first, ``llm_output`` as a fallback."""
    total = Usage()
    found = False
    for generations in response.generations:
        for generation in generations:
            message = generation.message if isinstance(generation, ChatGeneration) else None
            usage = getattr(message, "usage_metadata", None)
            if usage:
                found = True
                total += Usage(
                    input_tokens=usage.get("input_tokens", 0),
                    output_tokens=usage.get("output_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0),
                )
    if not found:
        token_usage = (response.llm_output or {}).get("token_usage") or {}
        total = Usage(
            input_tokens=token_usage.get("prompt_tokens", 0),
            output_tokens=token_usage.get("completion_tokens", 0),
            total_tokens=token_usage.get("total_tokens", 0),
        )
    total.calls = 1
    return total


class UsageTracker(BaseCallbackHandler):
    """Aggregates input/output/total tokens per role across every model call it sees. Thread-safe."""

    # Cheap and lock-protected: run inline instead of in an executor thread for async runs.
    run_inline = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles_by_run: dict[UUID, str] = {}
        self._totals: dict[str, Usage] = {}
        self._servers: dict[str, int] = {}

    # A chat model start and a plain LLM start carry the same tags and metadata.
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._remember(run_id, tags, metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._remember(run_id, tags, metadata)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        usage = usage_of(response)
        server = server_of(response)
        with self._lock:
            role = self._roles_by_run.pop(run_id, UNKNOWN_ROLE)
            self._totals[role] = self._totals.get(role, Usage()) + usage
            if server is not None:
                self._servers[server] = self._servers.get(server, 0) + 1

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._roles_by_run.pop(run_id, None)

    def _remember(self, run_id: UUID, tags: list[str] | None, metadata: dict[str, Any] | None) -> None:
        with self._lock:
            self._roles_by_run[run_id] = role_of(tags, metadata)

    def totals(self) -> dict[str, Usage]:
        """A snapshot: role -> :class:`Usage`."""
        with self._lock:
            return {role: usage.model_copy() for role, usage in self._totals.items()}

    def total(self) -> Usage:
        """All roles together."""
        return sum(self.totals().values(), Usage())

    def by_server(self) -> dict[str, int]:
        """A snapshot: server URL (credentials redacted) -> calls it answered; only pooled calls record a server."""
        with self._lock:
            return dict(sorted(self._servers.items()))

    def reset(self) -> None:
        with self._lock:
            self._totals.clear()
            self._servers.clear()
