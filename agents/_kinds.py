"""Two common agent shapes, so each agent only says what it asks and what it does with the answer:
:class:`StructuredAgent` (one structured-output call) and :class:`TextAgent` (one plain-text call)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime
from pydantic import BaseModel

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import message_text
from escgraph.agents._models import resolve_model, role_config

__all__ = ["StructuredAgent", "TextAgent"]


class StructuredAgent(AgentNode):
    """Subclasses set ``schema`` and implement ``messages(state)`` and ``finish(state, answer)``."""

    schema: type[BaseModel]
    model: BaseChatModel | None = None
    role: str = "counselor"

    def messages(self, state: dict) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, state: dict, answer: Any) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        chooser = resolve_model(self.model, runtime, self.role).with_structured_output(self.schema)
        return self.finish(state, chooser.invoke(self.messages(state), config=role_config(self.role, self.name)))

    async def arun(self, state: dict, runtime: Runtime | None = None) -> dict:
        chooser = resolve_model(self.model, runtime, self.role).with_structured_output(self.schema)
        answer = await chooser.ainvoke(self.messages(state), config=role_config(self.role, self.name))
        return self.finish(state, answer)


class TextAgent(AgentNode):
    """Subclasses implement ``messages(state)`` and ``finish(state, text)``."""

    model: BaseChatModel | None = None
    role: str = "counselor"
    stop: list[str] | None = None  # stop sequences for the call

    def messages(self, state: dict) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, state: dict, text: str) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kwargs(self) -> dict[str, Any]:
        return {"config": role_config(self.role, self.name), **({"stop": self.stop} if self.stop else {})}

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        ai = resolve_model(self.model, runtime, self.role).invoke(self.messages(state), **self._kwargs())
        return self.finish(state, message_text(ai))

    async def arun(self, state: dict, runtime: Runtime | None = None) -> dict:
        ai = await resolve_model(self.model, runtime, self.role).ainvoke(self.messages(state), **self._kwargs())
        return self.finish(state, message_text(ai))
