"""ESCContext.models takes model specs (strings, {"spec", "base_url", settings} mappings) as well as model objects.

Specs are checked when the context is made, loaded lazily on first use, cached per process and thread-safe; a
dict context (what `langgraph dev` and the LangGraph API pass) is coerced into ESCContext.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from escgraph.agents import Supporter
from escgraph.agents._base import context_of
from escgraph.graphs import build_graph
from escgraph.llm import FakeChatModel, ModelSettings, ModelSpecError
from escgraph.llm import _spec
from escgraph.llm._cached import cached_chat_model, clear_model_cache
from escgraph.types import ESCContext, ESCState, ModelRef

SAID = "I had a fight with my sister and feel awful."
FAKE_REPLY = f"I hear you. You said: {SAID}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def _seeker():
    return {"messages": [HumanMessage(SAID)]}


def test_a_spec_string_loads_lazily_and_is_cached_per_process(monkeypatch):
    loads = []
    real = _spec.load_chat_model
    monkeypatch.setattr(_spec, "load_chat_model", lambda spec, **kw: loads.append(spec) or real(spec, **kw))
    ctx = ESCContext(models={"counselor": "fake"})
    assert loads == []  # nothing is loaded when the context is made
    model = ctx.model("counselor")
    assert isinstance(model, FakeChatModel) and loads == ["fake"]
    assert ctx.model("judge") is model  # other roles fall back to the counselor's entry
    assert ESCContext(models={"counselor": " fake "}).model("counselor") is model  # a new context, same process
    assert loads == ["fake"]


@pytest.mark.embedded
def test_cache_key_is_spec_base_url_and_settings():
    plain = cached_chat_model("fake")
    assert cached_chat_model("fake", settings={}) is plain
    assert cached_chat_model("fake", base_url="http://127.0.0.1:1/v1") is not plain
    a = ESCContext(models={"counselor": {"spec": "local", "temperature": 0.2}})
    b = ESCContext(models={"counselor": {"spec": "local", "temperature": 0.2, "max_tokens": None}})
    c = ESCContext(models={"counselor": {"spec": "local", "temperature": 0.9}})
    pytest.importorskip("llama_cpp")
    first = a.model("counselor")
    assert b.model("counselor") is first and c.model("counselor") is not first
    assert (first.temperature, c.model("counselor").temperature) == (0.2, 0.9)
    assert ESCContext(models={"counselor": "local"}).model("counselor").temperature == 0.7  # the model's default


def test_plain_local_is_the_shared_default_model(monkeypatch):
    sentinel = FakeChatModel()
    monkeypatch.setattr(_spec, "_default_model", sentinel)
    assert ESCContext(models={"counselor": "local"}).model("counselor") is sentinel
    assert ESCContext().model("counselor") is sentinel


def test_concurrent_first_use_loads_once(monkeypatch):
    loads = []

    def slow_load(spec, **kw):
        loads.append(spec)
        time.sleep(0.05)
        return FakeChatModel()

    monkeypatch.setattr(_spec, "load_chat_model", slow_load)
    ctx = ESCContext(models={"counselor": "openai:some-model", "judge": "anthropic:other"})
    got: list = []
    threads = [threading.Thread(target=lambda r=role: got.append((r, ctx.model(r))))
               for role in ["counselor", "judge"] * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(loads) == ["anthropic:other", "openai:some-model"]
    for role in ("counselor", "judge"):
        assert len({id(m) for r, m in got if r == role}) == 1


def test_a_failed_load_is_not_cached(monkeypatch):
    calls = []

    def flaky(spec, **kw):
        calls.append(spec)
        if len(calls) == 1:
            raise ModelSpecError(f"Model spec {spec!r} needs the LangChain integration package x")
        return FakeChatModel()

    monkeypatch.setattr(_spec, "load_chat_model", flaky)
    ctx = ESCContext(models={"counselor": "openai:m"})
    with pytest.raises(ModelSpecError):
        ctx.model("counselor")
    assert isinstance(ctx.model("counselor"), FakeChatModel) and len(calls) == 2


def test_objects_still_work_and_mix_with_specs():
    own = FakeChatModel(responses=["scripted"])
    ctx = ESCContext(models={"counselor": own, "judge": "fake"})
    assert ctx.model("counselor") is own and ctx.model("seeker") is own
    assert isinstance(ctx.model("judge"), FakeChatModel) and ctx.model("judge") is not own


@pytest.mark.parametrize("models, words", [
    ({"counselor": "nonsense"}, ["'counselor'", "'nonsense'", "not valid"]),
    ({"judge": ""}, ["'judge'", "not valid"]),
    ({"judge": "openai:"}, ["'judge'", "'openai:'"]),
    ({"critic": {"spec": "fake", "colour": 1}}, ["'critic'", "'colour'"]),
    ({"critic": {"base_url": "http://127.0.0.1:1/v1"}}, ["'critic'", "'spec' must be"]),
    ({"seeker": {"spec": "openai:m", "seed": 1.5}}, ["'seeker'", "seed must be an integer", "'openai:m'"]),
    ({"seeker": {"spec": "openai:m", "temperature": "hot"}}, ["'seeker'", "temperature must be a number"]),
    ({"seeker": {"spec": "openai:m", "base_url": 5}}, ["'seeker'", "'base_url' must be"]),
    ({"counselor": 3}, ["'counselor'", "int 3"]),
])
def test_malformed_entries_are_refused_when_the_context_is_made(models, words):
    with pytest.raises(ModelSpecError) as info:
        ESCContext(models=models)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_spec_that_cannot_load_names_the_role_and_spec(tmp_path):
    ctx = ESCContext(models={"counselor": "fake", "judge": f"local:{tmp_path}/missing.gguf",
                             "analyst": "nosuchprovider:model"})
    with pytest.raises(ModelSpecError, match=r"models\['judge'\].*missing\.gguf.*not found"):
        ctx.model("judge")
    with pytest.raises(ModelSpecError, match=r"models\['analyst'\].*'nosuchprovider:model'.*unknown provider"):
        ctx.model("analyst")
    with pytest.raises(ModelSpecError, match=r"models\['counselor'\].*base_url"):
        ESCContext(models={"counselor": {"spec": "local", "base_url": "http://127.0.0.1:1/v1"}}).model("counselor")
    assert isinstance(ctx.model("counselor"), FakeChatModel)  # one bad role does not spoil the others


def test_a_dict_context_selects_the_fake_model_in_a_registered_graph():
    out = build_graph("sweetiechat").invoke(_seeker(), context={"models": {"counselor": "fake"}})
    assert out["reply"] == FAKE_REPLY and out["messages"][-1].content == FAKE_REPLY


async def test_a_dict_context_with_a_mapping_entry_async():
    out = await build_graph("sweetiechat").ainvoke(_seeker(), context={"models": {"counselor": {"spec": "fake"}}})
    assert out["reply"] == FAKE_REPLY


def test_a_bad_spec_in_a_dict_context_fails_the_run_clearly():
    with pytest.raises(ModelSpecError, match=r"models\['counselor'\].*'gpt4'"):
        build_graph("sweetiechat").invoke(_seeker(), context={"models": {"counselor": "gpt4"}})


def test_a_graph_without_context_schema_reads_the_dict_too():
    b = StateGraph(ESCState)
    b.add_node("reply", Supporter())
    b.add_edge(START, "reply")
    b.add_edge("reply", END)
    out = b.compile().invoke(_seeker(), context={"models": {"counselor": "fake"}, "my_own_key": 1})
    assert out["reply"] == FAKE_REPLY


def test_the_embedded_fallback_is_the_default_and_is_logged_once(monkeypatch, caplog):
    import escgraph.types as types

    sentinel = FakeChatModel()
    monkeypatch.setattr(_spec, "_default_model", sentinel)
    monkeypatch.setattr(types, "_fallback_noted", False)
    assert ESCContext().fallback_model == "local"
    with caplog.at_level("INFO", logger="escgraph.types"):
        assert ESCContext().model("judge") is sentinel
        assert ESCContext().model("seeker") is sentinel
    lines = [r.getMessage() for r in caplog.records if r.name == "escgraph.types"]
    assert len(lines) == 1 and "'judge'" in lines[0] and "'local'" in lines[0] and "fallback_model=None" in lines[0]


def test_the_counselor_fallback_needs_no_fallback_model():
    ctx = ESCContext(models={"counselor": "fake"}, fallback_model=None)
    assert ctx.model("judge") is ctx.model("counselor")


def test_fallback_model_none_refuses_a_role_without_a_model():
    with pytest.raises(ModelSpecError, match=r"No model for role 'critic'.*fallback_model is None"):
        ESCContext(models={"seeker": "fake"}, fallback_model=None).model("critic")
    with pytest.raises(ModelSpecError, match=r"No model for role 'counselor'"):
        build_graph("sweetiechat").invoke(_seeker(), context={"models": {}, "fallback_model": None})


def test_fallback_model_may_name_another_spec():
    ctx = ESCContext(fallback_model="fake")
    assert isinstance(ctx.model("judge"), FakeChatModel) and ctx.model("judge") is ctx.model("seeker")


@pytest.mark.parametrize("bad", ["gpt4", 3, {"spec": "fake"}])
def test_a_malformed_fallback_model_is_refused_when_the_context_is_made(bad):
    with pytest.raises(ModelSpecError, match=r"ESCContext\.fallback_model"):
        ESCContext(fallback_model=bad)


def test_context_of_coerces_mappings():
    class Runtime:
        context = {"models": {"counselor": "fake"}, "locale": "de-DE", "other": 1}

    ctx = context_of(Runtime())
    assert isinstance(ctx, ESCContext) and ctx.locale == "de-DE" and ctx.models == {"counselor": "fake"}


def test_base_url_per_role_reaches_an_openai_compatible_server(monkeypatch):
    pytest.importorskip("langchain_openai")
    from escgraph.testing import MockOpenAIServer

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with MockOpenAIServer(delay=0) as server:
        context = {"models": {"counselor": {"spec": "openai:mock-model", "base_url": server.base_url,
                                            "temperature": 0.3}}}
        out = build_graph("sweetiechat").invoke(_seeker(), context=context)
        assert out["reply"].strip() and server.requests >= 2
        model = ESCContext(**context).model("counselor")
        assert model.temperature == 0.3 and str(model.openai_api_base).startswith(server.base_url)


def test_the_context_json_schema_describes_models():
    """langgraph-api filters a run's context by this schema: it must build, and list every field."""
    schema = build_graph("sweetiechat").get_context_jsonschema()
    assert set(schema["properties"]) == {f.name for f in fields(ESCContext)}
    ref = schema["$defs"]["ModelRef"]
    assert ref["required"] == ["spec"]
    assert set(ref["properties"]) == {"spec", "base_url", *ModelSettings.model_fields}
    assert set(ModelRef.__annotations__) == set(ref["properties"])


def test_readme_context_specs_example_runs(capsys):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = text.split("<!-- readme-example: context-specs -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "I hear you. You said: I keep failing my driving test."
