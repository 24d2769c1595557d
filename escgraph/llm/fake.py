"""A deterministic, offline chat model for tests and demos that also does structured output.

langchain-core's own fakes cannot serve ``with_structured_output``, and every graph in escgraph uses it, so
this fake does. Replies come from, in order of precedence:

1. ``responder(messages, schema_or_None)`` or ``responder(messages, schema_or_None, call)`` — a callable for
   logic-dependent replies; returning ``None`` from a structured call means "use the schema default". ``call`` is a
   :class:`FakeCall`: who is calling (``call.role``, ``call.agent`` from the ``role:``/``agent:`` tags and metadata
   escgraph puts on every model call), the schema, the call's tags, metadata and index. Dispatch on
   ``call.agent`` or ``call.role`` rather than on prompt wording, and a prompt edit cannot break the test.
2. ``responses=[...]`` — a script consumed in order and cycled. A plain call takes the next item (a dict or
   pydantic instance is sent as JSON text). A structured call takes the next item only if it is structured (a
   dict, a pydantic instance, or JSON text) and valid for the requested schema; otherwise it leaves the script
   alone and returns the schema default, so plain replies are never eaten by structured calls.
3. Otherwise plain calls echo the last human message and structured calls return a default built from the
   schema (first enum value, minimal strings, field defaults) — every graph runs with zero scripting.

Faults: ``faults=[Fault("raise", on_call=3), Fault("delay", seconds=0.5, role="judge"),
Fault("malformed", rate=0.2, seed=7)]`` make chosen calls raise, wait, or return output that does not parse;
see :class:`Fault`. ``fake.call_log`` lists every call as a :class:`FakeCall`, ``fake.fault_log`` the faults that
fired.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import re
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

# FakeCall, Fault and the rest of how calls are described and made to fail live in _fake_calls (re-exported here)
from ._fake_calls import (  # noqa: F401  (MALFORMED_JSON and FaultKind: re-exported)
    MALFORMED_JSON,
    FakeCall,
    Fault,
    FaultKind,
    InjectedFault,
    caller_name,
    config_caller,
    fault_delay,
    run_caller,
)
from ._schema import OutputSchema
from ._structured import check_method, structured_runnable

__all__ = ["FakeChatModel", "FakeCall", "Fault", "InjectedFault", "Responder", "echo_responder"]

Reply = str | dict | BaseModel | None
# ``respond(messages, schema)`` or ``respond(messages, schema, call)``; see the module docstring.
Responder = Callable[..., Reply]

_WORD = re.compile(r"\S+\s*|\s+")
# The tags and metadata of the run being served, for the code paths where LangChain does not hand ``_stream`` /
# ``_astream`` their run manager (streaming, whether asked for directly or by a graph streaming messages).
_RUN: contextvars.ContextVar[tuple[tuple[str, ...], dict[str, Any]]] = contextvars.ContextVar(
    "escgraph_fake_run", default=((), {}))


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
    """Script cursor, call log and fault counters behind one lock; deep copies share it rather than fail on it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cursor = 0
        self.calls: list[FakeCall] = []
        self.matched: dict[int, int] = {}  # fault position -> matching calls so far
        self.fired: list[tuple[FakeCall, Fault]] = []

    def __deepcopy__(self, memo: dict) -> "_SharedState":
        return self


class FakeChatModel(BaseChatModel):
    """Scripted or rule-based replies, recorded calls, injected faults, usage metadata, sync/async/streaming.

    Thread-safe.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    responder: Responder | None = None
    faults: list[Fault] = Field(default_factory=list)
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
            return [(call.messages, call.schema) for call in self._state.calls]

    @property
    def call_log(self) -> list[FakeCall]:
        """Every call so far as a :class:`FakeCall` (role, agent, tags, metadata, schema), oldest first."""
        with self._state.lock:
            return list(self._state.calls)

    @property
    def fault_log(self) -> list[tuple[FakeCall, Fault]]:
        """Every fault that fired, with the call it fired on, oldest first."""
        with self._state.lock:
            return list(self._state.fired)

    def reset(self) -> None:
        """Rewind the script and fault counters; forget recorded calls and fired faults."""
        with self._state.lock:
            self._state.cursor = 0
            self._state.calls.clear()
            self._state.matched.clear()
            self._state.fired.clear()

    # --- choosing a reply --------------------------------------------------------------------------------

    def _start(self, messages: list[BaseMessage], schema: OutputSchema | None, run_manager: Any) -> tuple[
            FakeCall, list[Fault]]:
        """Record the call and decide which faults fire on it."""
        tags, metadata = run_caller(run_manager) if run_manager is not None else _RUN.get()
        with self._state.lock:
            call = FakeCall(index=len(self._state.calls), messages=list(messages),
                            schema=schema.source if schema else None, role=caller_name(metadata, tags, "role"),
                            agent=caller_name(metadata, tags, "agent"), tags=tags, metadata=metadata)
            self._state.calls.append(call)
            fired = []
            for position, fault in enumerate(self.faults):
                if not fault.matches(call):
                    continue
                number = self._state.matched[position] = self._state.matched.get(position, 0) + 1
                if fault.fires_on(number):
                    fired.append(fault)
                    self._state.fired.append((call, fault))
        return call, fired

    def _finish(self, call: FakeCall, schema: OutputSchema | None, fired: list[Fault]) -> str:
        """The reply text once any delay is over: raise or malformed faults first, else the chosen reply."""
        for fault in fired:
            if fault.kind == "raise":
                raise fault.exception(call)
        for fault in fired:
            if fault.kind == "malformed":
                return fault.reply(call)
        reply = self._choose(call.messages, schema, call)
        if schema is not None:
            value = schema.default() if reply is None else reply
            return _as_json(value)
        return reply if isinstance(reply, str) else _as_json(reply)

    def _reply_text(self, messages: list[BaseMessage], schema: OutputSchema | None,
                    run_manager: Any = None) -> str:
        """Record a call and answer it at once (a delay fault sleeps); for subclasses that build results."""
        call, fired = self._start(messages, schema, run_manager)
        if seconds := fault_delay(fired):
            time.sleep(seconds)
        return self._finish(call, schema, fired)

    def _choose(self, messages: list[BaseMessage], schema: OutputSchema | None, call: FakeCall | None = None) -> Reply:
        if self.responder is not None:  # called outside the lock: it may be slow or call models itself
            source = schema.source if schema else None
            if call is not None and _wants_call(self.responder):
                return self.responder(list(messages), source, call)
            return self.responder(list(messages), source)
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

    def _generate_with_cache(self, messages: list[BaseMessage], stop: list[str] | None = None,
                             run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        token = _RUN.set(run_caller(run_manager))
        try:
            return super()._generate_with_cache(messages, stop=stop, run_manager=run_manager, **kwargs)
        finally:
            _RUN.reset(token)

    async def _agenerate_with_cache(self, messages: list[BaseMessage], stop: list[str] | None = None,
                                    run_manager: AsyncCallbackManagerForLLMRun | None = None,
                                    **kwargs: Any) -> ChatResult:
        token = _RUN.set(run_caller(run_manager))
        try:
            return await super()._agenerate_with_cache(messages, stop=stop, run_manager=run_manager, **kwargs)
        finally:
            _RUN.reset(token)

    def stream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
               stop: list[str] | None = None, **kwargs: Any) -> Iterator[AIMessageChunk]:
        caller = config_caller(config)
        chunks = super().stream(input, config, stop=stop, **kwargs)
        while True:
            token = _RUN.set(caller)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                _RUN.reset(token)
            yield chunk

    async def astream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *,
                      stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        caller = config_caller(config)
        chunks = super().astream(input, config, stop=stop, **kwargs)
        while True:
            token = _RUN.set(caller)
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _RUN.reset(token)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = _apply_stop(self._reply_text(messages, kwargs.get("output_schema"), run_manager), stop)
        return ChatResult(generations=[ChatGeneration(message=self._message(messages, text))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        schema = kwargs.get("output_schema")
        call, fired = self._start(messages, schema, run_manager)
        if seconds := fault_delay(fired):
            await asyncio.sleep(seconds)
        text = _apply_stop(self._finish(call, schema, fired), stop)
        return ChatResult(generations=[ChatGeneration(message=self._message(messages, text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = _apply_stop(self._reply_text(messages, kwargs.get("output_schema"), run_manager), stop)
        yield from self._chunks(messages, text, run_manager)

    def _chunks(self, messages: list[BaseMessage], text: str, run_manager: Any = None) -> Iterator[
            ChatGenerationChunk]:
        for word in _WORD.findall(text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word))
            if isinstance(run_manager, CallbackManagerForLLMRun):
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
        schema = kwargs.get("output_schema")
        call, fired = self._start(messages, schema, run_manager)
        if seconds := fault_delay(fired):
            await asyncio.sleep(seconds)
        text = _apply_stop(self._finish(call, schema, fired), stop)
        for chunk in self._chunks(messages, text):
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


def _wants_call(responder: Callable[..., Any]) -> bool:
    """Whether a responder takes a third argument (the :class:`FakeCall`)."""
    try:
        parameters = inspect.signature(responder).parameters.values()
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in parameters)
