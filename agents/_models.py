"""How an agent finds its chat model and its prompt, and tags its calls for per-role token accounting."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime

from escgraph.agents._base import context_of
from escgraph.prompts import PromptTemplate, load_prompt

__all__ = ["resolve_model", "resolve_prompt", "role_config"]


def resolve_model(own: BaseChatModel | None, runtime: Runtime | None, role: str) -> BaseChatModel:
    """The agent's own model if it was given one, else the run context's model for ``role``."""
    return own if own is not None else context_of(runtime).model(role)


def resolve_prompt(own: PromptTemplate | str | None, name: str) -> PromptTemplate:
    """The agent's own prompt (a template, or the name of one) if it was given one, else the prompt ``name``
    (the agent's ``prompt_name``)."""
    return own if isinstance(own, PromptTemplate) else load_prompt(own or name)


def role_config(role: str, agent: str, **extra: Any) -> dict[str, Any]:
    """Run config that lets ``UsageTracker`` and tracers attribute tokens to a role and agent."""
    return {"tags": [f"role:{role}", f"agent:{agent}"], "metadata": {"role": role, "agent": agent, **extra},
            "run_name": agent}
