"""MentalAgora: counselors of different stances debate for R rounds (in parallel, with LangGraph ``Send``), a
counselor tailored to the debate and the seeker's stated preferences is created, and that counselor replies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from escgraph.agents import SafetyGate, Supporter, route_after_safety
from escgraph.agents.counselor_creator import CounselorCreator
from escgraph.agents.debater import Debater, Stance, debate_of_turn, default_stances
from escgraph.graphs.registry import register_graph
from escgraph.types import ESCContext, ESCState

__all__ = ["build_mentalagora"]


@register_graph("mentalagora", "Counselors of different stances debate in parallel; a counselor tailored to the "
                               "debate and the seeker's stated preferences replies (MentalAgora).")
def build_mentalagora(*, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None,
                      store: Any = None, safety: Any = None, locale: str | None = None,
                      stances: Sequence[Stance | Mapping[str, str]] | None = None, rounds: int = 2,
                      name: str = "mentalagora") -> Any:
    """``stances``: the debaters (default: :func:`default_stances`); ``rounds``: debate rounds per turn."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    chosen = [s if isinstance(s, Stance) else Stance.model_validate(s) for s in (stances or default_stances())]
    if not chosen:
        raise ValueError("mentalagora needs at least one stance")
    counselor = (models or {}).get("counselor")

    def debate_round(state: dict) -> list[Send] | str:
        done = len({e["round"] for e in debate_of_turn(state)})
        if done >= rounds:
            return "counselor_creator"
        payload = {k: v for k, v in state.items() if k in ("messages", "situation", "debate", "turn", "retrieved")}
        return [Send("debater", {**payload, "stance": s.model_dump(), "debate_round": done + 1}) for s in chosen]

    def after_safety(state: dict) -> list[Send] | str:
        return END if route_after_safety(state) == "crisis" else debate_round(state)

    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate(detector=safety, locale=locale))
    builder.add_node("debater", Debater(counselor))
    builder.add_node("debate_join", lambda state: {})  # all of a round's debaters finish before the next round
    builder.add_node("counselor_creator", CounselorCreator(counselor))
    builder.add_node("supporter", Supporter(counselor))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", after_safety, ["debater", "counselor_creator", END])
    builder.add_edge("debater", "debate_join")
    builder.add_conditional_edges("debate_join", debate_round, ["debater", "counselor_creator"])
    builder.add_edge("counselor_creator", "supporter")
    builder.add_edge("supporter", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
