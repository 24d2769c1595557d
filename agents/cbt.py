"""MADP's CBT agents (single-turn mental-health QA grounded in the A-B-C model).

Explorer (A: activating events) and Empathizer (C: emotional consequences) read the post; the Interpreter
(B: beliefs and cognitive distortions) reads the post and both findings; the deductive :class:`CBTPlanner` turns
the analysis into a :class:`SupportPlan` (understanding, validation, reframe, concrete steps, when to seek
professional help) that the answer follows. Findings accumulate in ``state["analysis"]``; the plan goes to
``state["plan"]`` with a ``guidance`` text the supporter reads.
"""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents._kinds import StructuredAgent, TextAgent
from escgraph.agents._dialogue import last_seeker_text
from escgraph.agents._text import clean_rationale, clean_reply, is_degenerate

__all__ = ["Explorer", "Empathizer", "Interpreter", "CBTPlanner", "SupportPlan", "BeliefReading", "DISTORTIONS"]

DISTORTIONS = ("all-or-nothing thinking", "catastrophizing", "mind reading", "fortune telling",
               "overgeneralization", "personalization", "labeling", "should statements", "emotional reasoning",
               "discounting the positive", "none")
DistortionName = Literal["all-or-nothing thinking", "catastrophizing", "mind reading", "fortune telling",
                         "overgeneralization", "personalization", "labeling", "should statements",
                         "emotional reasoning", "discounting the positive", "none"]


def _post(state: dict) -> str:
    return last_seeker_text(state.get("messages", [])).strip()[:4000] or "(empty post)"


class _Finding(TextAgent):
    """An analyst writing two plain sentences into ``analysis[key]``."""

    key = "finding"

    def messages(self, state: dict) -> list:
        return [SystemMessage(self.prompt.render("system")), HumanMessage(self.prompt.render("user", post=_post(state)))]

    def finish(self, state: dict, raw: str) -> dict:
        text = clean_reply(raw, max_sentences=2)
        if is_degenerate(text):
            text = ""
        return {"analysis": {self.key: text}}


class Explorer(_Finding):
    name, key, prompt_name = "explorer", "events", "cbt_explorer"


class Empathizer(_Finding):
    name, key, prompt_name = "empathizer", "emotions", "cbt_empathizer"


class BeliefReading(BaseModel):
    distortion: DistortionName
    belief: str = Field(max_length=200, description="the belief linking the events to the feelings")
    why: str = Field(max_length=200, description="why it is (or is not) a distortion")


class Interpreter(StructuredAgent):
    """B of A-B-C, from the post and the other two analysts' findings (run it after both)."""

    name, prompt_name = "interpreter", "cbt_interpreter"
    schema = BeliefReading

    def messages(self, state: dict) -> list:
        found = state.get("analysis") or {}
        user = self.prompt.render("user", post=_post(state), events=found.get("events") or "not found",
                                  emotions=found.get("emotions") or "not found")
        return [SystemMessage(self.prompt.render("system", distortions=", ".join(DISTORTIONS))), HumanMessage(user)]

    def finish(self, state: dict, reading: BeliefReading) -> dict:
        return {"analysis": {"distortion": reading.distortion, "belief": clean_rationale(reading.belief),
                             "why": clean_rationale(reading.why)}}


class SupportPlan(BaseModel):
    understanding: str = Field(max_length=240, description="the situation and feelings in the person's terms")
    validation: str = Field(max_length=200, description="why the feelings make sense")
    reframe: str = Field(max_length=240, description="a kinder, more balanced way to see it")
    steps: list[str] = Field(min_length=1, max_length=3, description="small concrete things to try")
    professional_help: str = Field(max_length=200, description="when to talk to a professional or crisis line")


_PROFESSIONAL = ("If these feelings last for weeks, get in the way of daily life, or you ever think about harming "
                 "yourself, please talk to a doctor or counselor, or call a crisis line.")


class CBTPlanner(StructuredAgent):
    """Deductive planner: ``plan`` = SupportPlan fields + ``guidance`` (the plan as numbered instructions)."""

    name, prompt_name = "cbt_planner", "cbt_planner"
    schema = SupportPlan

    def messages(self, state: dict) -> list:
        a = state.get("analysis") or {}
        user = self.prompt.render("user", post=_post(state), events=a.get("events") or "not found",
                                  emotions=a.get("emotions") or "not found", belief=a.get("belief") or "not found",
                                  distortion=a.get("distortion") or "none", why=a.get("why") or "")
        return [SystemMessage(self.prompt.render("system")), HumanMessage(user)]

    def finish(self, state: dict, plan: SupportPlan) -> dict:
        a = state.get("analysis") or {}
        # a field the model left empty falls back to what the analysts found, so the answer always has a plan
        fields = {
            "understanding": clean_rationale(plan.understanding, max_chars=240)
            or " ".join(x for x in (a.get("events"), a.get("emotions")) if x)[:240],
            "validation": clean_rationale(plan.validation) or "Feeling this way makes sense given what happened.",
            "reframe": clean_rationale(plan.reframe, max_chars=240)
            or (f"The thought \"{a['belief']}\" may be harsher than the facts." if a.get("belief")
                else "One hard moment does not decide who you are or how things will go."),
            "steps": [s for s in (clean_rationale(x) for x in plan.steps) if s]
            or ["Pick one small, kind thing to do for yourself today."],
            "professional_help": clean_rationale(plan.professional_help) or _PROFESSIONAL,
        }
        guidance = "\n".join([f"1. Show you understand: {fields['understanding']}",
                              f"2. Validate: {fields['validation']}", f"3. Offer a reframe: {fields['reframe']}",
                              "4. Suggest: " + " ".join(fields["steps"]),
                              f"5. When to seek professional help: {fields['professional_help']}"])
        return {"plan": {**fields, "distortion": a.get("distortion"), "guidance": guidance, "skill_id": None},
                "strategy": "Providing Suggestions", "stage": "action",
                "strategy_rationale": "MADP: the answer follows a CBT support plan",
                "strategy_history": ["Providing Suggestions"]}
