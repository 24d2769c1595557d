"""Strategy counselor (SweetieChat): reads the dialogue and recommends the next ESConv support strategy."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import dialogue_lines
from escgraph.agents._flow import Flow, ask
from escgraph.agents._models import resolve_model, resolve_prompt, role_config
from escgraph.agents._text import clean_rationale
from escgraph.agents.planner_guidance import PlannerGuided
from escgraph.prompts import PromptTemplate, load_data
from escgraph.types import STRATEGIES, StageName, StrategyName

__all__ = ["StrategyCounselor", "StrategyDecision", "strategy_definitions"]


class StrategyDecision(BaseModel):
    """Structured output of the strategy counselor. Enums come first and strings are bounded so even the
    embedded 135M model returns parseable JSON under constrained decoding."""

    strategy: StrategyName
    stage: StageName
    rationale: str = Field(max_length=200, description="one short sentence: why this strategy now")
    repeat_reason: str = Field(
        default="", max_length=160,
        description="only when repeating the same strategy a third time in a row: why that is right",
    )


def strategy_definitions() -> dict[str, dict[str, str]]:
    return load_data("strategies")["strategies"]


# Where to switch when the model repeats a strategy a third time with no reason: a stage-appropriate neighbour.
_SWITCH_ORDER: dict[str, list[str]] = {
    "exploration": ["Question", "Restatement or Paraphrasing", "Reflection of feelings"],
    "comforting": ["Reflection of feelings", "Affirmation and Reassurance", "Restatement or Paraphrasing"],
    "action": ["Providing Suggestions", "Information", "Affirmation and Reassurance"],
}


class StrategyCounselor(PlannerGuided, AgentNode):
    """Chooses one of the eight strategies, a stage and a rationale for the supporter's next turn.

    It never uses the same strategy more than ``max_repeat`` times in a row without a stated reason: when the
    model does, it is asked once more, and if it still gives no reason the counselor switches to a
    stage-appropriate alternative and says so in the rationale.
    """

    name = prompt_name = "strategy_counselor"

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 max_repeat: int = 2, role: str = "counselor", planner: Any = None,
                 planner_mode: str = "planner") -> None:
        self.model = model
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.max_repeat = max_repeat
        self.role = role
        # an external strategy planner (escgraph.planner): "planner" follows its choice without asking the LLM;
        # "hybrid" shows the LLM its distribution and lets it override with a reason (agents/planner_guidance.py)
        self.set_planner(planner, planner_mode)

    # -- prompt ---------------------------------------------------------------------------------------------
    def messages(self, state: dict, repeat_note: str = "") -> list:
        defs = strategy_definitions()
        strategy_list = "\n".join(f"- {name}: {defs[name]['definition']}" for name in STRATEGIES)
        history = state.get("strategy_history") or []
        user = self.prompt.render(
            "user",
            situation=state.get("situation") or "not stated",
            dialogue=dialogue_lines(state.get("messages", [])),
            recent_strategies=", ".join(history[-3:]) or "none yet",
            repeat_note=repeat_note,
        )
        return [SystemMessage(self.prompt.render("system", strategy_list=strategy_list)), HumanMessage(user)]

    def _would_exceed_repeat(self, state: dict, strategy: str) -> bool:
        history = state.get("strategy_history") or []
        return len(history) >= self.max_repeat and all(s == strategy for s in history[-self.max_repeat:])

    def _repeat_note(self, strategy: str) -> str:
        return (f"Note: '{strategy}' was used {self.max_repeat} times in a row. Choose a different strategy, "
                f"or fill repeat_reason with why repeating it is right.")

    def _finish(self, state: dict, decision: StrategyDecision) -> dict:
        strategy = decision.strategy
        rationale = clean_rationale(decision.rationale) or "(the model gave no usable rationale)"
        if self._would_exceed_repeat(state, strategy):
            if reason := clean_rationale(decision.repeat_reason):
                rationale = f"{rationale} (Repeating on purpose: {reason})"
            else:
                options = [s for s in _SWITCH_ORDER[decision.stage] if s != strategy]
                strategy = options[0]
                rationale = (f"{rationale.rstrip('.')}. Switched from '{decision.strategy}' to '{strategy}': it was already "
                             f"used {self.max_repeat} times in a row with no reason to repeat it.").strip()
        return {
            "strategy": strategy,
            "stage": decision.stage,
            "strategy_rationale": rationale,
            "strategy_history": [strategy],
        }

    def _needs_second_ask(self, state: dict, decision: StrategyDecision) -> bool:
        return self._would_exceed_repeat(state, decision.strategy) and not clean_rationale(decision.repeat_reason)

    # -- node -----------------------------------------------------------------------------------------------
    def decision_schema(self, state: dict) -> type[BaseModel]:
        """The structured output asked of the model (subclasses may widen it, e.g. with a skill choice)."""
        return StrategyDecision

    def complete(self, state: dict, decision: BaseModel) -> dict:
        """The state update for a final decision."""
        return self._finish(state, decision)

    # -- external planner -------------------------------------------------------------------------------------
    def _planner_only(self, state: dict, distribution: dict[str, float]) -> dict:
        strategy, rationale = self.planner_first(distribution)
        decision = StrategyDecision(strategy=strategy, stage=STAGE_OF_STRATEGY.get(strategy, "comforting"),
                                    rationale=rationale, repeat_reason="the trained planner ranks it first")
        return self.with_planner_record(self.complete(state, decision), distribution, None)

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        distribution = self.planner_distribution(state)
        if distribution is not None and self.planner_mode == "planner":
            return self._planner_only(state, distribution)
        note = self.planner_note(distribution) if distribution is not None else ""
        chooser = resolve_model(self.model, runtime, self.role).with_structured_output(self.decision_schema(state))
        config = role_config(self.role, self.name)
        decision = yield ask(chooser, self.messages(state, note), config=config)
        if self._needs_second_ask(state, decision):
            again = f"{note} {self._repeat_note(decision.strategy)}".strip()
            decision = yield ask(chooser, self.messages(state, again), config=config)
        return self.with_planner_record(self.complete(state, decision), distribution, decision.strategy)


# the ESConv stage a strategy usually belongs to, as strategies.yaml gives it
STAGE_OF_STRATEGY: dict[str, str] = {name: d["stage"] for name, d in strategy_definitions().items()}
