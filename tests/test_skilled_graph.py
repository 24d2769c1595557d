"""The skill-guided graph with fake models and a fake retriever: state tracking, skill choice, guided reply."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import HumanMessage

from escgraph.agents import SeekerStateReading, SeekerStateTracker, SkillDecision
from escgraph.graphs import build_graph, get_graph_info
from escgraph.llm import FakeChatModel
from escgraph.skills_bank.schema import Skill
from escgraph.types import ESCContext


def make_skill(skill_id: str, name: str, risk: str) -> Skill:
    return Skill.model_validate({
        "id": skill_id, "name": name, "summary": f"{name}: a short summary of the skill",
        "guidance": [f"first step of {name}", f"second step of {name}", "third step"],
        "applicability": {"when_to_use": ["the seeker is sad"], "when_not_to_use": ["the seeker is in danger"],
                          "stages": ["comforting"]},
        "expected_outcomes": ["the seeker feels heard"], "risks": [risk],
        "strategies": ["Reflection of feelings"],
        "examples": [{"seeker": "I miss her.", "supporter": "You miss her so much."}],
    })


@dataclass
class Hit:
    skill_id: str
    name: str
    score: float
    why: str
    skill: Skill


class FakeRetriever:
    def __init__(self) -> None:
        self.skills = [make_skill("reflect-loss", "Reflect the loss", "sounding scripted; use their words"),
                       make_skill("invite-memories", "Invite memories", "pushing too soon; follow their pace")]
        self.queries: list[dict] = []

    def retrieve(self, state: dict, k: int = 3) -> list[Hit]:
        self.queries.append(state)
        return [Hit(s.id, s.name, 0.9 - i / 10, f"stage {state.get('stage')}", s)
                for i, s in enumerate(self.skills[:k])]


def scripted(skill: str = "2"):
    def respond(messages, schema):
        if schema is SeekerStateReading:
            return SeekerStateReading(emotion="grief", intensity=4, stage="comforting",
                                      summary="Their grandmother died last month.")
        if schema is SkillDecision:
            return SkillDecision(skill=skill, strategy="Reflection of feelings", stage="comforting",
                                 rationale="they need to feel their loss is seen")
        return "You miss her deeply, and that makes sense."

    return FakeChatModel(responder=respond)


def test_skilled_is_registered_as_a_bank_user():
    info = get_graph_info("skilled")
    assert info.uses_skills_bank and "skill" in info.description.lower()


def test_skilled_graph_follows_the_chosen_skill():
    model, retriever = scripted("2"), FakeRetriever()
    graph = build_graph("skilled", retriever=retriever)
    out = graph.invoke({"messages": [HumanMessage("My grandmother died last month and I can't stop crying.")]},
                       context=ESCContext(models={"counselor": model}))
    assert out["assessment"] == {"emotion": "grief", "intensity": 4, "stage": "comforting",
                                 "summary": "Their grandmother died last month."}
    assert [r["id"] for r in out["retrieved"]] == ["reflect-loss", "invite-memories"]
    assert out["plan"]["skill_id"] == "invite-memories" and out["strategy"] == "Reflection of feelings"
    assert retriever.queries[0]["emotion"] == "grief" and "grandmother" in retriever.queries[0]["dialogue"]
    supporter_prompt = model.calls[-1][0][0].text
    assert "Invite memories" in supporter_prompt and "pushing too soon" in supporter_prompt
    assert out["reply"]


def test_no_fitting_skill_falls_back_to_plain_strategy_choice():
    out = build_graph("skilled", retriever=FakeRetriever()).invoke(
        {"messages": [HumanMessage("I feel a bit off today.")]},
        context=ESCContext(models={"counselor": scripted("none")}))
    assert out["plan"] == {"skill_id": None} and out["reply"]


def test_crisis_goes_to_the_safety_gate_before_any_skill():
    retriever = FakeRetriever()
    out = build_graph("skilled", retriever=retriever).invoke(
        {"messages": [HumanMessage("I have the pills ready and I am going to kill myself tonight.")]},
        context=ESCContext(models={"counselor": scripted()}))
    assert out["safety"]["crisis"] and out["reply_source"] == "safety_gate"
    assert retriever.queries == [] and not out.get("retrieved")


def test_tracker_allows_action_once_the_seeker_has_spoken_enough():
    tracker = SeekerStateTracker(FakeChatModel(responder=lambda m, s: SeekerStateReading(
        emotion="stress", intensity=3, stage="action", summary="Exams soon.") if s else None))
    one = {"messages": [HumanMessage("Exams soon.")]}
    two = {"messages": [HumanMessage("Exams soon."), HumanMessage("I have a plan but can't start.")]}
    assert tracker(one)["assessment"]["stage"] == "exploration"
    assert tracker(two)["assessment"]["stage"] == "action"
