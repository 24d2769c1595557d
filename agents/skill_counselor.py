"""Skill-informed strategy counselor (ESC-Skills): picks one retrieved skill and the strategy to carry it out.

It reads ``retrieved`` (from :class:`SkillRetrieverNode`) and ``assessment`` (from the state tracker), chooses a
skill by its number in the list — a fixed enum, so constrained decoding on a small model always yields a valid
choice — and writes ``plan`` = {skill_id, skill_name, guidance, avoid} for the supporter. With no skills retrieved
it behaves exactly like :class:`StrategyCounselor`.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents._dialogue import dialogue_lines
from escgraph.agents._models import resolve_prompt
from escgraph.agents.strategy_counselor import (
    StageName,
    StrategyCounselor,
    StrategyDecision,
    StrategyName,
    strategy_definitions,
)
from escgraph.prompts import PromptTemplate
from escgraph.types import STRATEGIES

__all__ = ["SkillStrategyCounselor", "SkillDecision"]

MAX_SKILLS = 5


class SkillDecision(BaseModel):
    """Structured output: the skill (by number) first, then the strategy, stage and reasons (bounded)."""

    skill: Literal["1", "2", "3", "4", "5", "none"]
    strategy: StrategyName
    stage: StageName
    rationale: str = Field(max_length=200, description="one short sentence: why this skill and strategy now")
    repeat_reason: str = Field(
        default="", max_length=160,
        description="only when repeating the same strategy a third time in a row: why that is right",
    )


class SkillStrategyCounselor(StrategyCounselor):
    name = skill_prompt_name = "skill_counselor"  # self.prompt stays the strategy counselor's, for no skills

    def __init__(self, model=None, *, prompt: PromptTemplate | str | None = None, max_repeat: int = 2,  # noqa: ANN001
                 role: str = "counselor", planner=None, planner_mode: str = "hybrid") -> None:  # noqa: ANN001
        # with a planner, "hybrid" keeps the skill choice (the LLM sees the planner's distribution)
        super().__init__(model, max_repeat=max_repeat, role=role, planner=planner, planner_mode=planner_mode)
        self.skill_prompt = resolve_prompt(prompt, self.skill_prompt_name)

    @staticmethod
    def _skills(state: dict) -> list[dict]:
        return [r for r in state.get("retrieved") or [] if r.get("kind") == "skill"][:MAX_SKILLS]

    def messages(self, state: dict, repeat_note: str = "") -> list:
        skills = self._skills(state)
        if not skills:
            return super().messages(state, repeat_note)
        defs = strategy_definitions()
        strategy_list = "\n".join(f"- {name}: {defs[name]['definition']}" for name in STRATEGIES)
        listing = "\n".join(
            f"{i}. {s['name']}: {s['summary']} (strategies: {', '.join(s.get('strategies', []))})"
            for i, s in enumerate(skills, 1))
        assessment = state.get("assessment") or {}
        seeker_state = ", ".join(f"{k} {assessment[k]}" for k in ("emotion", "intensity", "stage") if k in assessment)
        history = state.get("strategy_history") or []
        user = self.skill_prompt.render(
            "user", situation=state.get("situation") or "not stated", seeker_state=seeker_state or "unknown",
            dialogue=dialogue_lines(state.get("messages", [])), skills=listing,
            recent_strategies=", ".join(history[-3:]) or "none yet", repeat_note=repeat_note)
        return [SystemMessage(self.skill_prompt.render("system", strategy_list=strategy_list)), HumanMessage(user)]

    def _plan(self, state: dict, decision: SkillDecision) -> dict:
        skills = self._skills(state)
        if decision.skill == "none" or int(decision.skill) > len(skills):
            return {"skill_id": None}
        chosen = skills[int(decision.skill) - 1]
        steps = " ".join(f"({i}) {step}" for i, step in enumerate(chosen.get("guidance", []), 1))
        avoid = " ".join(chosen.get("risks", [])[:1])
        return {"skill_id": chosen["id"], "skill_name": chosen["name"],
                "guidance": f"Follow the skill '{chosen['name']}': {steps} Avoid: {avoid}".strip(),
                "avoid": avoid}

    def decision_schema(self, state: dict) -> type[BaseModel]:
        return SkillDecision if self._skills(state) else StrategyDecision

    def complete(self, state: dict, decision: BaseModel) -> dict:
        if not isinstance(decision, SkillDecision):  # no skills retrieved: a plain strategy choice
            return {**self._finish(state, decision), "plan": {"skill_id": None}}
        update = self._finish(state, StrategyDecision(strategy=decision.strategy, stage=decision.stage,
                                                      rationale=decision.rationale,
                                                      repeat_reason=decision.repeat_reason))
        update["plan"] = self._plan(state, decision)
        return update
