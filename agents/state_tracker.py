"""Seeker-state tracker: reads the dialogue and estimates the seeker's emotion, its intensity and the stage."""

from __future__ import annotations

from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents._kinds import StructuredAgent
from escgraph.agents._dialogue import dialogue_lines
from escgraph.prompts import PromptTemplate
from escgraph.types import StageName

__all__ = ["SeekerStateTracker", "SeekerStateReading", "EMOTIONS"]

EMOTIONS = ("sadness", "anxiety", "anger", "shame", "guilt", "fear", "loneliness", "frustration", "grief",
            "hopelessness", "stress", "confusion", "calm")
EmotionName = Literal["sadness", "anxiety", "anger", "shame", "guilt", "fear", "loneliness", "frustration", "grief",
                      "hopelessness", "stress", "confusion", "calm"]


class SeekerStateReading(BaseModel):
    """Structured output of the tracker; enums and numbers first so small models finish the JSON."""

    emotion: EmotionName
    intensity: int = Field(ge=1, le=5, description="1 mild .. 5 overwhelming")
    stage: StageName
    summary: str = Field(max_length=200, description="one sentence: the seeker's situation so far")


class SeekerStateTracker(StructuredAgent):
    """Writes ``assessment`` = {emotion, intensity, stage, summary} for the nodes after it (skill retrieval, strategy).

    ``action`` is not reached before the seeker has spoken ``min_turns_before_action`` times (a small model jumps
    to advice too early).
    """

    name = prompt_name = "state_tracker"
    schema = SeekerStateReading

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 role: str = "counselor", min_turns_before_action: int = 2) -> None:
        super().__init__(model, prompt=prompt, role=role)
        self.min_turns_before_action = min_turns_before_action

    def messages(self, state: dict) -> list:
        previous = state.get("assessment") or {}
        user = self.prompt.render("user", situation=state.get("situation") or "not stated",
                                  dialogue=dialogue_lines(state.get("messages", [])),
                                  previous=", ".join(f"{k} {v}" for k, v in previous.items() if k != "summary")
                                  or "none yet")
        return [SystemMessage(self.prompt.render("system", emotions=", ".join(EMOTIONS))), HumanMessage(user)]

    def finish(self, state: dict, reading: SeekerStateReading) -> dict:
        seeker_turns = sum(1 for m in state.get("messages", []) if isinstance(m, HumanMessage))
        stage = reading.stage
        if stage == "action" and seeker_turns < self.min_turns_before_action:
            stage = "exploration" if seeker_turns <= 1 else "comforting"
        summary = " ".join(reading.summary.split()) or (state.get("situation") or "")[:200]
        return {"assessment": {"emotion": reading.emotion, "intensity": reading.intensity, "stage": stage,
                               "summary": summary}}

