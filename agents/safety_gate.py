"""The safety gate: the node that runs before any reply in every graph (ARCHITECTURE.md section 7).

It checks the latest seeker message. No risk: it records the verdict and the graph continues. Risk: it writes
the calm safety reply with crisis resources itself, and :func:`route_after_safety` sends the graph to the end,
so no counselor, skill or evolved prompt can change or weaken that reply.

    builder.add_node("safety_gate", SafetyGate())
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety, {"crisis": END, "continue": "counselor"})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents._flow import Call, Flow
from escgraph.agents.safety import SafetyDetector, default_detector, safety_reply
from escgraph.types import SafetyVerdict

__all__ = ["SafetyGate", "route_after_safety", "last_human_text", "detector_of"]

SAFETY_CHOICE_KEYS = ("format",)


def detector_of(choice: Any, models: Any = None, model_of: Any = None) -> SafetyDetector:
    """The detector a run context asks for.

    ``choice`` is the context's ``safety``: a :class:`SafetyDetector`, ``None``, or a mapping
    ``{"format": "structured" | "llama_guard"}`` (what a JSON context can say). When the context's ``models`` has a
    ``safety`` role, that model gives the default detector its second opinion in that format; otherwise the
    process-wide default detector (rules and embeddings, no model) decides.
    """
    if isinstance(choice, SafetyDetector):
        return choice
    if choice is not None and not isinstance(choice, Mapping):
        raise ValueError(f"context safety must be a SafetyDetector or a mapping like {{'format': 'llama_guard'}}, "
                         f"got {type(choice).__name__}")
    unknown = sorted(set(choice or {}) - set(SAFETY_CHOICE_KEYS))
    if unknown:
        raise ValueError(f"context safety: unknown key(s) {unknown}; known: {list(SAFETY_CHOICE_KEYS)}")
    model_format = (choice or {}).get("format", "structured")
    if models and "safety" in models:
        return default_detector().with_model(model_of("safety"), model_format)
    if model_format != "structured":
        raise ValueError(f"context safety format {model_format!r} needs a model for the 'safety' role")
    return default_detector()


def last_human_text(messages: Any) -> str | None:
    """Text of the last seeker (human) message, or ``None``. Accepts messages or their dict forms."""
    for message in reversed(list(messages or [])):
        if isinstance(message, HumanMessage):
            return message.text
        if isinstance(message, BaseMessage):
            continue
        if isinstance(message, dict) and (message.get("role") in ("human", "user")
                                          or message.get("type") == "human"):
            content = message.get("content")
            return content if isinstance(content, str) else str(content or "")
    return None


class SafetyGate(AgentNode):
    """Node ``safety_gate``: check the last seeker message; on a crisis, answer with the safety reply.

    Args:
        detector: the :class:`SafetyDetector` to use; default: the run context's ``safety``, else the
            process-wide default detector.
        locale: locale for crisis resources (``"en-GB"``, ``"de"``, ...); default: the run context's ``locale``.
    """

    name = "safety_gate"

    def __init__(self, detector: SafetyDetector | None = None, locale: str | None = None) -> None:
        self.detector = detector
        self.locale = locale

    def _detector(self, runtime: Runtime | None) -> SafetyDetector:
        if self.detector is not None:
            return self.detector
        context = context_of(runtime)
        return detector_of(context.safety, context.models, context.model)

    def _locale(self, runtime: Runtime | None) -> str:
        return self.locale or context_of(runtime).locale or "en"

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        text = last_human_text(state.get("messages"))
        if text is None:
            return self._update(_no_message(), runtime)
        detector = self._detector(runtime)
        verdict = yield Call(lambda: detector.check(text), lambda: detector.acheck(text))
        return self._update(verdict, runtime)

    def _update(self, verdict: SafetyVerdict, runtime: Runtime | None) -> dict:
        update: dict[str, Any] = {"safety": verdict.model_dump()}
        if not verdict.crisis:
            return update
        reply = safety_reply(verdict, self._locale(runtime))
        update.update(reply=reply, reply_source="safety_gate", strategy="Others",
                      messages=[AIMessage(reply, name="safety_gate")])
        return update


def _no_message() -> SafetyVerdict:
    return SafetyVerdict(crisis=False, category="none", score=0.0, reasons=["no seeker message"])


def route_after_safety(state: dict) -> str:
    """``"crisis"`` when the gate flagged the latest message, else ``"continue"``."""
    safety = state.get("safety") or {}
    return "crisis" if safety.get("crisis") else "continue"
