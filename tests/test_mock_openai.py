"""The loopback OpenAI-compatible mock server, driven by the real ChatOpenAI client (langchain-openai)."""

from __future__ import annotations

import asyncio
import http.client
import json
from enum import Enum
from typing import Literal

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from escgraph.llm import load_chat_model
from escgraph.testing import MockOpenAIServer, instance_for_schema

pytest.importorskip("langchain_openai")

pytestmark = pytest.mark.usefixtures("loopback_openai_client")  # conftest: no proxy, any key


@pytest.fixture
def server():
    with MockOpenAIServer(delay=0.01) as srv:
        yield srv


def _chat(server: MockOpenAIServer, **kwargs):
    return load_chat_model("openai:mock-model", base_url=server.base_url, api_key="x", **kwargs)


class Mood(str, Enum):
    calm = "calm"
    tense = "tense"
    low = "low"


class Decision(BaseModel):
    strategy: Literal["Question", "Reflection of feelings", "Providing Suggestions"]
    mood: Mood
    rationale: str = Field(max_length=40, description="one short sentence")
    change: int = Field(ge=-10, le=10)


def test_plain_invoke_returns_text_and_usage(server):
    reply = _chat(server).invoke("I failed my driving test again")
    assert isinstance(reply.content, str) and len(reply.content.split()) >= 3
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    assert server.requests == 1


def test_replies_are_deterministic_per_conversation(server):
    chat = _chat(server)
    first = [chat.invoke(f"message {i}").content for i in range(6)]
    assert first == [chat.invoke(f"message {i}").content for i in range(6)]
    assert len(set(first)) > 1  # varied by the messages


async def test_async_invoke(server):
    reply = await _chat(server).ainvoke([HumanMessage("I can't sleep before exams.")])
    assert reply.content


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_parses_every_time(server, method):
    chooser = _chat(server).with_structured_output(Decision, method=method)
    seen = set()
    for i in range(20):
        decision = chooser.invoke(f"Seeker says thing number {i}")
        assert isinstance(decision, Decision)  # pydantic validated enum, length and bounds
        seen.add(decision.strategy)
    assert len(seen) > 1  # the enum value follows the messages


def test_json_mode_returns_an_object(server):
    out = _chat(server).with_structured_output(method="json_mode").invoke("Answer in JSON please.")
    assert isinstance(out, dict) and out


def test_streaming(server):
    chunks = list(_chat(server).stream("hello"))
    assert "".join(c.content for c in chunks).strip()


async def test_concurrent_calls_overlap():
    with MockOpenAIServer(delay=0.2) as srv:
        chat = _chat(srv)
        replies = await asyncio.gather(*(chat.ainvoke(f"seeker {i}") for i in range(50)))
        assert all(r.content for r in replies)
        assert srv.requests == 50
        assert srv.max_in_flight > 1  # the calls waited together (the bench measures how well)


def _raw(server: MockOpenAIServer, method: str, path: str, body: bytes | None = None, conn=None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_http_edges(server):
    assert _raw(server, "GET", "/v1/models")[1]["data"][0]["id"]
    status, body = _raw(server, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = _raw(server, "POST", "/v1/chat/completions", b'{"model": "m"}')
    assert status == 400 and "messages" in body["error"]["message"]
    assert _raw(server, "GET", "/v1/nope")[0] == 404
    assert _raw(server, "GET", "/v1/chat/completions")[0] == 405
    assert server.requests == 0  # rejected requests are not counted as completions


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    for _ in range(3):
        status, data = _raw(server, "POST", "/v1/chat/completions", body, conn=conn)
        assert status == 200 and data["object"] == "chat.completion"
    assert server.requests == 3


def test_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        MockOpenAIServer(host="0.0.0.0")


def test_schema_instances_cover_refs_unions_and_bounds():
    class Item(BaseModel):
        kind: Literal["a", "b"]
        weight: float = Field(gt=0, lt=1)

    class Outer(BaseModel):
        items: list[Item] = Field(min_length=2, max_length=4)
        note: str | None = Field(default=None, min_length=5, max_length=12)
        count: int = Field(ge=3, le=5)
        flag: bool
        tags: dict[str, int] = {}

    schema = Outer.model_json_schema()  # $defs + $ref, anyOf with null, exclusive bounds
    for seed in range(30):
        Outer.model_validate(instance_for_schema(schema, str(seed)))


def test_sweetiechat_runs_end_to_end_through_the_mock(server):
    from escgraph.graphs import build_graph
    from escgraph.types import STRATEGIES, ESCContext

    graph = build_graph("sweetiechat")
    out = graph.invoke({"messages": [HumanMessage("I failed my driving test again")]},
                       config={"configurable": {"thread_id": "mock"}},
                       context=ESCContext(models={"counselor": _chat(server)}))
    assert out["reply"].strip()
    assert out["strategy"] in STRATEGIES
    assert server.requests >= 2  # a structured strategy call and a text reply


async def test_capacity_bounds_requests_worked_on_at_once():
    with MockOpenAIServer(delay=0.05, capacity=2) as srv:
        chat = _chat(srv)
        replies = await asyncio.gather(*(chat.ainvoke(f"seeker {i}") for i in range(8)))
        assert all(r.content for r in replies)
        assert srv.requests == 8
        assert srv.max_active == 2  # never more than the capacity at once ...
        assert srv.max_waiting >= 1  # ... so the rest waited for a slot
        assert srv.max_in_flight > 2  # received together, answered two at a time
        assert srv.active == srv.waiting == srv.in_flight == 0


async def test_capacity_serves_waiting_requests_in_arrival_order():
    with MockOpenAIServer(delay=0.05, capacity=1) as srv:
        chat = _chat(srv)
        finished: list[int] = []

        async def ask(i: int) -> None:
            await chat.ainvoke(f"seeker {i}")
            finished.append(i)

        tasks = []
        for i in range(4):
            tasks.append(asyncio.create_task(ask(i)))
            while srv.requests <= i:  # the server has received request i before request i + 1 is sent
                await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        assert finished == [0, 1, 2, 3]
        assert srv.max_active == 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        MockOpenAIServer(capacity=0)


def test_last_body_is_the_decoded_request(server):
    _chat(server, temperature=0.3).invoke("hello there")
    assert server.last_body["messages"][-1] == {"role": "user", "content": "hello there"}
    assert server.last_body["temperature"] == 0.3
