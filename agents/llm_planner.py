"""The zero-shot LLM strategy planner, and planner specs that may name one.

:class:`LLMPlanner` asks any chat model, through the strategy counselor's own prompt and schema, for the next
strategy (its distribution is one-hot on the answer). It lives with the agents because it *is* one: the core
:mod:`escgraph.planner` (trained planners, cases, pins) knows nothing of agents.

:func:`load_planner` and :func:`resolve_planner` accept everything :mod:`escgraph.planner`'s do, plus
``llm:<model spec>`` (``llm:`` alone is the embedded model): graphs and the CLI build planners through them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from escgraph import planner as core
from escgraph.agents.strategy_counselor import StrategyCounselor
from escgraph.types import STRATEGIES

__all__ = ["LLMPlanner", "LLM_PREFIX", "load_planner", "resolve_planner"]

LLM_PREFIX = "llm:"


class LLMPlanner:
    """Zero-shot: the strategy counselor's own prompt and schema on any chat model."""

    kind = "zero-shot"

    def __init__(self, model: Any) -> None:
        self.model = model

    def distributions(self, cases: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
        counselor = StrategyCounselor(self.model)
        out = []
        for case in cases:
            messages = [HumanMessage(t["text"]) if t.get("role") == "seeker" else
                        AIMessage(t["text"], response_metadata={"strategy": t.get("strategy")})
                        for t in case.get("context") or []]
            history = [t["strategy"] for t in case.get("context") or [] if t.get("strategy")]
            update = counselor({"messages": messages, "situation": case.get("situation") or "",
                                "strategy_history": history})
            out.append({s: float(s == update["strategy"]) for s in STRATEGIES})
        return out


def _llm_planner(text: str) -> LLMPlanner:
    from escgraph.llm import load_chat_model

    return LLMPlanner(load_chat_model(text[len(LLM_PREFIX):] or "local", temperature=0.0, seed=0))


def load_planner(spec: str | Path) -> Any:
    """A planner folder, or ``llm:<model spec>`` for the zero-shot LLM planner."""
    text = str(spec)
    return _llm_planner(text) if text.startswith(LLM_PREFIX) else core.TrainedPlanner(text)


def resolve_planner(spec: Any) -> Any:
    """A planner object from a graph option: an object (returned as is), ``llm:<spec>``, a folder, or a pinned
    ``folder@hash`` (checked)."""
    if isinstance(spec, (str, Path)) and str(spec).startswith(LLM_PREFIX):
        return _llm_planner(str(spec))
    return core.resolve_planner(spec)
