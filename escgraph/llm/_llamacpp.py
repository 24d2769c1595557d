"""ChatLlamaCpp: a LangChain chat model over ``llama_cpp.Llama.create_chat_completion``.

One loaded model is shared by every instance of the same file and context size, and every call into llama.cpp
holds that model's lock (see ``_loader``). The async paths run llama.cpp in a worker thread so the event loop
keeps running while tokens are generated.

Why one module: it is one chat-model class whose sync, async, streaming and structured paths share one prepared
call (``_Call``), plus the few converters only it uses; loading, grammars and schemas are already elsewhere
(``_loader``, ``_grammar``, ``_schema``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import threading
from typing import Any, AsyncIterator, Iterator

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field, PrivateAttr

from ._errors import ModelSpecError
from ._grammar import LazyGrammar
from ._loader import LoadedModel, load_model
from ._schema import OutputSchema, bounded_grammar_schema, format_instructions, worst_case_length
from ._structured import check_method, structured_runnable

__all__ = ["ChatLlamaCpp"]

# Sampling parameters a single call may override through ``invoke(..., temperature=...)`` and friends.
_CALL_OVERRIDES = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")
# Never shrink injected string bounds below this when fitting a structured answer into the context.
_MIN_STRING_BOUND = 16
# The temperature retries of a structured call use at least, so a greedy failure is not simply repeated.
_RETRY_MIN_TEMPERATURE = 0.7


class ChatLlamaCpp(BaseChatModel):
    """A chat model running a GGUF file in-process through llama-cpp-python."""

    model_path: str
    n_ctx: int = 2048
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1)
    n_batch: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    # Measured on SmolLM2-135M, 8 support prompts x 320 tokens, share of repeated 4-grams (greedy / t=0.7):
    # 1.0 looped (4 of 6 greedy replies), 1.1 2.9% / 0.7%, 1.2 3.3% / 1.3%, 1.3 1.5% / 0.3% and replies end
    # sooner, 1.5 degraded into loops again.
    repeat_penalty: float = 1.3
    max_tokens: int = 256
    seed: int | None = None
    stop: list[str] | None = None
    verbose: bool = False
    # None: off on CPUs whose AMX kernels crash llama.cpp (see _loader.cpu_has_amx), on elsewhere.
    extra_buffer_types: bool | None = None
    # Structured output: bound free text so constrained JSON always closes, and retry what still fails.
    structured_string_max_length: int = 300
    structured_array_max_items: int = 8
    structured_max_attempts: int = 3
    # Tell the model the fields in words too: the grammar fixes the shape, the hint keeps the content on topic.
    structured_format_hint: bool = True

    _model: LoadedModel = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        if not os.path.isfile(os.path.expanduser(self.model_path)):
            raise ModelSpecError(f"GGUF model file not found: {self.model_path}")
        self._model = load_model(
            self.model_path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_batch=self.n_batch,
            verbose=self.verbose,
            extra_buffer_types=self.extra_buffer_types,
        )

    @property
    def model_name(self) -> str:
        return self._model.name

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "min_p": self.min_p,
            "repeat_penalty": self.repeat_penalty,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }

    # --- preparing a call ------------------------------------------------------------------------------------

    def _prepare(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> "_Call":
        settings = {name: getattr(self, name) for name in _CALL_OVERRIDES}
        settings.update({name: kwargs[name] for name in _CALL_OVERRIDES if kwargs.get(name) is not None})
        if settings["seed"] is None:
            # llama-cpp-python derives an unseeded call's seed from the previous call, which would tie one
            # caller's samples to another's history on a shared model.
            settings["seed"] = random.randrange(2**31)
        json_schema = kwargs.get("json_schema")
        # Stop strings could cut a JSON answer in half; the grammar decides where structured output ends.
        settings["stop"] = [] if json_schema is not None else [*(self.stop or []), *(stop or [])]
        grammar = _grammar(json.dumps(json_schema)) if json_schema is not None else None
        chat, prompt_tokens, settings["max_tokens"] = self._fit(_to_chat(messages), int(settings["max_tokens"]))
        return _Call(chat=chat, prompt_tokens=prompt_tokens, settings=settings, grammar=grammar)

    def _fit(self, chat: list[dict[str, str]], max_tokens: int) -> tuple[list[dict[str, str]], int, int]:
        """Drop the oldest non-system messages (then cut the head of the last one) until prompt + answer fit.

        A long dialogue must degrade into a shorter memory, not into a llama.cpp context-overflow error.
        """
        model = self._model
        max_tokens = min(max_tokens, max(16, model.n_ctx // 2)) if max_tokens >= model.n_ctx else max_tokens
        budget = model.n_ctx - max_tokens
        count = model.count_prompt_tokens(chat)
        while count > budget:
            oldest = next((i for i, m in enumerate(chat[:-1]) if m["role"] != "system"), None)
            if oldest is None:
                break
            del chat[oldest]
            count = model.count_prompt_tokens(chat)
        if count > budget and chat:
            last = chat[-1]
            keep = model.count_text_tokens(last["content"]) - (count - budget) - 8
            chat[-1] = {**last, "content": model.truncate_tokens(last["content"], keep)}
            count = model.count_prompt_tokens(chat)
        if count > budget:  # even system messages alone overflow: give the answer what is left
            max_tokens = max(1, model.n_ctx - count)
        return chat, count, max_tokens

    # --- calling llama.cpp -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _constrained(self, call: "_Call") -> Iterator[dict[str, Any]]:
        """create_chat_completion kwargs for ``call``, with a fresh lazy grammar when the call has one."""
        if call.grammar is None:
            yield call.settings
            return
        from llama_cpp import LogitsProcessorList

        with LazyGrammar(self._model.llama, call.grammar, candidates=max(40, call.settings["top_k"])) as grammar:
            yield {**call.settings, "logits_processor": LogitsProcessorList([grammar])}

    def _complete(self, call: "_Call", cancelled: threading.Event | None = None) -> AIMessage:
        with self._model.lock, self._constrained(call) as settings:
            if cancelled is not None and cancelled.is_set():  # the awaiting task is gone: skip the work
                raise asyncio.CancelledError()
            result = self._model.llama.create_chat_completion(messages=call.chat, **settings)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=_usage_metadata(
                usage.get("prompt_tokens", call.prompt_tokens), usage.get("completion_tokens", 0)
            ),
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason")},
        )

    def _chunks(self, call: "_Call", cancelled: threading.Event | None = None) -> Iterator[ChatGenerationChunk]:
        """Stream one call; holds the model lock until the stream ends or is closed."""
        parts: list[str] = []
        finish_reason = None
        with self._model.lock, self._constrained(call) as settings:
            stream = self._model.llama.create_chat_completion(messages=call.chat, stream=True, **settings)
            try:
                for event in stream:
                    if cancelled is not None and cancelled.is_set():
                        return
                    choice = event["choices"][0]
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        yield ChatGenerationChunk(message=AIMessageChunk(content=text))
                    finish_reason = choice.get("finish_reason") or finish_reason
            finally:
                stream.close()
        # Streamed events carry no usage; count the answer with the model's tokenizer.
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=_usage_metadata(call.prompt_tokens, self._model.count_text_tokens("".join(parts))),
                response_metadata={"model_name": self.model_name, "finish_reason": finish_reason},
                chunk_position="last",
            )
        )

    # --- BaseChatModel -----------------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._complete(self._prepare(messages, stop, kwargs))
        return _result(message)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = self._prepare(messages, stop, kwargs)
        cancelled = threading.Event()
        try:
            # A worker thread keeps the loop free; a call still waiting for the lock is skipped on cancel.
            message = await asyncio.to_thread(self._complete, call, cancelled)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return _result(message)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._prepare(messages, stop, kwargs)):
            if run_manager and chunk.text:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        call = self._prepare(messages, stop, kwargs)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancelled = threading.Event()
        done = object()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us: stop producing
                cancelled.set()

        def produce() -> None:
            # Producer thread: llama.cpp generates here; chunks cross to the loop through the queue.
            try:
                for chunk in self._chunks(call, cancelled):
                    put(chunk)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put(exc)
            finally:
                put(done)

        producer = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                if run_manager and item.text:
                    await run_manager.on_llm_new_token(item.text, chunk=item)
                yield item
        finally:
            cancelled.set()  # a consumer that stops early ends generation at the next token
            if producer.done():
                await producer

    # --- structured output -------------------------------------------------------------------------------------

    def with_structured_output(
        self,
        schema: dict | type,
        *,
        method: str = "json_schema",
        include_raw: bool = False,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Constrained-JSON structured output for a pydantic model, TypedDict or JSON-schema dict.

        Every method is served by llama.cpp grammar-constrained decoding on a bounded copy of the schema (see
        ``bounded_grammar_schema``); a structured call gets at least the schema's worst-case length as
        ``max_tokens`` so the JSON can always close, and a call that still fails to parse or validate is retried
        with another seed, up to ``structured_max_attempts`` times, before raising ``StructuredOutputError``.
        Returns pydantic instances for pydantic schemas, dicts otherwise.
        """
        check_method(method)
        output_schema = OutputSchema.of(schema)

        def attempt_kwargs(messages: list[BaseMessage], attempt: int) -> dict[str, Any]:
            grammar_schema, max_tokens = self._structured_budget(output_schema, messages)
            temperature = self.temperature if attempt == 0 else max(self.temperature, _RETRY_MIN_TEMPERATURE)
            seed = None if self.seed is None else self.seed + attempt
            return {
                "json_schema": grammar_schema, "max_tokens": max_tokens, "temperature": temperature, "seed": seed
            }

        hint = format_instructions(output_schema.json_schema) if self.structured_format_hint else None
        return structured_runnable(
            self,
            output_schema,
            include_raw=include_raw,
            max_attempts=max(1, self.structured_max_attempts),
            attempt_kwargs=attempt_kwargs,
            prepare_messages=(lambda messages: _with_system_hint(messages, hint)) if hint else None,
        )

    def _structured_budget(self, schema: OutputSchema, messages: list[BaseMessage]) -> tuple[dict[str, Any], int]:
        """The grammar schema and max_tokens for one structured call: room for the longest allowed answer."""
        prompt_tokens = self._model.count_prompt_tokens(_to_chat(messages))
        # Long prompts get trimmed by _fit, so never plan on less than half the context for the answer.
        available = self._model.n_ctx - min(prompt_tokens, self._model.n_ctx // 2)
        bound = self.structured_string_max_length
        while True:
            grammar_schema = bounded_grammar_schema(
                schema.json_schema, string_max_length=bound, array_max_items=self.structured_array_max_items
            )
            needed = worst_case_length(grammar_schema)
            if needed <= available or bound <= _MIN_STRING_BOUND:
                return grammar_schema, min(max(self.max_tokens, needed), available)
            bound = max(_MIN_STRING_BOUND, bound // 2)


class _Call:
    """One prepared llama.cpp call: the (trimmed) chat, its prompt size, and create_chat_completion kwargs."""

    __slots__ = ("chat", "prompt_tokens", "settings", "grammar")

    def __init__(
        self, chat: list[dict[str, str]], prompt_tokens: int, settings: dict[str, Any], grammar: Any = None
    ) -> None:
        self.chat = chat
        self.prompt_tokens = prompt_tokens
        self.settings = settings
        self.grammar = grammar


@functools.lru_cache(maxsize=64)
def _grammar(json_schema_text: str) -> Any:
    # Converting a schema to a grammar is pure; a LlamaGrammar holds only the grammar text, so sharing is safe.
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json_schema_text, verbose=False)


def _with_system_hint(messages: list[BaseMessage], hint: str) -> list[BaseMessage]:
    """Append ``hint`` to the leading system message, or start the prompt with one."""
    if messages and isinstance(messages[0], SystemMessage):
        return [SystemMessage(content=f"{messages[0].text}\n\n{hint}"), *messages[1:]]
    return [SystemMessage(content=hint), *messages]


def _to_chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role(message), "content": message.text} for message in messages]


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, ChatMessage):
        return message.role
    return "user"


def _usage_metadata(input_tokens: int, output_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
    )


def _result(message: AIMessage) -> ChatResult:
    usage = message.usage_metadata or {}
    return ChatResult(
        generations=[
            ChatGeneration(
                message=message, generation_info={"finish_reason": message.response_metadata.get("finish_reason")}
            )
        ],
        llm_output={
            "model_name": message.response_metadata.get("model_name"),
            "token_usage": {
                "prompt_tokens": usage.get("input_tokens", 0),
                "completion_tokens": usage.get("output_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        },
    )
