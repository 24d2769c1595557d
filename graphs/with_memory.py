"""Add long-term seeker memory to any graph: recall before it, save after it (opt-in by ``seeker_id``)."""

from __future__ import annotations

from typing import Any

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
    builder.add_node("counselor", graph)
    builder.add_node("memory_writer", MemoryWriter(extractor))
    builder.add_edge(START, "memory_recall")
    builder.add_edge("memory_recall", "counselor")
    builder.add_edge("counselor", "memory_writer")
    builder.add_edge("memory_writer", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name or f"{graph.name}+memory")
