"""The fake chat model's hooks: responders that know who calls them, injected faults, and the embedded-model guard.

Fast and model-free.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from escgraph.agents import SeekerStateTracker, Supporter
from escgraph.llm import FakeChatModel, StructuredOutputError
from escgraph.llm.fake import FakeCall, Fault, InjectedFault
from escgraph.types import ESCContext, ESCState

pytest_plugins = ["pytester"]


class Mood(BaseModel):
    mood: str = "flat"


REPLY_BY = {"supporter": "That sounds really heavy. What has been the hardest part of it?"}
JUDGE = {"tags": ["role:judge", "agent:sage_judge"], "metadata": {"role": "judge", "agent": "sage_judge"}}


def _tracker_then_supporter():
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("track", SeekerStateTracker())
    builder.add_node("reply", Supporter())
    builder.add_edge(START, "track")
    builder.add_edge("track", "reply")
    builder.add_edge("reply", END)
    return builder.compile()


# --- responders that know who calls them ------------------------------------------------------------------------


def test_a_responder_dispatches_on_the_calling_agent_not_on_prompt_wording():
    seen: list[FakeCall] = []

    def respond(messages, schema, call):
        seen.append(call)
        if call.agent == "state_tracker":
            return {"emotion": "sadness", "intensity": 4, "stage": "exploration", "summary": "lost a job"}
        if call.agent == "supporter":
            return "That sounds so hard. I'm here."
        raise AssertionError(f"unexpected caller {call.agent}")

    fake = FakeChatModel(responder=respond)
    out = _tracker_then_supporter().invoke({"messages": [HumanMessage("I lost my job today.")]},
                                           context=ESCContext(models={"counselor": fake}))
    assert out["assessment"]["intensity"] == 4
    assert out["messages"][-1].content == "That sounds so hard. I'm here."
    tracker, supporter = seen[0], seen[-1]
    assert (tracker.role, tracker.agent, tracker.schema_name, tracker.structured) == \
        ("counselor", "state_tracker", "SeekerStateReading", True)
    assert (supporter.role, supporter.agent, supporter.schema, supporter.structured) == \
        ("counselor", "supporter", None, False)
    assert "role:counselor" in supporter.tags and supporter.metadata["agent"] == "supporter"
    assert [c.index for c in fake.call_log] == list(range(len(fake.calls)))
    assert fake.call_log == seen


async def test_the_async_graph_path_reports_the_caller_too():
    fake = FakeChatModel(responder=lambda messages, schema, call: None if schema else REPLY_BY[call.agent])
    out = await _tracker_then_supporter().ainvoke({"messages": [HumanMessage("hi")]},
                                                  context=ESCContext(models={"counselor": fake}))
    assert out["messages"][-1].content == REPLY_BY["supporter"]
    assert [c.agent for c in fake.call_log] == ["state_tracker", "supporter"]


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream", "astream"])
def test_plain_calls_in_every_mode_carry_role_and_agent(how):
    fake = FakeChatModel(responder=lambda messages, schema, call: f"{call.role}/{call.agent}")

    async def go():
        if how == "invoke":
            return fake.invoke("hi", JUDGE).content
        if how == "ainvoke":
            return (await fake.ainvoke("hi", JUDGE)).content
        if how == "stream":
            return "".join(chunk.text for chunk in fake.stream("hi", JUDGE))
        return "".join([chunk.text async for chunk in fake.astream("hi", JUDGE)])

    assert asyncio.run(go()) == "judge/sage_judge"
    fake.invoke("bare")
    assert fake.call_log[-1].role is None  # nothing leaks from one call into the next


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_graph_streamed_token_by_token_still_reports_the_caller(asynchronous):
    fake = FakeChatModel(responder=lambda messages, schema, call: None if schema else REPLY_BY[call.agent])
    graph, state = _tracker_then_supporter(), {"messages": [HumanMessage("hi")]}
    context = ESCContext(models={"counselor": fake})

    async def astream():
        return [chunk async for chunk, _ in graph.astream(state, context=context, stream_mode="messages")]

    chunks = asyncio.run(astream()) if asynchronous else \
        [chunk for chunk, _ in graph.stream(state, context=context, stream_mode="messages")]
    assert REPLY_BY["supporter"] in "".join(c.text for c in chunks if c.type == "AIMessageChunk")
    assert [c.agent for c in fake.call_log] == ["state_tracker", "supporter"]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_structured_calls_carry_the_caller_and_the_schema(asynchronous):
    def respond(messages, schema, call):
        assert schema is Mood and call.schema is Mood
        return Mood(mood=f"{call.role}:{call.agent}")

    chooser = FakeChatModel(responder=respond).with_structured_output(Mood)
    answer = asyncio.run(chooser.ainvoke("hi", JUDGE)) if asynchronous else chooser.invoke("hi", JUDGE)
    assert answer.mood == "judge:sage_judge"


def test_role_and_agent_come_from_tags_when_metadata_lacks_them():
    fake = FakeChatModel()
    fake.invoke("hi", {"tags": ["role:seeker", "agent:simulated_seeker"]})
    fake.invoke("hi")
    tagged, bare = fake.call_log
    assert (tagged.role, tagged.agent) == ("seeker", "simulated_seeker")
    assert (bare.role, bare.agent, bare.tags) == (None, None, ())


def test_two_argument_responders_keep_working():
    fake = FakeChatModel(responder=lambda messages, schema: "old style" if schema is None else Mood(mood="ok"))
    assert fake.invoke("hi").content == "old style"
    assert fake.with_structured_output(Mood).invoke("hi").mood == "ok"
    assert fake.calls[1][1] is Mood  # calls keeps its (messages, schema) shape


# --- faults -----------------------------------------------------------------------------------------------------


def test_the_nth_call_raises_and_the_others_answer():
    fake = FakeChatModel(responses=["one", "two", "three"], faults=[Fault("raise", on_call=2)])
    assert fake.invoke("a").content == "one"
    with pytest.raises(InjectedFault, match="call 1"):
        fake.invoke("b")
    assert fake.invoke("c").content == "two"  # the failed call consumed nothing from the script
    assert [(call.index, fault.kind) for call, fault in fake.fault_log] == [(1, "raise")]
    assert len(fake.calls) == 3


def test_a_fault_can_raise_a_chosen_error():
    fake = FakeChatModel(faults=[Fault("raise", on_call={1, 3}, error=TimeoutError("upstream timed out")),
                                 Fault("raise", on_call=2, error=ConnectionResetError)])
    with pytest.raises(TimeoutError, match="upstream timed out"):
        fake.invoke("a")
    with pytest.raises(ConnectionResetError):
        fake.invoke("b")
    with pytest.raises(TimeoutError):
        fake.invoke("c")
    assert fake.invoke("d").content.startswith("I hear you")


def test_a_fault_only_for_one_role_counts_that_roles_calls():
    fake = FakeChatModel(faults=[Fault("raise", on_call=2, role="judge")])
    fake.invoke("a", JUDGE)
    for _ in range(3):
        fake.invoke("counselor call", {"metadata": {"role": "counselor", "agent": "supporter"}})
    with pytest.raises(InjectedFault, match="role=judge, agent=sage_judge"):
        fake.invoke("b", JUDGE)
    fake.invoke("c", JUDGE)
    assert len(fake.fault_log) == 1


def test_a_fault_for_one_agent_fires_in_a_graph_run():
    fake = FakeChatModel(faults=[Fault("raise", agent="supporter", error=ConnectionError("reset"))])
    with pytest.raises(ConnectionError, match="reset"):
        _tracker_then_supporter().invoke({"messages": [HumanMessage("hi")]},
                                         context=ESCContext(models={"counselor": fake}))
    assert [c.agent for c in fake.call_log[:1]] == ["state_tracker"]
    assert {call.agent for call, _ in fake.fault_log} == {"supporter"}


def test_a_fault_rate_is_seeded_and_repeatable():
    def failing_calls(seed):
        fake = FakeChatModel(faults=[Fault("raise", rate=0.3, seed=seed)])
        failed = []
        for n in range(200):
            try:
                fake.invoke(f"call {n}")
            except InjectedFault:
                failed.append(n)
        return failed

    first = failing_calls(7)
    assert first == failing_calls(7)
    assert 40 <= len(first) <= 80
    assert first != failing_calls(8)


def test_malformed_output_fails_a_structured_call_and_a_retry_recovers():
    fake = FakeChatModel(faults=[Fault("malformed", on_call=1)])
    with pytest.raises(StructuredOutputError, match="Mood"):
        fake.with_structured_output(Mood).invoke("hi")
    retrying = FakeChatModel(faults=[Fault("malformed", on_call=1)], structured_max_attempts=2)
    assert retrying.with_structured_output(Mood).invoke("hi") == Mood()
    assert len(retrying.calls) == 2
    raw = FakeChatModel(faults=[Fault("malformed", structured=True)]).with_structured_output(Mood, include_raw=True)
    out = raw.invoke("hi")
    assert out["parsed"] is None and out["parsing_error"] is not None


def test_malformed_plain_replies_are_empty_or_the_given_text():
    fake = FakeChatModel(faults=[Fault("malformed", on_call=1), Fault("malformed", on_call=2, text="<|im_end|>")])
    assert fake.invoke("a").content == ""
    assert fake.invoke("b").content == "<|im_end|>"
    assert fake.invoke("c").content.startswith("I hear you")


def test_a_delay_waits_then_answers_sync_and_async():
    fake = FakeChatModel(responses=["late"], faults=[Fault("delay", seconds=0.2, on_call=1)])
    start = time.monotonic()
    assert fake.invoke("a").content == "late"
    assert time.monotonic() - start >= 0.2

    async def two_at_once():
        slow = FakeChatModel(faults=[Fault("delay", seconds=0.2, role="judge")])
        start = time.monotonic()
        await asyncio.gather(slow.ainvoke("a", JUDGE), slow.ainvoke("b", JUDGE))
        return time.monotonic() - start

    assert 0.2 <= asyncio.run(two_at_once()) < 0.39  # awaited, not slept: the two delays overlap


def test_an_async_delay_can_be_cut_off_by_a_timeout():
    fake = FakeChatModel(faults=[Fault("delay", seconds=30)])

    async def go():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(fake.ainvoke("hi"), 0.1)

    asyncio.run(go())


def test_reset_rewinds_fault_counters():
    fake = FakeChatModel(faults=[Fault("raise", on_call=1)])
    with pytest.raises(InjectedFault):
        fake.invoke("a")
    fake.reset()
    assert fake.call_log == [] and fake.fault_log == []
    with pytest.raises(InjectedFault):
        fake.invoke("a")


def test_copies_share_call_log_and_fault_counters():
    fake = FakeChatModel(faults=[Fault("raise", on_call=2)])
    copy = fake.model_copy()
    fake.invoke("a")
    with pytest.raises(InjectedFault):
        copy.invoke("b")
    assert len(fake.call_log) == 2


@pytest.mark.parametrize("bad", [
    dict(kind="explode"), dict(kind="raise", on_call=0), dict(kind="raise", on_call=1, rate=0.5),
    dict(kind="raise", rate=1.5), dict(kind="delay"),
])
def test_bad_faults_are_rejected(bad):
    with pytest.raises(ValueError):
        Fault(**bad)


# --- the embedded-model guard (tests/conftest.py) ---------------------------------------------------------------


def _embedded_installed() -> bool:
    from escgraph.llm import ModelSpecError, embedded_model_path

    try:
        embedded_model_path()
    except ModelSpecError:
        return False
    return True


def test_the_guard_refuses_a_silent_fallback_to_the_embedded_model(embedded_guard):
    if not _embedded_installed():
        pytest.skip("the embedded model is not installed")
    with pytest.raises(RuntimeError, match="tried to load the embedded model .*via .*model -> default_chat_model"):
        ESCContext(models={"counselor": FakeChatModel()}).model("counselor")  # fine: the role has a model
        ESCContext().model("judge")  # no model for any role: the embedded fallback
    assert len(embedded_guard.attempts) == 1
    embedded_guard.attempts.clear()  # expected here; otherwise the test would fail at teardown


@pytest.mark.parametrize("how", ["spec", "context entry", "class"])
def test_the_guard_refuses_every_route_to_the_embedded_model(embedded_guard, how):
    if not _embedded_installed():
        pytest.skip("the embedded model is not installed")
    from escgraph.llm import ChatLlamaCpp, embedded_model_path, load_chat_model

    load = {"spec": lambda: load_chat_model("local"),
            "context entry": lambda: ESCContext(models={"judge": {"spec": "local", "temperature": 0.1}}).model("judge"),
            "class": lambda: ChatLlamaCpp(model_path=str(embedded_model_path()))}[how]
    with pytest.raises(Exception, match=r"@pytest.mark.embedded"):  # a context entry says which role asked
        load()
    assert len(embedded_guard.attempts) == 1
    embedded_guard.attempts.clear()


def test_a_refused_load_that_the_code_swallows_still_fails_the_test(pytester):
    pytester.makeconftest(open(__file__.replace("test_fake_hooks.py", "conftest.py")).read())
    pytester.makepyfile(test_swallowed="""
        import pytest
        from escgraph.types import ESCContext

        def test_unmarked():
            try:
                ESCContext().model("seeker")
            except RuntimeError:
                pass  # e.g. a runner that records the episode as failed

        @pytest.mark.allows_embedded
        def test_opted_out(embedded_guard):
            assert embedded_guard is None

        @pytest.mark.embedded
        def test_marked(embedded_guard):
            assert embedded_guard is None
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q",
                                          "-o", "asyncio_default_fixture_loop_scope=function")
    if not _embedded_installed():
        result.assert_outcomes(passed=3)
        return
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*tried to load the embedded model without @pytest.mark.embedded*"])
