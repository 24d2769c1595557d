"""Two common agent shapes, so each agent only says what it asks and what it does with the answer:
:class:`StructuredAgent` (one structured-output call) and :class:`TextAgent` (one plain-text call).

Both load their prompt from the subclass's ``prompt_name`` unless given another (``prompt=``)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime
from pydantic import BaseModel

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import message_text
from escgraph.agents._flow import Flow, ask
from escgraph.agents._models import resolve_model, resolve_prompt, role_config
from escgraph.prompts import PromptTemplate

__all__ = ["StructuredAgent", "TextAgent"]


class _PromptedAgent(AgentNode):
    """An agent with a model (its own, else the run context's for ``role``) and a prompt (``prompt_name``)."""

    model: BaseChatModel | None = None
    role: str = "counselor"
    prompt_name: str = ""

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 role: str = "counselor") -> None:
        self.model = model
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.role = role


class StructuredAgent(_PromptedAgent):
    """Subclasses set ``schema`` and ``prompt_name`` and implement ``messages(state)`` and ``finish(state, answer)``."""

    schema: type[BaseModel]

    def messages(self, state: dict) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, state: dict, answer: Any) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        chooser = resolve_model(self.model, runtime, self.role).with_structured_output(self.schema)
        answer = yield ask(chooser, self.messages(state), config=role_config(self.role, self.name))
        return self.finish(state, answer)


class TextAgent(_PromptedAgent):
    """Subclasses set ``prompt_name`` and implement ``messages(state)`` and ``finish(state, text)``."""

    stop: list[str] | None = None  # stop sequences for the call

    def messages(self, state: dict) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, state: dict, text: str) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _kwargs(self) -> dict[str, Any]:
        return {"config": role_config(self.role, self.name), **({"stop": self.stop} if self.stop else {})}

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        ai = yield ask(resolve_model(self.model, runtime, self.role), self.messages(state), **self._kwargs())
        return self.finish(state, message_text(ai))
