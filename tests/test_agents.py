"""Agents as nodes, driven by fake chat models (fast, deterministic)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph

from escgraph.agents import SimulatedSeeker, StrategyCounselor, Supporter
from escgraph.agents._text import clean_reply, is_degenerate
from escgraph.llm import FakeChatModel
from escgraph.profiles import SeekerProfile
from escgraph.types import STRATEGIES, ESCContext, ESCState

SEEKER_SAYS = "I failed my driving test for the third time and I feel stupid."


def _state(**extra):
    return {"messages": [HumanMessage(SEEKER_SAYS)], **extra}


def test_strategy_counselor_returns_a_valid_strategy(scripted_model):
    update = StrategyCounselor(scripted_model("Question", stage="exploration"))(_state())
    assert update["strategy"] == "Question"
    assert update["stage"] == "exploration"
    assert update["strategy_history"] == ["Question"]
    assert update["strategy"] in STRATEGIES


def test_strategy_counselor_prompt_shows_dialogue_and_recent_strategies(scripted_model):
    model = scripted_model()
    StrategyCounselor(model)(_state(strategy_history=["Question"]))
    messages, schema = model.calls[0]
    text = "\n".join(m.content for m in messages)
    assert SEEKER_SAYS in text and "Question" in text and schema is not None


def test_third_repeat_without_reason_switches_strategy(scripted_model):
    model = scripted_model("Question", stage="exploration")
    update = StrategyCounselor(model)(_state(strategy_history=["Question", "Question"]))
    assert update["strategy"] != "Question"
    assert "Switched from 'Question'" in update["strategy_rationale"]
    assert len(model.calls) == 2  # asked once more before switching
    assert "used 2 times in a row" in model.calls[1][0][-1].content


def test_third_repeat_with_reason_is_kept_and_explained(scripted_model):
    model = scripted_model("Question", stage="exploration", repeat_reason="still no idea what happened")
    update = StrategyCounselor(model)(_state(strategy_history=["Question", "Question"]))
    assert update["strategy"] == "Question"
    assert "still no idea what happened" in update["strategy_rationale"]


def test_supporter_follows_the_strategy_instruction(scripted_model):
    model = scripted_model()
    update = Supporter(model)(_state(strategy="Providing Suggestions"))
    system = model.calls[0][0][0]
    assert isinstance(system, SystemMessage) and "Providing Suggestions" in system.content
    assert isinstance(update["messages"][0], AIMessage)
    assert update["reply"] == "That sounds really hard. I'm here with you."
    assert update["reply_source"] == "model" and update["turn"] == 1


def test_supporter_cleans_role_prefixes_and_loops(scripted_model):
    looping = "Supporter: I hear you. I hear you. I hear you. I hear you.\nSeeker: thanks"
    update = Supporter(scripted_model(reply=looping))(_state(strategy="Reflection of feelings"))
    assert update["reply"] == "I hear you."


def test_supporter_retries_then_falls_back_on_empty_replies():
    model = FakeChatModel(responses=["", "...", "  "])
    update = Supporter(model, retries=2)(_state(strategy="Question"))
    assert len(model.calls) == 3
    assert update["reply_source"] == "fallback"
    assert "driving test" in update["reply"]


def test_clean_reply_and_degenerate_detection():
    assert clean_reply('"Counselor: It is okay to feel that way."') == "It is okay to feel that way."
    assert is_degenerate("")
    assert is_degenerate("so so so so so so so so so so so so so so so")
    assert not is_degenerate("That sounds exhausting, and it makes sense you feel worn out.")


def test_simulated_seeker_opens_with_first_talk_then_uses_model():
    profile = SeekerProfile(id="p1", situation="lost my job", first_talk="Hi. I got laid off today.",
                            persona={"age": 34, "occupation": "designer"}, personality="avoidant")
    model = FakeChatModel(responses=["I don't really know what to do now."])
    seeker = SimulatedSeeker(profile, model)
    first = seeker({"messages": []})
    assert first["messages"][0].content == "Hi. I got laid off today." and not model.calls
    state = {"messages": [*first["messages"], AIMessage("I'm sorry. How are you feeling?")]}
    second = seeker(state)
    assert second["messages"][0].content == "I don't really know what to do now."
    system = model.calls[0][0][0].content
    assert "34-year-old designer" in system and "avoidant" in system


def _composed_graph():
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("strategy", StrategyCounselor())
    builder.add_node("reply", Supporter())
    builder.add_edge(START, "strategy")
    builder.add_edge("strategy", "reply")
    builder.add_edge("reply", END)
    return builder.compile()


def test_agents_take_models_from_the_run_context(scripted_model):
    model = scripted_model("Affirmation and Reassurance")
    out = _composed_graph().invoke(_state(), context=ESCContext(models={"counselor": model}))
    assert out["strategy"] == "Affirmation and Reassurance"
    assert out["messages"][-1].content == out["reply"]


async def test_agents_run_on_the_async_path(scripted_model):
    model = scripted_model("Question", stage="exploration")
    out = await _composed_graph().ainvoke(_state(), context=ESCContext(models={"counselor": model}))
    assert out["strategy"] == "Question" and out["reply"]
