"""The SweetieChat graph: routing, the safety gate first, and conversation continuity per checkpointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from escgraph.graphs import UnknownGraphError, build_graph, list_graphs
from escgraph.memory import open_sqlite_checkpointer
from escgraph.types import STRATEGIES, ESCContext

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["memory", "sqlite"])
def checkpointer(request, tmp_path):
    if request.param == "memory":
        return InMemorySaver()
    return open_sqlite_checkpointer(tmp_path / "checkpoints.sqlite")


def _send(graph, text, thread, model):
    return graph.invoke({"messages": [HumanMessage(text)]}, config={"configurable": {"thread_id": thread}},
                        context=ESCContext(models={"counselor": model}))


def test_reply_with_strategy(scripted_model, checkpointer):
    graph = build_graph("sweetiechat", checkpointer=checkpointer)
    out = _send(graph, "My best friend stopped talking to me.", "t1", scripted_model("Question"))
    assert out["reply"] and out["strategy"] in STRATEGIES
    assert out["safety"]["crisis"] is False
    assert [type(m) for m in out["messages"]] == [HumanMessage, AIMessage]


def test_thread_continues_across_calls(scripted_model, checkpointer):
    graph = build_graph("sweetiechat", checkpointer=checkpointer)
    model = scripted_model("Question", stage="exploration")
    _send(graph, "My best friend stopped talking to me.", "t1", model)
    out = _send(graph, "We had a fight about money.", "t1", model)
    assert len(out["messages"]) == 4 and out["turn"] == 2
    assert out["strategy_history"] == ["Question", "Question"]
    other = _send(graph, "Hello", "t2", model)
    assert len(other["messages"]) == 2  # threads are separate


async def test_async_invoke(scripted_model):
    graph = build_graph("sweetiechat", checkpointer=InMemorySaver())
    out = await graph.ainvoke({"messages": [HumanMessage("I can't sleep before exams.")]},
                              config={"configurable": {"thread_id": "a"}},
                              context=ESCContext(models={"counselor": scripted_model()}))
    assert out["reply"]


def test_crisis_short_circuits_to_the_safety_reply(scripted_model):
    model = scripted_model()
    graph = build_graph("sweetiechat", checkpointer=InMemorySaver())
    out = _send(graph, "I have written goodbye letters and tonight I will end my life.", "c", model)
    assert out["safety"]["crisis"] is True
    assert out["safety"]["category"] == "suicide"
    assert model.calls == []  # no counselor ran
    assert out["messages"][-1].content == out["reply"]
    assert "988" in out["reply"] or "emergency" in out["reply"].lower()


def test_figure_of_speech_is_not_a_crisis(scripted_model):
    graph = build_graph("sweetiechat", checkpointer=InMemorySaver())
    out = _send(graph, "This exam is killing me, I have three more chapters to read.", "f", scripted_model())
    assert out["safety"]["crisis"] is False and out["reply"] == "That sounds really hard. I'm here with you."


def test_registry_lists_sweetiechat_and_rejects_unknown_names():
    names = [info.name for info in list_graphs()]
    assert "sweetiechat" in names
    assert all(info.description for info in list_graphs())
    with pytest.raises(UnknownGraphError, match="registered graphs: .*sweetiechat"):
        build_graph("nope")


def test_langgraph_json_serves_every_registered_graph():
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert set(config["graphs"]) == {info.name for info in list_graphs()}
    for target in config["graphs"].values():
        path, _, attr = target.partition(":")
        assert (ROOT / path).is_file() and attr
