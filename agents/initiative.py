"""KEMI's mixed-initiative decision: take the initiative (ask, suggest, inform) or reflect, informed by cases
retrieved from the knowledge graph; writes the strategy and a ``plan`` whose guidance carries the cases' responses.

The model's choice is kept within sensible bounds without a model: no suggestion before the seeker has spoken
twice, and not more than ``max_actions_in_a_row`` initiative-taking moves in a row (a reflection comes next).

With an external strategy planner (``escgraph.planner``; the glue is :mod:`escgraph.agents.planner_guidance`),
``planner_mode="planner"`` takes the planner's first strategy and its move (Question: ask, Providing Suggestions:
suggest, Information: inform, else reflect) without asking the model; ``"hybrid"`` shows the model the planner's
ranking and lets it choose. The same bounds apply, and ``state["planner"]`` records the distribution and whether it
was followed.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from escgraph.agents._flow import Flow, ask
from escgraph.agents._kinds import StructuredAgent
from escgraph.agents._models import resolve_model, role_config
from escgraph.agents._dialogue import dialogue_lines, message_text
from escgraph.agents._text import clean_rationale
from escgraph.agents.initiative_measures import counselor_action
from escgraph.agents.planner_guidance import PlannerGuided
from escgraph.agents.strategy_counselor import STAGE_OF_STRATEGY, StageName, StrategyName
from escgraph.prompts import PromptTemplate
from escgraph.types import STRATEGIES

__all__ = ["InitiativeDecision", "InitiativeDecider", "MOVE_STRATEGY"]

Move = Literal["reflect", "ask", "suggest", "inform"]
_MOVE_OF = {"Question": "ask", "Providing Suggestions": "suggest", "Information": "inform"}  # else reflect
MOVE_STRATEGY = {"ask": "Question", "suggest": "Providing Suggestions", "inform": "Information",
                 "reflect": "Reflection of feelings"}
_MOVE_GUIDANCE = {
    "ask": "Take the initiative: ask one open question that helps you understand their situation.",
    "suggest": "Take the initiative: offer one concrete idea, drawn from what helped in similar cases, as an option.",
    "inform": "Take the initiative: share one useful fact or resource that fits their problem.",
    "reflect": "Reflect: name what they feel and show you understand; do not steer.",
}


class InitiativeDecision(BaseModel):
    move: Move
    strategy: StrategyName
    stage: StageName
    rationale: str = Field(max_length=200)


def _cases(state: dict) -> list[dict]:
    return [r for r in state.get("retrieved") or [] if r.get("kind") == "knowledge"]


class InitiativeDecider(PlannerGuided, StructuredAgent):
    name = prompt_name = "initiative"
    schema = InitiativeDecision

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 role: str = "counselor", max_actions_in_a_row: int = 2, min_seeker_turns_to_suggest: int = 2,
                 planner: Any = None, planner_mode: str = "planner") -> None:
        self.set_planner(planner, planner_mode)
        super().__init__(model, prompt=prompt, role=role)
        self.max_actions_in_a_row = max_actions_in_a_row
        self.min_seeker_turns_to_suggest = min_seeker_turns_to_suggest

    @staticmethod
    def _past_moves(state: dict) -> list[str]:
        return [counselor_action(message_text(m)) or "reflect" for m in state.get("messages", [])
                if isinstance(m, AIMessage)]

    def messages(self, state: dict, note: str = "") -> list:
        cases = "\n".join(f"- {c['text']} (helped: " + "; ".join(r["text"] for r in c["responses"][:2]) + ")"
                          for c in _cases(state)) or "(none found)"
        user = self.prompt.render("user", situation=state.get("situation") or "not stated",
                                  dialogue=dialogue_lines(state.get("messages", [])), cases=cases,
                                  moves=", ".join(self._past_moves(state)[-4:]) or "none yet")
        if note:
            user = f"{user}\n\n{note}"
        return [SystemMessage(self.prompt.render("system", strategies=", ".join(STRATEGIES))), HumanMessage(user)]

    # -- external planner -------------------------------------------------------------------------------------
    def _planned(self, state: dict, distribution: dict[str, float]) -> dict:
        strategy, rationale = self.planner_first(distribution)
        decision = InitiativeDecision(move=_MOVE_OF.get(strategy, "reflect"), strategy=strategy,
                                      stage=STAGE_OF_STRATEGY[strategy], rationale=rationale)
        return self.with_planner_record(self.finish(state, decision), distribution, None)

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        distribution = self.planner_distribution(state)
        if distribution is None:
            return (yield from super().flow(state, runtime))
        if self.planner_mode == "planner":
            return self._planned(state, distribution)
        # hybrid: the model chooses, with the planner's ranking shown to it
        chooser = resolve_model(self.model, runtime, self.role).with_structured_output(self.schema)
        messages = self.messages(state, self.planner_note(distribution, another="another"))
        decision = yield ask(chooser, messages, config=role_config(self.role, self.name))
        return self.with_planner_record(self.finish(state, decision), distribution, decision.strategy)

    def finish(self, state: dict, decision: InitiativeDecision) -> dict:
        move, why = decision.move, clean_rationale(decision.rationale) or "fits this moment"
        seeker_turns = sum(isinstance(m, HumanMessage) for m in state.get("messages", []))
        if move == "suggest" and seeker_turns < self.min_seeker_turns_to_suggest:
            move, why = "ask", "too early to suggest: understand the problem first"
        past = self._past_moves(state)
        if move != "reflect" and len(past) >= self.max_actions_in_a_row and \
                all(m != "reflect" for m in past[-self.max_actions_in_a_row:]):
            move, why = "reflect", f"{self.max_actions_in_a_row} initiative-taking moves in a row: reflect now"
        strategy = decision.strategy  # kept when it carries out the move, else the move's own strategy
        if move != decision.move or strategy not in _fits(move):
            strategy = MOVE_STRATEGY[move]
        cases = _cases(state)
        helped = [r["text"] for c in cases for r in c["responses"][:1]]
        guidance = " ".join([_MOVE_GUIDANCE[move]] + ([f"In similar cases, this helped: {' / '.join(helped[:2])}"]
                                                       if helped else []))
        return {"strategy": strategy, "stage": decision.stage, "strategy_rationale": f"{move}: {why}",
                "strategy_history": [strategy],
                "plan": {"initiative": move, "guidance": guidance, "cases": [c["id"] for c in cases],
                         "skill_id": None}}


def _fits(move: str) -> set[str]:
    """Strategies that carry out a move."""
    return {"ask": {"Question"}, "suggest": {"Providing Suggestions"}, "inform": {"Information"},
            "reflect": {"Reflection of feelings", "Restatement or Paraphrasing", "Affirmation and Reassurance",
                        "Self-disclosure", "Others"}}[move]
