"""ChatLlamaCpp on the real embedded SmolLM2-135M model: offline, slower than the fake tests, no timing asserts."""

from __future__ import annotations

import asyncio
import statistics
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

from escgraph.llm import (
    ChatLlamaCpp,
    StructuredOutputError,
    UsageTracker,
    default_chat_model,
    embedded_model_path,
    load_chat_model,
)

pytestmark = pytest.mark.embedded

SEEKER_MESSAGES = [
    "I failed my exam and I feel worthless.",
    "My girlfriend left me and I can't sleep.",
    "My boss yells at me every day.",
    "I feel lonely since I moved to a new city.",
    "I'm anxious about my job interview tomorrow.",
    "My dog died last week.",
    "I argue with my parents all the time.",
    "I can't stop procrastinating and I hate myself for it.",
]


class Assessment(BaseModel):
    """Decisive enum first, then bounded free text: the shape ARCHITECTURE.md asks agents to use."""

    strategy: Literal[
        "Question", "Restatement or Paraphrasing", "Reflection of feelings", "Affirmation and Reassurance",
        "Providing Suggestions",
    ]
    emotion: str = Field(max_length=40, description="the seeker's main emotion in one or two words")
    rationale: str = Field(max_length=120, description="why this strategy, one short sentence")
    intensity: int = Field(ge=1, le=5)


class Mood(TypedDict):
    mood: Literal["sad", "angry", "anxious", "calm"]
    reason: str


@pytest.fixture(scope="module")
def model() -> ChatLlamaCpp:
    chat = load_chat_model("local", temperature=0.7, max_tokens=48)
    assert isinstance(chat, ChatLlamaCpp)
    return chat


@pytest.fixture(scope="module")
def greedy(model) -> ChatLlamaCpp:
    return model.model_copy(update={"temperature": 0.0})


def test_loaded_once_and_shared(model):
    twin = ChatLlamaCpp(model_path=str(embedded_model_path()))
    assert twin._model is model._model  # same file and context size: one Llama, one lock
    assert default_chat_model() is default_chat_model()
    assert default_chat_model()._model is model._model


def test_invoke_returns_text_usage_and_metadata(model):
    message = model.invoke([SystemMessage("You are a kind listener."), HumanMessage("I had a rough day.")])
    assert isinstance(message, AIMessage) and message.content.strip()
    usage = message.usage_metadata
    assert usage["input_tokens"] > 10 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert message.response_metadata["model_name"] == "SmolLM2-135M-Instruct.Q4_1"
    assert message.response_metadata["finish_reason"] in ("stop", "length")


def test_max_tokens_cuts_with_finish_reason_length(model):
    message = model.invoke("Write a long story about the sea.", max_tokens=5)
    assert message.usage_metadata["output_tokens"] == 5
    assert message.response_metadata["finish_reason"] == "length"


def test_stream_yields_many_chunks_then_usage(model):
    chunks = list(model.stream("Tell me about friendship."))
    text_chunks = [c for c in chunks if c.content]
    assert len(text_chunks) > 3
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == "".join(c.content for c in chunks)
    assert total.usage_metadata["output_tokens"] >= len(text_chunks) // 2
    assert total.response_metadata["finish_reason"] in ("stop", "length")


async def test_ainvoke_and_astream(model):
    message = await model.ainvoke("Say something encouraging.")
    assert message.content.strip() and message.usage_metadata["output_tokens"] > 0
    chunks = [chunk async for chunk in model.astream("Say something calm.")]
    assert sum(1 for c in chunks if c.content) > 3
    assert chunks[-1].usage_metadata["output_tokens"] > 0


async def test_concurrent_async_callers_get_their_own_answers(greedy):
    prompts = ["Name a fruit.", "What color is the sky?", "Say something kind.", "What is two plus two?"]
    alone = [greedy.invoke(p).content for p in prompts]
    together = await asyncio.gather(*(greedy.ainvoke(p) for p in prompts))
    # greedy decoding is deterministic, so interleaved callers must get exactly what they get alone
    assert [m.content for m in together] == alone
    assert len(set(alone)) == 4


async def test_event_loop_keeps_running_while_tokens_are_generated(model):
    lock = model._model.lock
    ticks_while_generating = 0
    finished = False

    async def ticker() -> None:
        nonlocal ticks_while_generating
        while not finished:
            ticks_while_generating += lock.locked()
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    try:
        await model.ainvoke("Tell me a story about a lighthouse keeper.", max_tokens=32)
        streamed = [c async for c in model.astream("Describe a quiet forest.", max_tokens=32)]
    finally:
        finished = True
        await task
    assert streamed
    # a blocked loop could not tick while llama.cpp held the model
    assert ticks_while_generating >= 5


async def test_closing_an_async_stream_early_frees_the_model(model):
    async for chunk in model.astream("Tell me a very long story.", max_tokens=200):
        if chunk.content:
            break
    # the producer thread stops at the next token and releases the lock; a new call then goes through
    message = await asyncio.wait_for(model.ainvoke("Hi", max_tokens=4), timeout=120)
    assert message.usage_metadata["output_tokens"] <= 4


def _a_word_from(text: str) -> str:
    words = [w for w in text.split() if w.isalpha() and len(w) > 3]
    assert len(words) >= 3, text
    return " " + words[2]


def test_stop_sequences_end_the_answer(greedy):
    prompt = "Describe the ocean in three sentences."
    full = greedy.invoke(prompt, max_tokens=40).content
    stop = _a_word_from(full)
    cut = greedy.invoke(prompt, max_tokens=40, stop=[stop]).content
    assert stop not in cut
    assert cut == full[: full.index(stop)]


def test_model_level_stop_applies_too(greedy):
    prompt = "Describe a mountain in three sentences."
    full = greedy.invoke(prompt, max_tokens=40).content
    stop = _a_word_from(full)
    stopper = greedy.model_copy(update={"stop": [stop]})
    assert stopper.invoke(prompt, max_tokens=40).content == full[: full.index(stop)]


def test_seed_reproduces_sampling_at_positive_temperature(model):
    seeded = model.model_copy(update={"temperature": 0.9, "seed": 123})
    first = seeded.invoke("Tell me about the sea.").content
    model.invoke("Something else entirely, about cats.")  # other traffic on the shared model in between
    assert seeded.invoke("Tell me about the sea.").content == first
    others = {seeded.invoke("Tell me about the sea.", seed=s).content for s in (1, 2, 3)}
    assert len(others | {first}) >= 2  # the seed actually matters


def test_long_dialogues_are_trimmed_to_fit_the_context(model):
    small = ChatLlamaCpp(model_path=str(embedded_model_path()), n_ctx=512, max_tokens=32, temperature=0.0)
    history = [SystemMessage("You are a supportive counselor.")]
    for i in range(40):
        history.append(HumanMessage(f"Turn {i}: I keep thinking about how hard this week at work has been."))
        history.append(AIMessage(f"Reply {i}: That sounds exhausting; tell me more about what happened."))
    history.append(HumanMessage("What should I do now?"))
    call = small._prepare(history, None, {})
    assert call.chat[0] == {"role": "system", "content": "You are a supportive counselor."}
    assert call.chat[-1]["content"] == "What should I do now?"
    assert len(call.chat) < len(history)
    assert call.prompt_tokens <= 512 - 32
    message = small.invoke(history)
    assert message.usage_metadata["input_tokens"] <= 512 - 32

    one_huge_message = [HumanMessage("please listen " * 800 + "What now?")]
    assert small.invoke(one_huge_message).usage_metadata["input_tokens"] <= 512 - 32


def test_usage_reaches_callbacks_per_role(model):
    tracker = UsageTracker()
    model.invoke("Hello", config={"callbacks": [tracker], "tags": ["role:counselor"]})
    list(model.stream("Hello", config={"callbacks": [tracker], "metadata": {"role": "seeker"}}))
    model.with_structured_output(Mood).invoke("I am sad.", config={"callbacks": [tracker], "tags": ["role:judge"]})
    totals = tracker.totals()
    assert set(totals) == {"counselor", "seeker", "judge"}
    for usage in totals.values():
        assert usage.input_tokens > 0 and usage.output_tokens > 0
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_structured_output_for_typeddict_and_json_schema(model):
    mood = model.with_structured_output(Mood).invoke("My exam went badly and I can't stop worrying.")
    assert mood["mood"] in ("sad", "angry", "anxious", "calm") and isinstance(mood["reason"], str)
    schema = {"title": "reply", "type": "object", "properties": {
        "kind": {"type": "string", "enum": ["ask", "reflect"]}, "text": {"type": "string"}},
        "required": ["kind", "text"]}
    reply = model.with_structured_output(schema).invoke("Someone says they feel lost.")
    assert reply["kind"] in ("ask", "reflect") and len(reply["text"]) <= model.structured_string_max_length


def test_grammar_honours_max_length(model):
    class Tiny(BaseModel):
        story: str = Field(max_length=12)

    long_winded = "Tell me the whole long story of your life in great detail, please."
    for seed in range(3):
        story = model.model_copy(update={"seed": seed}).with_structured_output(Tiny).invoke(long_winded).story
        assert len(story) <= 12


async def test_structured_output_through_ainvoke_with_raw(model):
    result = await model.with_structured_output(Assessment, include_raw=True).ainvoke(SEEKER_MESSAGES[0])
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], Assessment)
    assert isinstance(result["raw"], AIMessage) and result["raw"].usage_metadata["output_tokens"] > 0


def test_structured_output_retries_then_raises_a_clear_error(model):
    attempts = []

    class PickyOnce(BaseModel):
        mood: Literal["sad", "calm"]

        @field_validator("mood")
        @classmethod
        def reject_first(cls, value: str) -> str:
            attempts.append(value)
            if len(attempts) == 1:
                raise ValueError("first answer rejected on purpose")
            return value

    tracker = UsageTracker()
    assert model.with_structured_output(PickyOnce).invoke("How do I feel?", config={"callbacks": [tracker]})
    assert len(attempts) == 2 and tracker.total().calls == 2

    class NeverValid(BaseModel):
        mood: Literal["sad", "calm"]

        @field_validator("mood")
        @classmethod
        def reject(cls, value: str) -> str:
            raise ValueError("never good enough")

    two_tries = model.model_copy(update={"structured_max_attempts": 2})
    with pytest.raises(StructuredOutputError, match=r"NeverValid in 2 attempt\(s\).*never good enough"):
        two_tries.with_structured_output(NeverValid).invoke("How do I feel?")


def test_every_structured_answer_parses_over_many_calls(model):
    """Acceptance: 52 constrained calls (enum first, bounded strings, max_tokens 120) all parse and validate."""
    tracker = UsageTracker()
    outputs: list[int] = []
    for i in range(52):
        seeded = model.model_copy(update={"seed": i, "max_tokens": 120})
        result = seeded.with_structured_output(Assessment, include_raw=True).invoke(
            [SystemMessage("You are a counselor. Assess the seeker's message and choose a support strategy."),
             HumanMessage(SEEKER_MESSAGES[i % len(SEEKER_MESSAGES)])],
            config={"callbacks": [tracker], "tags": ["role:judge"]},
        )
        assert result["parsing_error"] is None, result["raw"].content
        assert isinstance(result["parsed"], Assessment)
        outputs.append(result["raw"].usage_metadata["output_tokens"])
    usage = tracker.totals()["judge"]
    retries = usage.calls - 52
    print(f"\n52 structured calls: {retries} retries, output tokens mean {statistics.mean(outputs):.0f}, "
          f"max {max(outputs)}")
    assert retries <= 5  # constrained + bounded decoding should almost never need a second attempt
