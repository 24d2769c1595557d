"""MADP with fake models: parallel A and C analysts, the interpreter reads both, the plan, the answer follows it."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from escgraph.graphs import answer_post, build_graph
from escgraph.llm import FakeChatModel

POST = (
    "I'm 24 and I just got my third rejection from a graduate program this month. Everyone in my family has a "
    "degree and my parents keep asking when I'll 'finally do something'. I stayed up until 3am rewriting my "
    "statement and I still didn't get in. Now I can't stop thinking that I'm a failure and that I'll never get "
    "anywhere. I've stopped answering my friends' messages because I don't want them to ask. I don't know what to "
    "do with myself anymore. ") * 2

PLAN = {"understanding": "Three rejections in a month, with family pressure, left you feeling like a failure.",
        "validation": "Anyone would feel crushed after putting in so much work.",
        "reframe": "Rejections from competitive programs say little about your worth or your future.",
        "steps": ["Reply to one friend today.", "Ask one program for feedback on your statement."],
        "professional_help": "If the low mood lasts weeks or you think of harming yourself, talk to a counselor."}


def scripted(calls: list):
    def respond(messages, schema):
        name = getattr(getattr(schema, "source", schema), "__name__", "")
        system, user = messages[0].text, messages[-1].text
        calls.append((name or system.split(":")[0], user))
        if name == "BeliefReading":
            return {"distortion": "labeling", "belief": "If I am rejected I am a failure.",
                    "why": "One outcome is turned into a label for the whole person."}
        if name == "SupportPlan":
            return PLAN
        if schema is not None:
            return None
        if "Your part is A" in system:
            return "Three graduate programs rejected them this month; their parents keep asking."
        if "Your part is C" in system:
            return "They feel like a failure and have withdrawn from their friends."
        if "follows\nthis plan" in system or "follows this plan" in system:
            return ("Three rejections in one month, with your parents asking, is a lot to carry. Feeling crushed "
                    "makes sense. A rejection is not a verdict on you. Maybe reply to one friend today. If the low "
                    "mood lasts, please talk to a counselor.")
        return "ok"

    return respond


def test_madp_analyses_plans_and_answers_following_the_plan():
    calls: list = []
    model = FakeChatModel(responder=scripted(calls))
    out = build_graph("madp", models={"counselor": model}).invoke({"messages": [HumanMessage(POST)]})
    a = out["analysis"]
    assert a["events"].startswith("Three graduate programs") and "withdrawn" in a["emotions"]
    assert a["distortion"] == "labeling"
    # the interpreter saw both other analysts' findings
    interpreter_prompt = next(u for n, u in calls if n == "BeliefReading")
    assert a["events"] in interpreter_prompt and a["emotions"] in interpreter_prompt
    plan = out["plan"]
    assert {k: plan[k] for k in PLAN} == PLAN
    # the answer was written from the plan (its prompt carries every plan part, in order)
    answer_prompt = next(m for m in model.calls if "follows" in m[0][0].text)[0][0].text
    positions = [answer_prompt.index(PLAN[k] if k != "steps" else PLAN["steps"][0]) for k in PLAN]
    assert positions == sorted(positions)
    assert out["reply"].startswith("Three rejections") and out["strategy"] == "Providing Suggestions"


def test_explorer_and_empathizer_run_in_the_same_step():
    graph = build_graph("madp", models={"counselor": FakeChatModel(responder=scripted([]))})
    steps = {event["payload"]["name"]: event["step"]
             for event in graph.stream({"messages": [HumanMessage(POST)]}, stream_mode="debug")
             if event["type"] == "task"}
    assert steps["explorer"] == steps["empathizer"]  # one superstep: they run in parallel
    assert steps["interpreter"] == steps["explorer"] + 1 < steps["planner"] < steps["answer"]


def test_answer_post_returns_answer_and_plan_and_rejects_empty():
    answer, plan = answer_post(POST, models={"counselor": FakeChatModel(responder=scripted([]))})
    assert answer and plan["steps"] == PLAN["steps"] and plan["guidance"].startswith("1. Show you understand")
    with pytest.raises(ValueError, match="empty"):
        answer_post("  ")


def test_weak_model_still_gets_a_complete_plan():
    answer, plan = answer_post(POST, models={"counselor": FakeChatModel()})  # schema defaults, echoes
    assert all(plan[k] for k in PLAN)
    assert "professional" in plan["professional_help"] or "counselor" in plan["professional_help"]


def test_crisis_post_gets_the_safety_reply_and_no_plan():
    answer, plan = answer_post("I have pills saved up and I'm going to take them all tonight.",
                               models={"counselor": FakeChatModel()})
    assert plan == {} and answer
