"""MentalAgora counselor creation: the stance debate plus the seeker's stated preferences become a tailored
counselor (persona + instruction + strategy) for the next reply.

Stated preferences ("just listen, no advice", "be direct") are read from the seeker's messages by a small phrase
detector — they must be honoured even when the model overlooks them — and written into the instruction as rules;
a "no advice" preference also overrides an advice-giving strategy.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents._kinds import StructuredAgent
from escgraph.agents._dialogue import dialogue_lines, message_text
from escgraph.agents._text import clean_rationale
from escgraph.agents.debater import debate_of_turn, format_debate
from escgraph.agents.strategy_counselor import StageName, StrategyName
from escgraph.types import STRATEGIES

__all__ = ["CounselorDesign", "CounselorCreator", "stated_preferences", "PREFERENCE_RULES"]

# preference key -> (phrases that state it, the rule the counselor must follow)
PREFERENCE_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "listen_only": (re.compile(
        r"\bjust (want to |need to )?(listen|vent|be heard|talk)\b|\bno advice\b|\bdon'?t (give|want) (me )?"
        r"(any )?advice\b|\bnot looking for (advice|solutions)\b|\bdon'?t (try to )?fix\b|\bjust hear me\b",
        re.IGNORECASE),
        "The seeker asked you to just listen: reflect and validate, and give no advice or suggestions."),
    "direct": (re.compile(
        r"\bbe (direct|blunt|honest|straight)( with me)?\b|\bstraight talk\b|\bno sugar-?coat\w*|"
        r"\bget to the point\b|\bdon'?t beat around\b", re.IGNORECASE),
        "The seeker asked you to be direct: say it plainly and briefly, without softening phrases."),
    "wants_advice": (re.compile(
        r"\bwhat should i do\b|\b(give|need|want) (me )?(some )?(advice|ideas|tips|suggestions)\b|\bhelp me "
        r"(figure out|decide|plan)\b", re.IGNORECASE),
        "The seeker asked for practical help: offer one concrete, gentle idea they could try."),
    "gentle": (re.compile(r"\b(be gentle|go easy|be kind)( with me)?\b|\bgo slow(ly)?\b", re.IGNORECASE),
               "The seeker asked for gentleness: go slowly and keep your tone soft."),
}
_ADVICE = {"Providing Suggestions", "Information"}


def stated_preferences(messages: list) -> list[str]:
    """Preference keys the seeker stated anywhere in the dialogue, in a stable order (latest wins on conflict:
    asking for advice after "just listen" drops listen_only, and vice versa)."""
    found: dict[str, int] = {}
    seeker = [message_text(m) for m in messages if isinstance(m, HumanMessage)]
    for i, text in enumerate(seeker):
        for key, (pattern, _) in PREFERENCE_RULES.items():
            if pattern.search(text):
                found[key] = i
    if "listen_only" in found and "wants_advice" in found:
        found.pop("wants_advice" if found["listen_only"] >= found["wants_advice"] else "listen_only")
    return [k for k in PREFERENCE_RULES if k in found]


class CounselorDesign(BaseModel):
    strategy: StrategyName
    stage: StageName
    persona: str = Field(max_length=120, description="the counselor in a few words, e.g. a calm, patient listener")
    instruction: str = Field(max_length=320, description="how to write the next reply, from the debate")


class CounselorCreator(StructuredAgent):
    """Writes ``plan`` = {guidance, persona, preferences, stances} and the strategy for the supporter."""

    name = prompt_name = "counselor_creator"
    schema = CounselorDesign

    def messages(self, state: dict) -> list:
        preferences = stated_preferences(state.get("messages", []))
        stated = "; ".join(PREFERENCE_RULES[p][1] for p in preferences) or "none stated"
        user = self.prompt.render("user", situation=state.get("situation") or "not stated",
                                  dialogue=dialogue_lines(state.get("messages", [])), preferences=stated,
                                  debate=format_debate(debate_of_turn(state)))
        return [SystemMessage(self.prompt.render("system", strategies=", ".join(STRATEGIES))), HumanMessage(user)]

    def finish(self, state: dict, design: CounselorDesign) -> dict:
        preferences = stated_preferences(state.get("messages", []))
        strategy = design.strategy
        if "listen_only" in preferences and strategy in _ADVICE:
            strategy = "Reflection of feelings"  # a stated preference outranks the model's choice
        persona = clean_rationale(design.persona, max_chars=120) or "a warm, attentive counselor"
        instruction = clean_rationale(design.instruction, max_chars=320)
        debate = debate_of_turn(state)
        if not instruction:  # the strongest points of the last round stand in for a missing instruction
            last = max((e["round"] for e in debate), default=0)
            instruction = " ".join(e["text"] for e in debate if e["round"] == last)[:320]
        rules = [PREFERENCE_RULES[p][1] for p in preferences]
        guidance = " ".join([f"You are {persona}.", instruction, *rules]).strip()
        plan: dict[str, Any] = {"guidance": guidance, "persona": persona, "preferences": preferences,
                                "stances": sorted({e["stance"] for e in debate}), "skill_id": None}
        return {"plan": plan, "strategy": strategy, "stage": design.stage,
                "strategy_rationale": f"tailored counselor after a {len({e['round'] for e in debate})}-round "
                                      f"debate" + (f"; honouring: {', '.join(preferences)}" if preferences else ""),
                "strategy_history": [strategy]}
