"""KEMI: knowledge-enhanced mixed initiative — safety gate → knowledge retrieval (HEAL-schema graph) →
initiative and strategy decision → supporter using the retrieved cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from escgraph.agents import SafetyGate, Supporter, route_after_safety
from escgraph.agents.initiative import InitiativeDecider
from escgraph.agents.knowledge_retriever import KnowledgeRetrieverNode
from escgraph.graphs.registry import register_graph
from escgraph.types import ESCContext, ESCState

__all__ = ["build_kemi"]


@register_graph("kemi", "Retrieves similar cases from a HEAL-schema knowledge graph and decides whether to take the "
                        "initiative (ask, suggest, inform) or reflect (KEMI).",
                uses_planner=True, uses_knowledge_graph=True)
def build_kemi(*, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None, store: Any = None,
               safety: Any = None, locale: str | None = None, knowledge_graph: Any = None, k: int = 2,
               planner: Any = None, planner_mode: str = "planner", name: str = "kemi") -> Any:
    """``knowledge_graph``: a :class:`~escgraph.memory.knowledge_graph.KnowledgeGraph`, a path to a saved one, or a
    pinned ``path@hash`` (default: the run context's, else escgraph's authored graph). ``planner``: an external
    strategy planner for the initiative decision (see :class:`~escgraph.agents.initiative.InitiativeDecider`)."""
    from escgraph.agents.llm_planner import resolve_planner

    if knowledge_graph is not None:
        from escgraph.memory.knowledge_graph import resolve_knowledge_graph

        knowledge_graph = resolve_knowledge_graph(knowledge_graph)
    counselor = (models or {}).get("counselor")
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate(detector=safety, locale=locale))
    builder.add_node("knowledge_retriever", KnowledgeRetrieverNode(knowledge_graph, k=k))
    builder.add_node("initiative", InitiativeDecider(counselor, planner=resolve_planner(planner),
                                                     planner_mode=planner_mode))
    builder.add_node("supporter", Supporter(counselor))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety, {"crisis": END, "continue": "knowledge_retriever"})
    builder.add_edge("knowledge_retriever", "initiative")
    builder.add_edge("initiative", "supporter")
    builder.add_edge("supporter", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
