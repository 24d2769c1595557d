"""Add long-term seeker memory to any graph: recall before it, save after it (opt-in by ``seeker_id``)."""

from __future__ import annotations

import operator
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import END, START, StateGraph

from escgraph.agents.memory_agents import FactExtractor, MemoryRecall, MemoryWriter
from escgraph.types import ESCContext, ESCState

__all__ = ["with_seeker_memory"]


def with_seeker_memory(graph: Any, *, store: Any, checkpointer: Any = None, extractor: FactExtractor | None = None,
                       k: int = 4, name: str | None = None) -> Any:
    """Wrap a compiled graph (built without a checkpointer) as recall → graph → save, compiled with ``store``.

    Invoke it with ``{"messages": [...], "seeker_id": "..."}``; without a seeker id nothing is recalled or saved.
    """
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("memory_recall", MemoryRecall(k=k))
    builder.add_node("counselor", _added_only(graph))
    builder.add_node("memory_writer", MemoryWriter(extractor))
    builder.add_edge(START, "memory_recall")
    builder.add_edge("memory_recall", "counselor")
    builder.add_edge("counselor", "memory_writer")
    builder.add_edge("memory_writer", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name or f"{graph.name}+memory")


def _appending_keys() -> tuple[str, ...]:
    """ESCState keys whose reducer is ``operator.add`` (a list that grows by what a node returns)."""
    hints = get_type_hints(ESCState, include_extras=True)
    return tuple(key for key, hint in hints.items() if operator.add in getattr(hint, "__metadata__", ()))


def _added_only(graph: Any) -> Any:
    """The wrapped graph as a node returning, for appending keys, only what this turn added.

    A compiled graph used directly as a node returns its whole final state, and the outer graph would then add
    the past entries of ``strategy_history``, ``debate`` and ``critiques`` to themselves on every turn.
    (``messages`` merge by id and ``analysis`` by key, so repeats of those are harmless.)
    """
    appending = _appending_keys()

    def added(state: ESCState, out: Any) -> dict[str, Any]:
        out = dict(out)
        for key in appending:
            if key in out:
                out[key] = list(out[key])[len(state.get(key) or []):]
        return out

    def counselor(state: ESCState, config: RunnableConfig) -> dict[str, Any]:
        return added(state, graph.invoke(state, config))

    async def acounselor(state: ESCState, config: RunnableConfig) -> dict[str, Any]:
        return added(state, await graph.ainvoke(state, config))

    return RunnableLambda(counselor, afunc=acounselor, name="counselor")
