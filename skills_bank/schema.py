"""Skills-bank schema (ESC-Skills, ARCHITECTURE.md §1): intervention units and the skills distilled from them.

An *intervention unit* (IU) is one observed support move: the seeker's state, the counselor's action, and the
outcome (the emotional change after the reply). A *skill* is reusable, person-readable know-how distilled from
units: guidance steps, when to use it and when not to, expected outcomes, risks, related ESConv strategies and
example exchanges. Skills never handle crises — that stays the safety gate's job.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from escgraph.types import STRATEGIES, StageName

__all__ = [
    "SKILL_ID",
    "SkillStatus",
    "Stage",
    "SeekerState",
    "SupportAction",
    "InterventionOutcome",
    "UnitSource",
    "InterventionUnit",
    "Applicability",
    "ExampleExchange",
    "Provenance",
    "Skill",
]

SKILL_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # kebab-case; also the skill's file name
SkillStatus = Literal["active", "retired", "flagged-unsafe"]
Stage = StageName


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- intervention units ----------------------------------------------------------------------------------------
class SeekerState(_Strict):
    emotion: str = Field(description="the seeker's main emotion, e.g. sadness, anxiety, anger, shame")
    intensity: int = Field(ge=1, le=5, description="1 (mild) .. 5 (overwhelming)")
    stage: Stage
    situation: str = Field(description="a one- or two-sentence summary of the seeker's situation so far")


class SupportAction(_Strict):
    strategy: str
    skill_id: str | None = None
    reply: str

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; use one of {list(STRATEGIES)}")
        return value


class InterventionOutcome(_Strict):
    emotion_change: float | None = Field(default=None, description="the judge's signed change after the reply")
    seeker_feedback: str | None = Field(default=None, description="what the seeker said or felt in response")


class UnitSource(_Strict):
    kind: Literal["dataset", "run"]
    name: str = Field(description="dataset name or run folder / run id")
    dialogue: str = Field(description="dialogue or episode id")
    turn: int = Field(ge=0, description="index of the counselor utterance within the dialogue")


class InterventionUnit(_Strict):
    id: str
    state: SeekerState
    action: SupportAction
    outcome: InterventionOutcome
    source: UnitSource


# -- skills ----------------------------------------------------------------------------------------------------
class Applicability(_Strict):
    when_to_use: list[str] = Field(min_length=1)
    when_not_to_use: list[str] = Field(min_length=1)
    stages: list[Stage] = Field(min_length=1, description="helping stages where the skill fits")
    situations: list[str] = Field(default_factory=list, description="problem types it suits; empty = any")
    emotions: list[str] = Field(default_factory=list, description="emotions it suits; empty = any")
    min_intensity: int = Field(default=1, ge=1, le=5)
    max_intensity: int = Field(default=5, ge=1, le=5)


class ExampleExchange(_Strict):
    seeker: str
    supporter: str


class Provenance(_Strict):
    """Why the skill exists: the literature, the units or the episodes that support it."""

    sources: list[str] = Field(default_factory=list, description="e.g. 'Hill, Helping Skills (2020), ch. 7'")
    units: list[str] = Field(default_factory=list, description="intervention unit ids")
    episodes: list[str] = Field(default_factory=list, description="run/episode ids")


class Skill(_Strict):
    id: str = Field(description="kebab-case, unique in the bank; the YAML file is <id>.yaml")
    name: str = Field(min_length=3)
    summary: str = Field(min_length=10)
    guidance: list[str] = Field(min_length=2, description="intervention guidance as ordered steps")
    applicability: Applicability
    expected_outcomes: list[str] = Field(min_length=1)
    risks: list[str] = Field(min_length=1, description="potential risks and how to avoid them")
    strategies: list[str] = Field(min_length=1, description="related ESConv strategies")
    examples: list[ExampleExchange] = Field(min_length=1)
    status: SkillStatus = "active"
    provenance: Provenance = Field(default_factory=Provenance)

    @field_validator("id")
    @classmethod
    def _kebab_id(cls, value: str) -> str:
        if not SKILL_ID.match(value):
            raise ValueError(f"skill id {value!r} must be kebab-case (lowercase letters, digits and dashes)")
        return value

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; use names from {list(STRATEGIES)}")
        return values

    def fits(self, *, stage: str | None = None, emotion: str | None = None, intensity: int | None = None,
             situation: str | None = None) -> bool:
        """Whether the applicability conditions admit this seeker state (unknown parts never exclude)."""
        a = self.applicability
        if self.status != "active":
            return False
        if stage and stage not in a.stages:
            return False
        if intensity is not None and not a.min_intensity <= intensity <= a.max_intensity:
            return False
        if emotion and a.emotions and emotion.lower() not in {e.lower() for e in a.emotions}:
            return False
        if situation and a.situations and situation.lower() not in {s.lower() for s in a.situations}:
            return False
        return True

    def retrieval_text(self) -> str:
        """What the index embeds: name, summary, when to use, situations and emotions."""
        a = self.applicability
        parts = [self.name, self.summary, *a.when_to_use, *a.situations, *a.emotions]
        return "\n".join(p for p in parts if p)
