"""MADP: single-turn mental-health QA on CBT's A-B-C model — Explorer and Empathizer in parallel, then the
Interpreter, a deductive planner, and an answer that follows the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from escgraph.agents import SafetyGate, Supporter, route_after_safety
from escgraph.agents.cbt import CBTPlanner, Empathizer, Explorer, Interpreter
from escgraph.graphs.registry import build_graph, register_graph
from escgraph.types import ESCContext, ESCState

__all__ = ["build_madp", "answer_post"]


@register_graph("madp", "CBT A-B-C analysis by an explorer, an empathizer and an interpreter; a deductive plan; an "
                        "answer that follows it (MADP).")
def build_madp(*, models: Mapping[str, BaseChatModel] | None = None, checkpointer: Any = None, store: Any = None,
               safety: Any = None, locale: str | None = None, max_sentences: int = 6, name: str = "madp") -> Any:
    counselor = (models or {}).get("counselor")
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate(detector=safety, locale=locale))
    builder.add_node("explorer", Explorer(counselor))
    builder.add_node("empathizer", Empathizer(counselor))
    builder.add_node("interpreter", Interpreter(counselor))
    builder.add_node("planner", CBTPlanner(counselor))
    builder.add_node("answer", Supporter(counselor, prompt="cbt_answer", max_sentences=max_sentences,
                                         history_turns=2))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate",
                                  lambda s: END if route_after_safety(s) == "crisis" else ["explorer", "empathizer"],
                                  ["explorer", "empathizer", END])
    builder.add_edge(["explorer", "empathizer"], "interpreter")  # waits for both findings
    builder.add_edge("interpreter", "planner")
    builder.add_edge("planner", "answer")
    builder.add_edge("answer", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)


def answer_post(post: str, *, models: Mapping[str, BaseChatModel] | None = None, context: Any = None
                ) -> tuple[str, dict[str, Any]]:
    """Answer one (long) post: returns the answer and the plan it followed (empty for a crisis, which gets the
    safety gate's reply)."""
    if not post or not post.strip():
        raise ValueError("the post is empty")
    graph = build_graph("madp", models=models)
    out = graph.invoke({"messages": [HumanMessage(post)]}, context=context or ESCContext(models=dict(models or {})))
    return out["reply"], dict(out.get("plan") or {}) if out.get("reply_source") != "safety_gate" else {}
