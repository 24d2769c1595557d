"""A deterministic, offline chat model for tests and demos that also does structured output.

langchain-core's own fakes cannot serve ``with_structured_output``, and every graph in escgraph uses it, so
this fake does. Replies come from, in order of precedence:

1. ``responder(messages, schema_or_None)`` — a callable for logic-dependent replies; returning ``None`` from a
   structured call means "use the schema default".
2. ``responses=[...]`` — a script consumed in order and cycled. A plain call takes the next item (a dict or
   pydantic instance is sent as JSON text). A structured call takes the next item only if it is structured (a
   dict, a pydantic instance, or JSON text) and valid for the requested schema; otherwise it leaves the script
   alone and returns the schema default, so plain replies are never eaten by structured calls.
3. Otherwise plain calls echo the last human message and structured calls return a default built from the
   schema (first enum value, minimal strings, field defaults) — every graph runs with zero scripting.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ._schema import OutputSchema
from ._structured import check_method, structured_runnable

__all__ = ["FakeChatModel", "Responder", "echo_responder"]

Reply = str | dict | BaseModel | None
Responder = Callable[[list[BaseMessage], Any], Reply]

_WORD = re.compile(r"\S+\s*|\s+")


def echo_responder(messages: list[BaseMessage], schema: Any) -> Reply:
    """Echo the last human message (plain calls); schema defaults for structured calls."""
    if schema is not None:
        return None
    last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
    said = " ".join(last.text.split()) if last is not None else ""
    if len(said) > 200:
        said = said[:197] + "..."
    return f"I hear you. You said: {said}" if said else "I hear you. Tell me more."


class _SharedState:
    """Script cursor and call log behind one lock; deep copies share it rather than fail on the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cursor = 0
        self.calls: list[tuple[list[BaseMessage], Any]] = []

    def __deepcopy__(self, memo: dict) -> "_SharedState":
        return self


class FakeChatModel(BaseChatModel):
    """Scripted or rule-based replies, recorded calls, usage metadata, sync/async/streaming. Thread-safe."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    responder: Responder | None = None
    model_name: str = "fake-chat-model"
    # A structured reply that fails to parse is asked for again up to this many times in all (as the embedded
    # model does); 1 keeps scripted tests strict. A responder sees the same prompt on every attempt.
    structured_max_attempts: int = 1

    _state: _SharedState = PrivateAttr(default_factory=_SharedState)

    @property
    def _llm_type(self) -> str:
        return "escgraph-fake"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def calls(self) -> list[tuple[list[BaseMessage], Any]]:
        """Every call so far as ``(messages, schema_or_None)``, oldest first."""
        with self._state.lock:
            return list(self._state.calls)

    def reset(self) -> None:
        """Rewind the script and forget recorded calls."""
        with self._state.lock:
            self._state.cursor = 0
            self._state.calls.clear()

    # --- choosing a reply --------------------------------------------------------------------------------

    def _reply_text(self, messages: list[BaseMessage], schema: OutputSchema | None) -> str:
        with self._state.lock:
            self._state.calls.append((list(messages), schema.source if schema else None))
        reply = self._choose(messages, schema)
        if schema is not None:
            value = schema.default() if reply is None else reply
            return _as_json(value)
        return reply if isinstance(reply, str) else _as_json(reply)

    def _choose(self, messages: list[BaseMessage], schema: OutputSchema | None) -> Reply:
        if self.responder is not None:  # called outside the lock: it may be slow or call models itself
            return self.responder(list(messages), schema.source if schema else None)
        if not self.responses:
            return echo_responder(messages, schema.source if schema else None)
        with self._state.lock:
            item = self.responses[self._state.cursor % len(self.responses)]
            if schema is None:
                self._state.cursor += 1
                return item
            value = _structured_value(item, schema)
            if value is not None:
                self._state.cursor += 1
            return value

    def _message(self, messages: list[BaseMessage], text: str) -> AIMessage:
        return AIMessage(
            content=text,
            usage_metadata=_usage(messages, text),
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )

    # --- BaseChatModel ---------------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = _apply_stop(self._reply_text(messages, kwargs.get("output_schema")), stop)
        return ChatResult(generations=[ChatGeneration(message=self._message(messages, text))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = _apply_stop(self._reply_text(messages, kwargs.get("output_schema")), stop)
        for word in _WORD.findall(text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word))
            if run_manager:
                run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=_usage(messages, text),
                response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
                chunk_position="last",
            )
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, None, **kwargs):
            if run_manager and chunk.text:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            await asyncio.sleep(0)  # let other tasks interleave, as a real streaming model would

    def with_structured_output(
        self,
        schema: dict | type,
        *,
        method: str = "json_schema",
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Return validated pydantic instances (or dicts for TypedDict / JSON-schema dicts)."""
        check_method(method)
        output_schema = OutputSchema.of(schema)
        return structured_runnable(
            self,
            output_schema,
            include_raw=include_raw,
            max_attempts=max(1, self.structured_max_attempts),
            attempt_kwargs=lambda messages, attempt: {"output_schema": output_schema},
        )


def _structured_value(item: Any, schema: OutputSchema) -> Any:
    """``item`` validated against ``schema`` if it is a structured value for it, else ``None``."""
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError:
            return None
    if not isinstance(item, (dict, BaseModel)):
        return None
    if isinstance(item, BaseModel) and schema.returns_model and not isinstance(item, schema.source):
        return None
    try:
        return schema.validate(item)
    except ValueError:
        return None


def _as_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, ensure_ascii=False, default=str)


def _apply_stop(text: str, stop: Sequence[str] | None) -> str:
    cut = min((text.find(s) for s in stop or () if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


def _usage(messages: Sequence[BaseMessage], text: str) -> UsageMetadata:
    # Whitespace words stand in for tokens: deterministic and good enough for accounting tests.
    input_tokens = sum(len(m.text.split()) for m in messages)
    output_tokens = len(text.split())
    return UsageMetadata(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )
