"""Base class that makes an agent a LangGraph node usable in any ``StateGraph``.

An agent is a LangChain ``Runnable``: ``builder.add_node("counselor", StrategyCounselor())`` works, and the graph
calls ``invoke`` or ``ainvoke`` depending on how it is run, so async graphs reach the model's async path instead
of a thread pool. The node reads the LangGraph ``Runtime`` (and its ``ESCContext``) when it runs inside a graph;
outside a graph, call ``agent(state)`` or ``await agent.acall(state)`` directly, optionally with a runtime.

An agent that calls a model writes its control flow once, as the generator ``flow(state, runtime)``
(:mod:`escgraph.agents._flow`): ``run`` drives it with blocking calls and ``arun`` awaits them. A node that calls
no model (a retriever, a memory lookup) writes ``run`` instead, and ``arun`` runs it in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.runtime import Runtime, get_runtime

from escgraph.agents._flow import Flow, adrive, drive
from escgraph.types import ESCContext

__all__ = ["AgentNode", "context_of"]

_CONTEXT_FIELDS = frozenset(f.name for f in fields(ESCContext))


def _current_runtime() -> Runtime | None:
    try:
        return get_runtime()
    except RuntimeError:  # called outside a graph run
        return None


def context_of(runtime: Runtime | None) -> ESCContext:
    """The run's ``ESCContext``; a default one when the graph was run without context.

    A graph compiled with ``context_schema=ESCContext`` gets a dict context coerced by LangGraph; one compiled
    without it passes the dict through, and its ``ESCContext`` fields (``models``, ``locale``, ...) are read here
    the same way; other keys are left to the graph's own nodes.
    """
    ctx = getattr(runtime, "context", None) if runtime is not None else None
    if isinstance(ctx, ESCContext):
        return ctx
    if isinstance(ctx, Mapping):
        return ESCContext(**{k: v for k, v in ctx.items() if k in _CONTEXT_FIELDS})
    return ESCContext()


class AgentNode(Runnable[dict, dict]):
    """A graph node: ``flow(state, runtime)`` yields its model calls and returns a partial state update."""

    name: str = "agent"

    # -- to implement: flow (model-calling agents) or run (nodes that call no model) --------------------------
    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        return drive(self.flow(state, runtime))

    async def arun(self, state: dict, runtime: Runtime | None = None) -> dict:
        if type(self).run is not AgentNode.run:
            # a node written as plain ``run``: in a worker thread, so the event loop is never blocked
            return await asyncio.to_thread(self.run, state, runtime)
        return await adrive(self.flow(state, runtime))

    # -- direct use -----------------------------------------------------------------------------------------
    def __call__(self, state: dict, runtime: Runtime | None = None) -> dict:
        return self.run(state, runtime)

    async def acall(self, state: dict, runtime: Runtime | None = None) -> dict:
        return await self.arun(state, runtime)

    # -- Runnable protocol (what StateGraph calls) -----------------------------------------------------------
    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self._call_with_config(lambda state: self.run(state, _current_runtime()), input, config)

    async def ainvoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        async def _run(state: dict) -> dict:
            return await self.arun(state, _current_runtime())

        return await self._acall_with_config(_run, input, config)

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return name or self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
