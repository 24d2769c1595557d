"""Long-term seeker memory: facts saved in session 1 are used in session 2 for the same seeker only, and gone
after `forget`; over both LangGraph stores (in-memory and SQLite)."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage
from langgraph.store.memory import InMemoryStore
from typer.testing import CliRunner

from escgraph.agents.memory_agents import FactExtractor, rule_facts
from escgraph.cli._app import cli_app
from escgraph.graphs import build_graph
from escgraph.graphs.with_memory import with_seeker_memory
from escgraph.llm import FakeChatModel
from escgraph.memory.seeker_memory import (
    MemoryStoreError,
    SeekerFact,
    SeekerMemory,
    embedding_index,
    open_memory_store,
)
from escgraph.types import ESCContext

SESSION_1 = "Please call me Sam. I'm a nurse on night shifts and I can't switch off after work."
SESSION_2 = "Work was rough again tonight."


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        return InMemoryStore(index=embedding_index())
    return open_memory_store(tmp_path / "memory.sqlite")


class Recorder(FakeChatModel):
    pass


def supporter_prompts(model: FakeChatModel) -> list[str]:
    return [call[0][0].text for call in model.calls if "Strategy for this reply" in call[0][0].text]


def chat(graph, model, seeker: str | None, text: str, thread: str):
    state = {"messages": [HumanMessage(text)]}
    if seeker:
        state["seeker_id"] = seeker
    return graph.invoke(state, {"configurable": {"thread_id": thread}}, context=ESCContext(models={"counselor": model}))


def test_fact_from_session_one_is_used_in_session_two_for_the_same_seeker_only(store):
    model = FakeChatModel()
    graph = with_seeker_memory(build_graph("sweetiechat"), store=store,
                               extractor=FactExtractor(use_model=False))
    chat(graph, model, "sam-01", SESSION_1, "session-1")
    assert {f.text for f in SeekerMemory(store).facts("sam-01")} >= {"Wants to be called Sam.", "Is a nurse."}

    out = chat(graph, model, "sam-01", SESSION_2, "session-2")  # a new conversation: nothing carried in messages
    assert [m.text for m in out["messages"] if isinstance(m, HumanMessage)] == [SESSION_2]
    assert "Wants to be called Sam." in supporter_prompts(model)[-1]
    assert any(m["text"] == "Is a nurse." for m in out["memories"])

    chat(graph, model, "alex-02", SESSION_2, "session-3")  # another seeker: nothing of Sam's
    assert "Sam" not in supporter_prompts(model)[-1]

    assert SeekerMemory(store).forget("sam-01") >= 2
    chat(graph, model, "sam-01", SESSION_2, "session-4")
    assert "Sam" not in supporter_prompts(model)[-1]


def test_without_a_seeker_id_nothing_is_stored(store):
    graph = with_seeker_memory(build_graph("sweetiechat"), store=store, extractor=FactExtractor(use_model=False))
    chat(graph, FakeChatModel(), None, SESSION_1, "t")
    assert SeekerMemory(store).seekers() == []


def test_model_facts_are_kept_only_when_grounded(store):
    extracted = {"facts": [{"kind": "helped", "text": "Long walks after night shifts helped"},
                           {"kind": "situation", "text": "They have three children and a dog"}]}
    extractor = FactExtractor(FakeChatModel(responses=[extracted]))
    facts = extractor.extract("Long walks after my night shifts helped me a lot.")
    assert any(f.kind == "helped" and "walks" in f.text.lower() for f in facts)
    assert not any("children" in f.text for f in facts)  # never said: dropped


def test_recall_ranks_related_facts_and_keeps_one_address(store):
    memory = SeekerMemory(store)
    memory.remember("s1", [SeekerFact(kind="address", text="Wants to be called Sam."),
                           SeekerFact(kind="helped", text="Breathing exercises helped with panic."),
                           SeekerFact(kind="situation", text="Has a dog called Biscuit.")])
    memory.remember("s1", [SeekerFact(kind="address", text="Wants to be called Samantha.")])
    assert [f.text for f in memory.facts("s1", kind="address")] == ["Wants to be called Samantha."]
    recalled = memory.recall("s1", "I had another panic attack", k=1)
    assert [f.kind for f in recalled] == ["address", "helped"]
    assert memory.remember("s1", [SeekerFact(kind="situation", text="Has a dog called  Biscuit.")]) == []


def test_bad_seeker_ids_are_refused(store):
    with pytest.raises(MemoryStoreError, match="not usable"):
        SeekerMemory(store).facts("../etc")


def test_rule_facts():
    assert [f.text for f in rule_facts("My name is Priya and I work as a teacher.")] == [
        "Their name is Priya; address them as Priya.", "Works as/at teacher."]
    assert rule_facts("I don't know what to do. I am a mess.") == []


def test_memory_cli_show_and_forget(tmp_path):
    db = tmp_path / "memory.sqlite"
    memory = SeekerMemory(open_memory_store(db))
    memory.remember("sam-01", rule_facts(SESSION_1))
    runner = CliRunner()
    shown = runner.invoke(cli_app(), ["memory", "show", "sam-01", "--db", str(db)])
    assert shown.exit_code == 0 and "Wants to be called Sam." in shown.output
    listed = runner.invoke(cli_app(), ["memory", "show", "--db", str(db), "--json"])
    assert json.loads(listed.output) == ["sam-01"]
    gone = runner.invoke(cli_app(), ["memory", "forget", "sam-01", "--db", str(db), "--yes"])
    assert gone.exit_code == 0 and "forgot 2 fact(s)" in gone.output
    empty = runner.invoke(cli_app(), ["memory", "show", "sam-01", "--db", str(db)])
    assert "nothing remembered about sam-01" in empty.output
    missing = runner.invoke(cli_app(), ["memory", "show", "x", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "no memory store" in missing.output


def test_chat_cli_with_seeker_remembers_across_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCGRAPH_HOME", str(tmp_path))
    runner = CliRunner()
    args = ["chat", "--model", "fake", "--seeker", "sam-01", "--json", "--db", str(tmp_path / "c.db")]
    first = runner.invoke(cli_app(), [*args, "--thread", "one"], input=SESSION_1 + "\n")
    assert first.exit_code == 0, first.output
    shown = runner.invoke(cli_app(), ["memory", "show", "sam-01"])
    assert "Wants to be called Sam." in shown.output
    bad = runner.invoke(cli_app(), ["chat", "--model", "fake", "--seeker", "no/slash"], input="hi\n")
    assert bad.exit_code == 2 and "not usable" in bad.output


def test_accumulating_keys_grow_once_per_turn_through_the_memory_wrapper():
    """The wrapped graph returns its whole state; the wrapper must hand back only what this turn added, or
    `operator.add` keys (strategy history, debate, critiques) would repeat the past every turn."""
    from langgraph.checkpoint.memory import InMemorySaver

    graph = with_seeker_memory(build_graph("sweetiechat"), store=InMemoryStore(), checkpointer=InMemorySaver(),
                               extractor=FactExtractor(use_model=False))
    lengths = []
    for text in ("I failed my exam.", "My parents are upset.", "I can't sleep."):
        out = chat(graph, FakeChatModel(), "sam-01", text, "one-thread")
        lengths.append((len(out["strategy_history"]), len(out["messages"])))
    assert lengths == [(1, 2), (2, 4), (3, 6)]
