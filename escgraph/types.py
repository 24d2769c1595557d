"""Graph state and run context shared by every agent and graph (ARCHITECTURE.md section 3).

State holds only what changes per turn and must be checkpointed. Heavy shared objects (chat models, safety
detector, skills bank, knowledge graph, store) travel in :class:`ESCContext`, never in state.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

if TYPE_CHECKING:  # imported lazily: core must not import agents at runtime
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "STRATEGIES",
    "Strategy",
    "Stage",
    "SafetyVerdict",
    "StrategyChoice",
    "SeekerAssessment",
    "ESCState",
    "ESCContext",
    "ROLES",
]


class Strategy(str, Enum):
    """The eight ESConv support strategies (Liu et al., 2021)."""

    QUESTION = "Question"
    RESTATEMENT = "Restatement or Paraphrasing"
    REFLECTION = "Reflection of feelings"
    SELF_DISCLOSURE = "Self-disclosure"
    AFFIRMATION = "Affirmation and Reassurance"
    SUGGESTIONS = "Providing Suggestions"
    INFORMATION = "Information"
    OTHERS = "Others"


STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)

Stage = Literal["exploration", "comforting", "action"]

ROLES: tuple[str, ...] = ("counselor", "seeker", "judge", "critic", "analyst", "safety")


class SafetyVerdict(BaseModel):
    """What the safety gate decided about one seeker message."""

    crisis: bool
    category: str = Field(description="none, suicide, self_harm, abuse, violence, acute_danger")
    score: float = Field(ge=0.0, le=1.0, description="combined risk score in [0, 1]")
    signals: dict[str, float] = Field(default_factory=dict, description="per-signal scores that were combined")
    reasons: list[str] = Field(default_factory=list, description="short human-readable reasons")
    language: str | None = None


class StrategyChoice(BaseModel):
    """The strategy counselor's decision for the next supporter turn."""

    strategy: str
    stage: str
    rationale: str = ""


class SeekerAssessment(BaseModel):
    """What a tracker believes about the seeker right now."""

    emotion: str = "unknown"
    intensity: int = Field(default=3, ge=1, le=5)
    stage: str = "exploration"


def _merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for parallel writers of one dict (each adds its own keys)."""
    return {**(left or {}), **(right or {})}


class ESCState(TypedDict, total=False):
    """Per-turn state of an emotional support conversation.

    ``messages`` use LangGraph's ``add_messages`` reducer (seeker turns are ``HumanMessage``, counselor turns
    ``AIMessage``); ``debate``, ``critiques`` and ``strategy_history`` accumulate with ``operator.add``; the rest is
    overwritten by whichever node last wrote it.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    situation: str
    seeker_id: str
    assessment: dict[str, Any]
    strategy: str
    stage: str
    strategy_rationale: str
    strategy_history: Annotated[list[str], operator.add]
    retrieved: list[dict[str, Any]]  # ids + short text of skills / knowledge used this turn
    debate: Annotated[list[dict[str, Any]], operator.add]
    critiques: Annotated[list[dict[str, Any]], operator.add]
    plan: dict[str, Any]
    analysis: Annotated[dict[str, Any], _merge_dicts]  # per-analyst findings (MADP's explorer, empathizer, ...)
    memories: list[dict[str, Any]]  # facts recalled about this seeker from earlier conversations
    planner: dict[str, Any]  # an external strategy planner's distribution for this turn, and whether it was followed
    draft: str
    reply: str
    reply_source: str  # model, model_retry, fallback, safety_gate
    safety: dict[str, Any]  # SafetyVerdict.model_dump() of the latest seeker message
    turn: int


@dataclass
class ESCContext:
    """Run context handed to every node through LangGraph's ``Runtime`` (``context_schema=ESCContext``).

    ``models`` maps a role (see :data:`ROLES`) to a chat model; :meth:`model` falls back to ``counselor`` and then
    to the embedded default, loaded once per process.
    """

    models: dict[str, "BaseChatModel"] = field(default_factory=dict)
    safety: Any = None  # escgraph.agents.safety.SafetyDetector; None means the default detector
    locale: str = "en"
    skills_bank: Any = None
    knowledge_graph: Any = None
    store: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def model(self, role: str) -> "BaseChatModel":
        if role in self.models:
            return self.models[role]
        if "counselor" in self.models:
            return self.models["counselor"]
        from escgraph.llm import default_chat_model

        return default_chat_model()
