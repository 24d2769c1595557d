"""Critic and reviser: review a draft reply against a rubric, revise it, stop at a bound (ARCHITECTURE.md §8: a metric
returns a score *and* textual feedback the loop can use).

The critic combines the model's rubric scores with checks that need no model — the quality-bar screen used for
skills (blaming, minimising, diagnosing, unsafe advice), the safety detector on the reply itself, lecturing
phrases and length — so even the embedded 135M model cannot wave a harmful draft through. :func:`add_critic_loop`
inserts critic → (reviser → critic)* after any graph's supporter with a hard bound. A draft still judged unsafe
when the bound is reached is never sent: it is replaced by a safe reflective reply built from the seeker's words.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END
from pydantic import BaseModel, Field

from escgraph.agents._kinds import StructuredAgent, TextAgent
from escgraph.agents._dialogue import last_seeker_text
from escgraph.agents._text import clean_reply, is_degenerate, sentences
from escgraph.agents.safety import default_detector
from escgraph.agents.supporter import STOP_SEQUENCES, fallback_reply
from escgraph.prompts import PromptTemplate

__all__ = ["Critique", "Critic", "Reviser", "add_critic_loop", "rule_checks", "reply_safety_problem", "CRITERIA"]

CRITERIA = ("empathy", "relevance", "strategy_fit", "safety", "concision")
_LECTURE = re.compile(r"\byou (should|must|need to|have to|ought to)\b|\bwhat you need is\b|\bthe key is\b",
                      re.IGNORECASE)


class Critique(BaseModel):
    """Structured output of the critic: verdict and scores first, bounded text after."""

    verdict: Literal["pass", "revise"]
    empathy: int = Field(ge=1, le=5)
    relevance: int = Field(ge=1, le=5)
    strategy_fit: int = Field(ge=1, le=5)
    safety: int = Field(ge=1, le=5)
    concision: int = Field(ge=1, le=5)
    feedback: str = Field(max_length=240, description="what exactly to change")
    implicates: str = Field(default="none", max_length=80, description="instruction or skill behind the problem")


# Harm talk in a *counselor* reply. The safety detector is calibrated on seekers' first-person messages (its
# embedding signal flags "That sounds painful." as self-harm), so replies use its rule signal plus these.
_HARM_TALK = re.compile(
    r"\b(kill|hurt|harm|cut|cutting|starve|punish)(ing)? (yourself|themselves)\b|\bend(ing)? (it all|your life)\b"
    r"|\bsuicid\w*|\boverdos\w*|\btake (some |all )?(the )?pills\b|\bhurt (him|her|them) back\b",
    re.IGNORECASE)


def reply_safety_problem(reply: str) -> str | None:
    """Why a counselor reply must not be sent as is (self-harm or violence talk), or None."""
    if _HARM_TALK.search(reply) or default_detector().check(reply).signals.get("rules", 0.0) >= 0.5:
        return ("The reply itself talks about self-harm or danger; leave crises to the safety gate and respond "
                "to what the seeker said.")
    return None


def rule_checks(draft: str, max_sentences: int = 3) -> list[tuple[str, str]]:
    """Model-free findings as (criterion, feedback)."""
    from escgraph.skills_bank.evolution.screen import screen_text

    found = [("safety", f"Remove this: it {hit.why}: \"{hit.match}\".") for hit in screen_text(draft, "reply")]
    if problem := reply_safety_problem(draft):
        found.append(("safety", problem))
    if _LECTURE.search(draft):
        found.append(("concision", "Do not lecture or tell the seeker what they must do; offer, do not order."))
    if len(sentences(draft)) > max_sentences:
        found.append(("concision", f"Too long: keep it to {max_sentences} short sentences or fewer."))
    return found


class Critic(StructuredAgent):
    """Appends a critique of ``state["draft"]`` to ``critiques`` (with the turn and revision it belongs to)."""

    name = prompt_name = "critic"
    schema = Critique

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 role: str = "critic", threshold: int = 2, max_sentences: int = 3) -> None:
        super().__init__(model, prompt=prompt, role=role)
        self.threshold = threshold
        self.max_sentences = max_sentences

    def messages(self, state: dict) -> list:
        plan = state.get("plan") if isinstance(state.get("plan"), dict) else {}
        strategy = state.get("strategy") or "any"
        user = self.prompt.render("user", seeker=" ".join(last_seeker_text(state.get("messages", [])).split())[:400],
                                  strategy=strategy, guidance=str(plan.get("guidance") or "none")[:400],
                                  draft=state.get("draft") or state.get("reply") or "")
        return [SystemMessage(self.prompt.render("system", strategy=strategy)), HumanMessage(user)]

    def finish(self, state: dict, critique: Critique) -> dict:
        draft = state.get("draft") or state.get("reply") or ""
        scores = {c: getattr(critique, c) for c in CRITERIA}
        rules = rule_checks(draft, self.max_sentences)
        for criterion, _ in rules:
            scores[criterion] = min(scores[criterion], 1 if criterion == "safety" else 2)
        feedback = " ".join([*(f for _, f in rules), " ".join(critique.feedback.split())]).strip()
        revise = critique.verdict == "revise" or min(scores.values()) <= self.threshold
        turn = int(state.get("turn") or 0)
        done = [c for c in state.get("critiques") or [] if c.get("turn") == turn]
        return {"critiques": [{"turn": turn, "revision": len(done), "draft": draft, "scores": scores,
                               "verdict": "revise" if revise else "pass", "unsafe": scores["safety"] <= 1,
                               "feedback": feedback or "Make it warmer and more specific to what they said.",
                               "implicates": critique.implicates, "rules": [f for _, f in rules]}]}



def _latest(state: dict) -> dict:
    return (state.get("critiques") or [{}])[-1]


def _replace_reply(state: dict, text: str, source: str) -> dict:
    """Swap the supporter's last message for ``text`` (same message id, so ``add_messages`` replaces it)."""
    last = next((m for m in reversed(state.get("messages", [])) if isinstance(m, AIMessage)), None)
    message = AIMessage(text, id=last.id if last is not None else None, name="supporter",
                        response_metadata={"strategy": state.get("strategy"), "revised": True})
    return {"messages": [message], "reply": text, "draft": text, "reply_source": source}


class Reviser(TextAgent):
    """Rewrites the draft following the latest critique; keeps the draft if the model returns nothing usable."""

    name = prompt_name = "reviser"
    stop = STOP_SEQUENCES  # small models start writing the seeker's side

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 role: str = "counselor", max_sentences: int = 2) -> None:
        super().__init__(model, prompt=prompt, role=role)
        self.max_sentences = max_sentences

    def messages(self, state: dict) -> list:
        strategy = state.get("strategy") or "Reflection of feelings"
        user = self.prompt.render("user", seeker=" ".join(last_seeker_text(state.get("messages", [])).split())[:400],
                                  draft=state.get("draft") or "", feedback=_latest(state).get("feedback", ""))
        return [SystemMessage(self.prompt.render("system", strategy=strategy)), HumanMessage(user)]

    def finish(self, state: dict, raw: str) -> dict:
        reply = clean_reply(raw, max_sentences=self.max_sentences)
        if is_degenerate(reply) or reply == state.get("draft"):
            return {"draft": state.get("draft") or ""}
        return _replace_reply(state, reply, "revised")



def _make_safe(state: dict) -> dict:
    """Bound reached and the draft is still unsafe: send a safe reflective reply instead."""
    return _replace_reply(state, fallback_reply(state), "critic_fallback")


def add_critic_loop(builder: Any, *, after: str = "supporter", then: Hashable = END, model: BaseChatModel | None = None,
                    max_revisions: int = 2, critic: Critic | None = None, reviser: Reviser | None = None,
                    prefix: str = "") -> Any:
    """Insert critic → (reviser → critic)* between ``after`` and ``then`` in an uncompiled ``StateGraph``.

    ``after`` must not have an edge to ``then`` yet (add the loop instead of that edge). At most
    ``max_revisions`` revisions happen per turn; an unsafe draft at the bound is replaced by a safe reply.
    """
    critic_name, reviser_name, safe_name = f"{prefix}critic", f"{prefix}reviser", f"{prefix}critic_fallback"
    builder.add_node(critic_name, critic or Critic(model))
    builder.add_node(reviser_name, reviser or Reviser(model))
    builder.add_node(safe_name, _make_safe)
    builder.add_edge(after, critic_name)

    def route(state: dict) -> str:
        latest = _latest(state)
        if latest.get("verdict") != "revise":
            return "done"
        if latest.get("revision", 0) < max_revisions:
            return "revise"
        return "unsafe" if latest.get("unsafe") else "done"

    builder.add_conditional_edges(critic_name, route, {"revise": reviser_name, "done": then, "unsafe": safe_name})
    builder.add_edge(reviser_name, critic_name)
    builder.add_edge(safe_name, then)
    return builder

