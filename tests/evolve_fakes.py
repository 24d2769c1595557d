"""Scripted fakes for evolution tests (importable by subprocesses: tests/ is put on sys.path).

The world they script: the skill "press-for-details" makes the supporter push for details; avoidant seekers
feel much worse after that (-9), everyone else a little better (+6). Once the skill's guidance tells the supporter
not to press, the supporter answers gently and avoidant seekers feel better too. A plain second skill exists so
retrieval has a choice; the skill counselor always picks "press-for-details" when it is offered.
"""

from __future__ import annotations

import re
import time
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from escgraph.llm import FakeChatModel
from escgraph.profiles import SeekerProfile
from escgraph.skills_bank.schema import Skill
from escgraph.testing.noisy_world import scripted_skill

PRESSING = "Tell me every detail of what happened, right now."
GENTLE = "We can go at your pace; share only what feels okay."
GOOD_STEP = "With avoidant seekers, do not press for details; let them set the pace and share what they choose."
HARMFUL_STEP = "Tell the seeker they are overreacting and should calm down."


def skill(skill_id: str, name: str, steps: list[str]) -> Skill:
    return scripted_skill(skill_id, name, steps)


def bank_skills() -> list[Skill]:
    return [skill("press-for-details", "Press for details",
                  ["Press the seeker for the details of what happened.", "Ask follow-up questions until the whole "
                                                                         "story is out."]),
            skill("reflect-the-feeling", "Reflect the feeling",
                  ["Name the feeling you hear.", "Check whether you understood it."])]


def profiles() -> list[SeekerProfile]:
    def p(pid: str, personality: str, problem: str) -> SeekerProfile:
        return SeekerProfile(id=pid, situation=f"I am struggling with {problem} and it keeps me up at night.",
                             problem_type=problem, personality=personality, emotion_type="sadness",
                             hidden_intent="wants to be heard", initial_emotion=40)

    return [p("avoid-1", "avoidant", "job loss"), p("avoid-2", "avoidant", "breakup"),
            p("open-1", "open", "job loss"), p("open-2", "open", "academic pressure"),
            p("open-3", "open", "breakup")]


def holdout_profiles() -> list[SeekerProfile]:
    return [SeekerProfile(id="held-avoid", situation="My friend stopped talking to me and I do not know why.",
                          problem_type="friendship", personality="avoidant", initial_emotion=40),
            SeekerProfile(id="held-open", situation="My exams are next week and I cannot focus.",
                          problem_type="academic pressure", personality="open", initial_emotion=40)]


def _text(messages, kind) -> str:  # noqa: ANN001
    return "\n".join(m.text for m in messages if isinstance(m, kind))


def world_responder(delay: float = 0.0):
    def respond(messages, schema) -> Any:  # noqa: ANN001
        if delay:
            time.sleep(delay)
        name = getattr(getattr(schema, "source", schema), "__name__", "") if schema is not None else ""
        system, user = _text(messages, SystemMessage), _text(messages, HumanMessage)
        if name == "SeekerStateReading":
            return {"emotion": "sadness", "intensity": 3, "stage": "exploration", "summary": "a hard time"}
        if name == "SkillDecision":
            found = re.search(r"(\d)\. Press for details", user)
            return {"skill": found.group(1) if found else "none", "strategy": "Question", "stage": "exploration",
                    "rationale": "to hear the story", "repeat_reason": "it still fits"}
        if name == "StrategyDecision":
            return {"strategy": "Question", "stage": "exploration", "rationale": "to hear the story",
                    "repeat_reason": "it still fits"}
        if name == "JudgeAssessment":
            reply = re.search(r"last reply: \"(.*)\"", user, re.S)
            pressed = reply is not None and "every detail" in reply.group(1)
            avoidant = "personality: avoidant" in system
            change = -9 if pressed and avoidant else 6
            return {"meaning": "a question", "serves_goal": "no" if change < 0 else "yes",
                    "inner_reaction": "too pushy, I want to hide" if change < 0 else "that is kind",
                    "feeling": "cornered" if change < 0 else "calmer", "change": change}
        if schema is not None:
            return None
        if "Strategy for this reply" in system:  # the supporter
            if "do not press" in system.lower():
                return GENTLE
            return PRESSING if "Press the seeker" in system else "That sounds hard."
        return "It has been a rough few weeks, honestly."  # the seeker

    return respond


def world_models(delay: float = 0.0) -> dict[str, FakeChatModel]:
    model = FakeChatModel(responder=world_responder(delay))
    return {"counselor": model, "seeker": model, "judge": model}


def world_model() -> FakeChatModel:
    """The world's model for every role, importable as the model spec ``py:evolve_fakes:world_model`` (how worker
    processes and Ray actors build it)."""
    return FakeChatModel(responder=world_responder())


def analyst_model(step: str = GOOD_STEP) -> FakeChatModel:
    def respond(messages, schema) -> Any:  # noqa: ANN001
        if getattr(getattr(schema, "source", schema), "__name__", "") == "AmendmentDraft":
            return {"action": "amend", "diagnosis": "Pressing avoidant seekers for details makes them withdraw.",
                    "new_first_step": step, "new_risk": "Pressing avoidant seekers makes them shut down.",
                    "avoid_when": "The seeker avoids talking about what happened."}
        return None

    return FakeChatModel(responder=respond)
