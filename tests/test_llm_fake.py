"""escgraph.llm without a real model: specs, the fake chat model, usage tracking, schema bounding. Fast."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

import escgraph.llm as llm
from escgraph.llm import (
    FakeChatModel,
    ModelSettings,
    ModelSpecError,
    StructuredOutputError,
    Usage,
    UsageTracker,
    load_chat_model,
)
from escgraph.llm._schema import (
    OutputSchema,
    bounded_grammar_schema,
    format_instructions,
    worst_case_length,
)
from escgraph.llm.schema_instance import minimal_instance


class Inner(BaseModel):
    note: str


class Decision(BaseModel):
    strategy: Literal["Question", "Reflection of feelings", "Providing Suggestions"]
    rationale: str = Field(max_length=120)
    intensity: int = Field(ge=1, le=5)
    tags: list[str] = Field(default_factory=list)
    detail: Inner
    maybe: str | None = None


class Verdict(BaseModel):
    crisis: bool
    category: str = "none"


class Movie(TypedDict):
    title: str
    year: int


MOVIE_SCHEMA = {
    "title": "movie",
    "type": "object",
    "properties": {"genre": {"type": "string", "enum": ["drama", "comedy"]}, "title": {"type": "string"}},
    "required": ["genre", "title"],
}


def test_public_names_are_pinned():
    assert sorted(llm.__all__) == sorted([
        "load_chat_model", "default_chat_model", "embedded_model_path", "ModelSettings", "ModelSpecError",
        "StructuredOutputError", "ChatLlamaCpp", "FakeChatModel", "Usage", "UsageTracker", "StructuredOutputTracker",
        "ServerPoolChatModel", "LeanChatOpenAI", "cached_chat_model", "redact_url", "redact_text",
        "REQUEST_OPTION_PROVIDERS",
    ])
    for name in llm.__all__:
        assert getattr(llm, name) is not None


# --- specs ---------------------------------------------------------------------------------------------------


def test_fake_spec_gives_an_echoing_fake():
    model = load_chat_model("fake")
    assert isinstance(model, FakeChatModel)
    assert "I feel low" in model.invoke("I feel low").content


@pytest.mark.parametrize("spec", ["gpt-4o", "", "openai:", ":gpt-4o", "  nonsense  "])
def test_malformed_specs_are_rejected(spec):
    with pytest.raises(ModelSpecError, match="spec"):
        load_chat_model(spec)


def test_missing_gguf_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ModelSpecError, match="nowhere/model.gguf"):
        load_chat_model(f"local:{missing}")


def test_local_spec_without_a_path_is_rejected():
    with pytest.raises(ModelSpecError, match="names no file"):
        load_chat_model("local:")


def test_base_url_is_refused_for_in_process_models():
    with pytest.raises(ModelSpecError, match="base_url"):
        load_chat_model("local", base_url="http://127.0.0.1:8000/v1")


def test_unknown_provider_is_a_spec_error():
    with pytest.raises(ModelSpecError, match="unknown provider 'nosuchprovider'"):
        load_chat_model("nosuchprovider:some-model")


def test_missing_integration_package_says_what_to_install():
    if importlib.util.find_spec("langchain_anthropic") is not None:
        pytest.skip("langchain-anthropic is installed here")
    with pytest.raises(ModelSpecError, match="pip install 'langchain-anthropic'") as info:
        load_chat_model("anthropic:claude-sonnet-4-5")
    assert "anthropic:claude-sonnet-4-5" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_model_settings_record_only_pinned_values():
    settings = ModelSettings(temperature=0.2, seed=7)
    assert settings.as_kwargs() == {"temperature": 0.2, "seed": 7}
    assert ModelSettings.model_validate_json(settings.model_dump_json()) == settings
    assert ModelSettings.of(FakeChatModel()) == ModelSettings()


# --- the fake: plain replies -----------------------------------------------------------------------------------


def test_scripted_replies_cycle_and_calls_are_recorded():
    model = FakeChatModel(responses=["one", "two"])
    assert [model.invoke(f"q{i}").content for i in range(3)] == ["one", "two", "one"]
    assert [call[0][-1].content for call in model.calls] == ["q0", "q1", "q2"]
    assert all(schema is None for _, schema in model.calls)
    model.reset()
    assert model.calls == [] and model.invoke("again").content == "one"


def test_replies_carry_usage_and_response_metadata():
    model = FakeChatModel(responses=["three little words"])
    message = model.invoke([SystemMessage("be kind"), HumanMessage("hi")])
    assert message.usage_metadata == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.response_metadata["model_name"] == "fake-chat-model"


def test_structured_script_items_are_sent_as_json_to_plain_calls():
    model = FakeChatModel(responses=[{"a": 1}, Verdict(crisis=False)])
    assert model.invoke("x").content == '{"a": 1}'
    assert model.invoke("x").content == '{"crisis":false,"category":"none"}'


def test_stop_sequences_cut_the_reply():
    model = FakeChatModel(responses=["Hello there. Second sentence."])
    assert model.invoke("x", stop=[". "]).content == "Hello there"


def test_stream_goes_word_by_word_and_ends_with_usage():
    model = FakeChatModel(responses=["I am here for you"])
    chunks = list(model.stream("hi"))
    assert [c.content for c in chunks[:-1]] == ["I ", "am ", "here ", "for ", "you"]
    assert chunks[-1].usage_metadata["output_tokens"] == 5
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == "I am here for you"


async def test_async_invoke_and_stream():
    model = FakeChatModel(responses=["a b c"])
    assert (await model.ainvoke("x")).content == "a b c"
    assert [c.content async for c in model.astream("x")][:3] == ["a ", "b ", "c"]


def test_responder_sees_messages_and_schema():
    seen = []

    def respond(messages, schema):
        seen.append((messages[-1].content, schema))
        return Verdict(crisis=True, category="self_harm") if schema is Verdict else "plain"

    model = FakeChatModel(responder=respond)
    assert model.invoke("hello").content == "plain"
    assert model.with_structured_output(Verdict).invoke("help") == Verdict(crisis=True, category="self_harm")
    assert seen == [("hello", None), ("help", Verdict)]


# --- the fake: structured output -------------------------------------------------------------------------------


def test_structured_defaults_need_no_script():
    decision = FakeChatModel().with_structured_output(Decision).invoke("anything")
    assert decision == Decision(strategy="Question", rationale="", intensity=1, detail=Inner(note=""))


def test_structured_defaults_for_typeddict_and_json_schema():
    model = FakeChatModel()
    assert model.with_structured_output(Movie).invoke("x") == {"title": "", "year": 0}
    assert model.with_structured_output(MOVIE_SCHEMA).invoke("x") == {"genre": "drama", "title": ""}


def test_scripted_structured_values_are_validated_and_plain_replies_are_not_eaten():
    verdict = Verdict(crisis=True, category="suicide")
    model = FakeChatModel(responses=[verdict, "a plain reply", {"crisis": False}])
    structured = model.with_structured_output(Verdict)
    assert structured.invoke("x") == verdict
    # the next scripted item is plain text: the structured call leaves it for the plain call
    assert structured.invoke("x") == Verdict(crisis=False)
    assert model.invoke("x").content == "a plain reply"
    assert structured.invoke("x") == Verdict(crisis=False, category="none")
    assert [schema for _, schema in model.calls] == [Verdict, Verdict, None, Verdict]


def test_scripted_value_of_another_schema_waits_for_its_call():
    model = FakeChatModel(responses=[Verdict(crisis=True)])
    assert model.with_structured_output(Decision).invoke("x").strategy == "Question"
    assert model.with_structured_output(Verdict).invoke("x").crisis is True


def test_include_raw_returns_raw_parsed_and_error():
    model = FakeChatModel(responses=[{"crisis": True}])
    result = model.with_structured_output(Verdict, include_raw=True).invoke("x")
    assert set(result) == {"raw", "parsed", "parsing_error"}
    assert isinstance(result["raw"], AIMessage) and result["parsed"] == Verdict(crisis=True)
    assert result["parsing_error"] is None


def test_an_invalid_responder_value_is_a_clear_error():
    model = FakeChatModel(responder=lambda messages, schema: {"crisis": "perhaps?"})
    with pytest.raises(StructuredOutputError, match="Verdict"):
        model.with_structured_output(Verdict).invoke("x")
    raw = model.with_structured_output(Verdict, include_raw=True).invoke("x")
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], StructuredOutputError)


async def test_structured_output_through_ainvoke():
    model = FakeChatModel(responses=[{"title": "Up", "year": 2009}])
    assert await model.with_structured_output(Movie).ainvoke("x") == {"title": "Up", "year": 2009}


def test_unknown_structured_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        FakeChatModel().with_structured_output(Verdict, method="tool_magic")


def test_threads_share_one_script_safely():
    model = FakeChatModel(responses=[str(i) for i in range(10)])
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda i: model.invoke(f"q{i}").content, range(200)))
    assert len(model.calls) == 200
    assert sorted(replies.count(str(i)) for i in range(10)) == [20] * 10


async def test_concurrent_async_callers():
    model = FakeChatModel(responder=lambda messages, schema: messages[-1].content.upper())
    replies = await asyncio.gather(*(model.ainvoke(f"caller {i}") for i in range(20)))
    assert [r.content for r in replies] == [f"CALLER {i}" for i in range(20)]


# --- usage tracking ----------------------------------------------------------------------------------------------


def test_usage_tracker_groups_tokens_by_role_tag_and_metadata():
    tracker = UsageTracker()
    model = FakeChatModel(responses=["two words"])
    model.invoke("one", config={"callbacks": [tracker], "tags": ["role:counselor"]})
    model.invoke("one", config={"callbacks": [tracker], "metadata": {"role": "judge"}})
    model.invoke("one", config={"callbacks": [tracker]})
    model.with_structured_output(Verdict).invoke("x", config={"callbacks": [tracker], "tags": ["role:judge"]})
    totals = tracker.totals()
    assert totals["counselor"] == Usage(input_tokens=1, output_tokens=2, total_tokens=3, calls=1)
    assert totals["judge"].calls == 2 and totals["judge"].input_tokens == 2
    assert totals["unknown"].calls == 1
    assert tracker.total().calls == 4


async def test_usage_tracker_is_safe_under_concurrency():
    tracker = UsageTracker()
    model = FakeChatModel(responses=["a b"])

    def call(i: int) -> None:
        model.invoke("x y", config={"callbacks": [tracker], "tags": [f"role:r{i % 3}"]})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    config = {"callbacks": [tracker], "tags": ["role:r0"]}
    await asyncio.gather(*(model.ainvoke("x y", config=config) for _ in range(10)))
    totals = tracker.totals()
    assert {role: usage.calls for role, usage in totals.items()} == {"r0": 20, "r1": 10, "r2": 10}
    assert tracker.total().total_tokens == 40 * 4


# --- schemas for constrained decoding ------------------------------------------------------------------------


def test_grammar_schema_bounds_free_text_and_keeps_field_order():
    bounded = bounded_grammar_schema(Decision.model_json_schema(), string_max_length=200, array_max_items=5)
    props = bounded["properties"]
    assert list(props) == ["strategy", "rationale", "intensity", "tags", "detail", "maybe"]
    assert bounded["required"] == list(props) and bounded["additionalProperties"] is False
    assert "maxLength" not in props["strategy"]  # enums need no bound
    assert props["rationale"]["maxLength"] == 120  # the caller's own bound is kept
    assert props["intensity"]["enum"] == [1, 2, 3, 4, 5]  # the grammar cannot express minimum/maximum
    assert props["tags"]["maxItems"] == 5 and props["tags"]["items"]["maxLength"] == 200
    assert bounded["$defs"]["Inner"]["properties"]["note"]["maxLength"] == 200
    assert any(option.get("maxLength") == 200 for option in props["maybe"]["anyOf"])
    assert Decision.model_json_schema()["properties"]["rationale"] == {
        "maxLength": 120, "title": "Rationale", "type": "string"}  # the original is untouched


def test_small_number_ranges_become_a_grid_the_grammar_can_enforce():
    schema = {"type": "object", "properties": {
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "score": {"type": "number", "minimum": 0, "maximum": 1000}}}
    props = bounded_grammar_schema(schema, string_max_length=10, array_max_items=2)["properties"]
    assert props["confidence"]["enum"][:3] == [0, 0.05, 0.1] and props["confidence"]["enum"][-1] == 1
    assert "enum" not in props["score"]  # too wide to enumerate: validation and retries cover it


def test_worst_case_length_is_finite_only_when_bounded():
    raw = Decision.model_json_schema()
    assert worst_case_length(raw) >= 10_000
    bounded = bounded_grammar_schema(raw, string_max_length=50, array_max_items=2)
    assert 200 < worst_case_length(bounded) < 1000


def test_default_values_follow_the_schema():
    schema = {"type": "object", "required": ["n", "s", "e", "b", "o"], "properties": {
        "n": {"type": "integer", "minimum": 3}, "s": {"type": "string", "minLength": 2},
        "e": {"enum": ["x", "y"]}, "b": {"type": "boolean"},
        "o": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "skipped": {"type": "string"}}}
    assert minimal_instance(schema) == {"n": 3, "s": "xx", "e": "x", "b": False, "o": None}


def test_output_schema_parses_json_with_raw_newlines():
    assert OutputSchema.of(Verdict).parse('{"crisis": false, "category": "line\nbreak"}').category == "line\nbreak"
    with pytest.raises(ValueError):
        OutputSchema.of(Verdict).parse('{"crisis": ')


def test_format_instructions_name_fields_in_order():
    text = format_instructions(Decision.model_json_schema())
    assert text.index("strategy (") < text.index("rationale (") < text.index("intensity (")
    assert "one of: Question, Reflection of feelings, Providing Suggestions" in text
    assert "integer from 1 to 5" in text and "at most 120 characters" in text
