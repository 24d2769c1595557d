"""SweetieChat: seeker message -> safety gate -> strategy counselor -> supporter -> reply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from escgraph.agents import SafetyGate, StrategyCounselor, Supporter, route_after_safety
from escgraph.graphs.registry import register_graph
from escgraph.types import ESCContext, ESCState

__all__ = ["build_sweetiechat"]


@register_graph("sweetiechat", "Strategy counselor picks an ESConv strategy, supporter replies with it (SweetieChat).",
                uses_planner=True)
def build_sweetiechat(*, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None,
                      store: Any = None, safety: Any = None, locale: str | None = None,
                      planner: Any = None, planner_mode: str = "planner", name: str = "sweetiechat") -> Any:
    """Compile the SweetieChat graph.

    ``models`` maps roles to chat models (``counselor`` is used by both agents); roles left out are taken from
    the run's ``ESCContext`` at call time, so one compiled graph can serve many model configurations.
    ``planner``: an external strategy planner (a folder from ``escgraph planner train``, ``llm:<spec>``, or an
    object); ``planner_mode`` "planner" follows it, "hybrid" lets the LLM override it with a reason.
    """
    from escgraph.agents.llm_planner import resolve_planner

    counselor = (models or {}).get("counselor")
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate(detector=safety, locale=locale))
    builder.add_node("strategy_counselor", StrategyCounselor(counselor, planner=resolve_planner(planner),
                                                             planner_mode=planner_mode))
    builder.add_node("supporter", Supporter(counselor))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety,
                                  {"crisis": END, "continue": "strategy_counselor"})
    builder.add_edge("strategy_counselor", "supporter")
    builder.add_edge("supporter", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
