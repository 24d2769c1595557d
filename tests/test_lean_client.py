"""LeanChatOpenAI sends what ChatOpenAI sends and fails the way it fails, with less client work per call."""

from __future__ import annotations

import asyncio
import socket
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from escgraph.llm import StructuredOutputError, StructuredOutputTracker, load_chat_model
from escgraph.simulations.faults import classify
from escgraph.testing import Faults, MockOpenAIServer

pytest.importorskip("langchain_openai")

pytestmark = pytest.mark.usefixtures("loopback_openai_client")  # conftest: no proxy, any key


class Decision(BaseModel):
    strategy: Literal["Question", "Reflection of feelings", "Providing Suggestions"]
    rationale: str = Field(max_length=40, description="one short sentence")
    change: int = Field(ge=-10, le=10)


class Reading(TypedDict):
    feeling: str
    level: int


_JSON_SCHEMA = {"title": "Verdict", "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
_MESSAGES = [("system", "You are a counselor. Ünïcode stays as it is."), ("human", "I failed my driving test again")]


def _models(base_url: str, **options):
    lean = load_chat_model("openai:mock", base_url=base_url, api_key="x", max_retries=0, **options)
    assert type(lean).__name__ == "LeanChatOpenAI" and lean.lean
    return lean, lean.model_copy(update={"lean": False})  # the stock ChatOpenAI path of the same model


@pytest.fixture
def server():
    with MockOpenAIServer(delay=0.01) as srv:
        yield srv


# -- request bodies ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"temperature": 0.3, "seed": 7, "max_tokens": 64, "top_p": 0.9}])
def test_plain_call_sends_the_same_body(server, options):
    lean, stock = _models(server.base_url, **options)
    stock_reply = stock.invoke(_MESSAGES, stop=["\n\n"])
    stock_body = server.last_body
    lean_reply = lean.invoke(_MESSAGES, stop=["\n\n"])
    assert server.last_body == stock_body
    assert lean_reply.content == stock_reply.content
    assert lean_reply.additional_kwargs == stock_reply.additional_kwargs
    assert lean_reply.usage_metadata == stock_reply.usage_metadata
    assert lean_reply.response_metadata["finish_reason"] == stock_reply.response_metadata["finish_reason"]


@pytest.mark.parametrize("schema", [Decision, Reading, _JSON_SCHEMA], ids=["pydantic", "typeddict", "json-schema"])
def test_structured_call_sends_the_same_body(server, schema):
    lean, stock = _models(server.base_url, temperature=0.2, seed=3)
    stock_answer = stock.with_structured_output(schema).invoke(_MESSAGES)
    stock_body = server.last_body
    lean_answer = lean.with_structured_output(schema).invoke(_MESSAGES)
    assert server.last_body == stock_body
    assert lean_answer == stock_answer  # same answer, validated by escgraph
    if schema is Decision:
        assert isinstance(lean_answer, Decision)
        assert stock_body["response_format"]["json_schema"]["strict"] is True  # the SDK's strict schema


async def test_async_bodies_match_too(server):
    lean, stock = _models(server.base_url)
    await stock.with_structured_output(Decision).ainvoke(_MESSAGES)
    stock_body = server.last_body
    assert isinstance(await lean.with_structured_output(Decision).ainvoke(_MESSAGES), Decision)
    assert server.last_body == stock_body
    await stock.ainvoke(_MESSAGES)
    stock_body = server.last_body
    await lean.ainvoke(_MESSAGES)
    assert server.last_body == stock_body


def test_other_structured_methods_and_streaming_use_the_stock_path(server):
    lean, _ = _models(server.base_url)
    assert isinstance(lean.with_structured_output(Decision, method="function_calling").invoke("hi"), Decision)
    assert server.last_body["tool_choice"]["function"]["name"] == "Decision"
    assert isinstance(lean.with_structured_output(method="json_mode").invoke("Answer in JSON"), dict)
    assert "".join(c.content for c in lean.stream("hello")).strip()


def test_include_raw_and_structured_events(server):
    lean, _ = _models(server.base_url)
    tracker = StructuredOutputTracker()
    out = lean.with_structured_output(Decision, include_raw=True).invoke(
        "hi", config={"callbacks": [tracker], "tags": ["role:judge"]})
    assert isinstance(out["parsed"], Decision) and out["parsing_error"] is None
    assert out["raw"].usage_metadata["output_tokens"] > 0
    assert tracker.totals() == {"judge": {"calls": 1, "retries": 0, "gave_up": 0}}


async def test_two_event_loops_in_a_row(server):
    """A shared client belongs to one event loop; the next asyncio.run must get its own, not a closed one."""
    lean, _ = _models(server.base_url)

    async def ask():
        return await lean.with_structured_output(Decision).ainvoke("hi")

    for _ in range(2):
        assert isinstance(await asyncio.to_thread(asyncio.run, ask()), Decision)


# -- errors -----------------------------------------------------------------------------------------------------
def _outcome(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - what is raised is what is compared
        return type(exc).__name__, classify(exc), getattr(exc, "status_code", None)
    return None


@pytest.mark.parametrize("fault", ["server_error", "rate_limit", "non_json", "truncated"])
@pytest.mark.parametrize("structured", [False, True], ids=["plain", "structured"])
def test_injected_faults_raise_the_same_errors(fault, structured):
    outcomes = []
    for lean_path in (False, True):
        # the same seed per path: the fault draws (and the 5xx status) come out the same
        with MockOpenAIServer(delay=0.0, faults=Faults(**{fault: 1.0}, retry_after=0)) as srv:
            lean, stock = _models(srv.base_url)
            model = lean if lean_path else stock
            runnable = model.with_structured_output(Decision) if structured else model
            outcomes.append(_outcome(lambda: runnable.invoke(_MESSAGES)))
    stock_outcome, lean_outcome = outcomes
    assert stock_outcome is not None
    assert lean_outcome == stock_outcome


def test_malformed_structured_answers_stay_transient():
    with MockOpenAIServer(delay=0.0, faults=Faults(malformed=1.0)) as srv:
        lean, stock = _models(srv.base_url)
        _, stock_kind, _ = _outcome(lambda: stock.with_structured_output(Decision).invoke(_MESSAGES))
        with pytest.raises(StructuredOutputError) as caught:
            lean.with_structured_output(Decision).invoke(_MESSAGES)
        assert stock_kind == classify(caught.value) == "transient"
        assert srv.requests == 2  # one call each: the lean path does not retry by itself (the run does)


@pytest.mark.parametrize("case", ["unauthorized", "not_found", "refused", "timeout"])
def test_refusals_and_unreachable_servers_classify_the_same(case):
    with MockOpenAIServer(delay=0.0, api_key="right", faults=Faults(hang=1.0 if case == "timeout" else 0.0)) as srv:
        base_url = srv.base_url
        if case == "not_found":
            base_url = base_url[: -len("/v1")] + "/nowhere"
        if case == "refused":
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        key = "wrong" if case == "unauthorized" else "right"
        lean = load_chat_model("openai:mock", base_url=base_url, api_key=key, max_retries=0, timeout=0.5)
        stock = lean.model_copy(update={"lean": False})
        for structured in (False, True):
            results = [_outcome(lambda m=m: (m.with_structured_output(Decision) if structured else m).invoke("hi"))
                       for m in (stock, lean)]
            assert results[0] is not None and results[1] == results[0], results
        expected = {"unauthorized": "rejected", "not_found": "rejected", "refused": "unreachable",
                    "timeout": "unreachable"}[case]
        assert results[0][1] == expected


async def test_async_errors_classify_the_same():
    with MockOpenAIServer(delay=0.0, faults=Faults(server_error=1.0)) as srv:
        lean, stock = _models(srv.base_url)
        seen = []
        for model in (stock, lean):
            try:
                await model.with_structured_output(Decision).ainvoke("hi")
            except Exception as exc:  # noqa: BLE001
                seen.append((type(exc).__name__, classify(exc)))
        assert len(seen) == 2 and seen[0] == seen[1] and seen[0][1] == "transient"
