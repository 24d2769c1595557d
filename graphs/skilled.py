"""Skill-guided counselor (ESC-Skills): safety gate -> seeker-state tracker -> skill retriever -> skill-informed
strategy counselor -> supporter following the chosen skill's guidance and avoiding its risks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph

from escgraph.agents import (
    SafetyGate,
    SeekerStateTracker,
    SkillRetrieverNode,
    SkillStrategyCounselor,
    Supporter,
    route_after_safety,
)
from escgraph.graphs.registry import register_graph
from escgraph.types import ESCContext, ESCState

__all__ = ["build_skilled"]


@register_graph("skilled", "Tracks the seeker's state, retrieves fitting skills from the skills bank, and replies "
                           "following the chosen skill (ESC-Skills).", uses_skills_bank=True, uses_planner=True)
def build_skilled(*, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None,
                  store: Any = None, safety: Any = None, locale: str | None = None, retriever: Any = None,
                  k: int = 3, planner: Any = None, planner_mode: str = "hybrid", name: str = "skilled") -> Any:
    """Compile the skilled graph.

    The skills come from ``retriever`` if given, else from the run context's ``skills_bank`` (a retriever over a
    frozen bank version — simulations set it), else from the user's default bank. The state records the
    retrieved skill ids (``retrieved``) and the one followed (``plan["skill_id"]``). ``planner``: an external
    strategy planner whose distribution the skill counselor sees (hybrid) or follows ("planner", no skill).
    """
    from escgraph.agents.llm_planner import resolve_planner

    counselor = (models or {}).get("counselor")
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate(detector=safety, locale=locale))
    builder.add_node("state_tracker", SeekerStateTracker(counselor))
    builder.add_node("skill_retriever", SkillRetrieverNode(retriever, k=k))
    builder.add_node("skill_counselor", SkillStrategyCounselor(counselor, planner=resolve_planner(planner),
                                                               planner_mode=planner_mode))
    builder.add_node("supporter", Supporter(counselor))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety, {"crisis": END, "continue": "state_tracker"})
    builder.add_edge("state_tracker", "skill_retriever")
    builder.add_edge("skill_retriever", "skill_counselor")
    builder.add_edge("skill_counselor", "supporter")
    builder.add_edge("supporter", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
