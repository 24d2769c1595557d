"""MentalAgora debaters: counselors holding one stance each argue how to answer the seeker.

When skills were retrieved earlier in the graph (``retrieved`` items of kind ``skill``), debaters see them too, so
a debate can weigh the skills bank's know-how.

A :class:`Debater` node reads its stance and round from the input LangGraph's ``Send`` gives it (so one node
serves every stance in parallel) and appends one entry to ``debate``: ``{turn, round, stance, name, text}``. It sees
the debate so far — earlier rounds of this turn — never its own round's parallel arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from escgraph.agents._kinds import TextAgent
from escgraph.agents._dialogue import last_seeker_text
from escgraph.agents._text import clean_reply, is_degenerate
from escgraph.prompts import load_data

__all__ = ["Stance", "Debater", "default_stances", "debate_of_turn", "format_debate"]


class Stance(BaseModel):
    key: str
    name: str
    view: str


def default_stances() -> list[Stance]:
    """The built-in stances (``agents/prompts/stances.yaml``): reframing, unconditional positive regard,
    solution-focused, motivational interviewing."""
    return [Stance(key=k, **v) for k, v in load_data("stances")["stances"].items()]


def debate_of_turn(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    turn = int(state.get("turn") or 0)
    return [e for e in state.get("debate") or [] if e.get("turn") == turn]


def format_debate(entries: list[dict[str, Any]], max_chars: int = 300) -> str:
    if not entries:
        return "(nobody has spoken yet)"
    return "\n".join(f"- [{e['name']}, round {e['round']}] {e['text'][:max_chars]}" for e in entries)


class Debater(TextAgent):
    """One debate contribution for ``state["stance"]`` in round ``state["debate_round"]``."""

    name = prompt_name = "debater"

    def messages(self, state: dict) -> list:
        stance = Stance.model_validate(state["stance"])
        round_no = int(state.get("debate_round") or 1)
        earlier = [e for e in debate_of_turn(state) if e["round"] < round_no]
        skills = [r for r in state.get("retrieved") or [] if r.get("kind") == "skill"][:3]
        user = self.prompt.render("user", situation=state.get("situation") or "not stated",
                                  seeker=" ".join(last_seeker_text(state.get("messages", [])).split())[:500],
                                  skills="; ".join(f"{s['name']}: {s.get('summary', '')}" for s in skills) or "none",
                                  debate=format_debate(earlier), round=round_no)
        return [SystemMessage(self.prompt.render("system", stance_name=stance.name, stance_view=stance.view)),
                HumanMessage(user)]

    def finish(self, state: dict, raw: str) -> dict:
        stance = Stance.model_validate(state["stance"])
        text = clean_reply(raw, max_sentences=2)
        if is_degenerate(text):
            text = f"From {stance.name.lower()}: {stance.view}"  # the stance itself still informs the counselor
        return {"debate": [{"turn": int(state.get("turn") or 0), "round": int(state.get("debate_round") or 1),
                            "stance": stance.key, "name": stance.name, "text": text}]}

