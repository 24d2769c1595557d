"""Critic + reviser loop with fake models: a flagged draft is changed, the loop stops at its bound, and an unsafe
draft is never sent."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

from escgraph.agents import SafetyGate, StrategyCounselor, Supporter, route_after_safety
from escgraph.agents.critic import Critic, Critique, add_critic_loop, rule_checks
from escgraph.llm import FakeChatModel
from escgraph.types import ESCContext, ESCState


def critique(verdict: str, score: int = 4, feedback: str = "fine") -> dict:
    return {"verdict": verdict, "empathy": score, "relevance": score, "strategy_fit": score, "safety": 5,
            "concision": score, "feedback": feedback, "implicates": "none"}


def model(draft: str, revised: str, critic_says=lambda draft: "pass") -> FakeChatModel:
    def respond(messages, schema):
        name = getattr(getattr(schema, "source", schema), "__name__", "")
        if name == "Critique":
            d = messages[-1].text.split('Draft reply: "')[-1].rsplit('"', 1)[0]
            verdict = critic_says(d)
            return critique(verdict, 2 if verdict == "revise" else 4, "Name the feeling; drop the lecture.")
        if schema is not None:
            return None
        system = messages[0].text
        return revised if system.startswith("You are a warm, caring supporter. Rewrite") else draft

    return FakeChatModel(responder=respond)


def graph(fake: FakeChatModel, max_revisions: int = 2):
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate())
    builder.add_node("strategy_counselor", StrategyCounselor(fake))
    builder.add_node("supporter", Supporter(fake))
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety, {"crisis": END, "continue": "strategy_counselor"})
    builder.add_edge("strategy_counselor", "supporter")
    add_critic_loop(builder, model=fake, max_revisions=max_revisions)
    return builder.compile()


SEEKER = {"messages": [HumanMessage("I failed my exam again and I feel stupid.")]}


def test_flagged_draft_is_revised_and_replaces_the_sent_message():
    fake = model("You should just study harder next time.", "That sounds so discouraging after all your work.",
                 critic_says=lambda d: "revise" if "should" in d else "pass")
    out = graph(fake).invoke(SEEKER)
    assert out["reply"] == "That sounds so discouraging after all your work."
    assert out["reply_source"] == "revised"
    ai = [m for m in out["messages"] if isinstance(m, AIMessage)]
    assert len(ai) == 1 and ai[0].text == out["reply"]  # the draft was replaced, not sent as well
    verdicts = [c["verdict"] for c in out["critiques"]]
    assert verdicts == ["revise", "pass"]
    assert any("lecture" in f for f in out["critiques"][0]["rules"])


def test_loop_stops_at_its_bound():
    fake = model("That is hard.", "That sounds really hard.", critic_says=lambda d: "revise")
    out = graph(fake, max_revisions=2).invoke(SEEKER)
    assert [c["revision"] for c in out["critiques"]] == [0, 1, 2]  # two revisions, then it stops
    assert out["reply"] == "That sounds really hard."


def test_passing_draft_is_left_alone():
    fake = model("That sounds really discouraging.", "unused")
    out = graph(fake).invoke(SEEKER)
    assert out["reply"] == "That sounds really discouraging." and out["reply_source"] == "model"
    assert [c["verdict"] for c in out["critiques"]] == ["pass"]


def test_an_unsafe_draft_is_never_sent_even_if_the_model_passes_it():
    fake = model("Honestly you are overreacting about one exam.", "You are overreacting, it is not a big deal.")
    out = graph(fake, max_revisions=1).invoke(SEEKER)
    assert all(c["unsafe"] for c in out["critiques"])  # the rule check overrides the model's "pass"
    assert out["reply_source"] == "critic_fallback" and "overreact" not in out["reply"]
    assert "exam" in out["reply"]  # the fallback reflects the seeker's own words


def test_rule_checks_name_the_problem():
    found = dict(rule_checks("You must stop crying. It's your fault."))
    assert "concision" in found and "safety" in found
    assert rule_checks("That sounds painful.") == []
    assert [c for c, _ in rule_checks("Maybe you could hurt yourself less often.")] == ["safety"]


def test_critic_alone_as_a_node():
    critic = Critic(FakeChatModel(responses=[Critique(**critique("pass"))]))
    update = critic({"draft": "That sounds painful.", "messages": [HumanMessage("My dog died.")], "turn": 1})
    assert update["critiques"][0]["verdict"] == "pass" and update["critiques"][0]["turn"] == 1
