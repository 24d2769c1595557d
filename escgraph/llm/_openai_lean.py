"""An OpenAI-compatible chat model that spends less client CPU per call than langchain-openai's ``ChatOpenAI``.

A simulation driver with 64 episodes in flight is bound by the client's CPU, not by the server: the stock path
walks the request body through the OpenAI SDK's type transforms, rebuilds the strict JSON schema of a structured
answer from the pydantic class, validates the response into SDK models, re-dumps them to dicts and hops to a
thread to build the result, on every call. :class:`LeanChatOpenAI` sends the same request body and reads the same
answer, with less work:

- plain chat-completion calls go through the SDK's generic ``post`` (same auth, retries, timeouts and error
  classes, so errors classify as before) with a body serialised once, and the JSON answer is read as a dict;
- ``with_structured_output(schema)`` (the default ``json_schema`` method) builds the schema's ``response_format``
  once per schema and process, exactly as the SDK would send it, serialised once; the answer is parsed and
  validated by escgraph's structured runnable (:mod:`._structured`), as for the embedded model;
- async calls share one HTTP client per server and event loop (a client's pooled connections belong to the loop
  that opened them, so another ``asyncio.run`` gets its own).

Anything this path does not cover (streaming, the Responses API, tools, other structured-output methods, explicit
``strict``) is handed to ``ChatOpenAI`` unchanged.
"""

from __future__ import annotations

import functools
import json

import openai
import threading
import weakref
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import (
    _convert_to_openai_response_format,
    _handle_openai_api_error,
    _handle_openai_bad_request,
)
from pydantic import BaseModel as _PydanticBase

from ._schema import OutputSchema
from ._structured import structured_runnable

__all__ = ["LeanChatOpenAI", "PreparedResponseFormat", "prepared_response_format"]

# Payload keys the SDK treats as request options rather than body fields: such calls take the stock path.
_REQUEST_OPTIONS = frozenset({"extra_headers", "extra_query", "timeout"})


class PreparedResponseFormat(dict):
    """A ``response_format`` dict that also carries its JSON text, so the lean path does not serialise it again.

    It is a plain dict to everything else (callbacks, tracers, the stock path).
    """

    json_text: str

    @classmethod
    def of(cls, value: dict[str, Any]) -> "PreparedResponseFormat":
        prepared = cls(value)
        prepared.json_text = _dumps(value)
        return prepared


@functools.lru_cache(maxsize=512)
def _prepared_for_class(schema: type) -> PreparedResponseFormat:
    from openai.lib._parsing._completions import type_to_response_format_param

    return PreparedResponseFormat.of(dict(type_to_response_format_param(schema)))


@functools.lru_cache(maxsize=512)
def _prepared_for_json(schema_json: str) -> PreparedResponseFormat:
    return PreparedResponseFormat.of(_convert_to_openai_response_format(json.loads(schema_json)))


def prepared_response_format(schema: Any) -> PreparedResponseFormat:
    """The ``response_format`` langchain-openai's ``json_schema`` method sends for ``schema``, built once.

    Pydantic classes get the SDK's strict schema (what ``client.chat.completions.parse`` sends); TypedDicts and
    JSON-schema dicts get langchain-openai's conversion. Classes are cached by identity, dicts by content.
    """
    if isinstance(schema, type) and issubclass(schema, _PydanticBase):
        return _prepared_for_class(schema)
    if isinstance(schema, type):  # a TypedDict class: hashable, converted like langchain-openai does
        return _prepared_typeddict(schema)
    return _prepared_for_json(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=512)
def _prepared_typeddict(schema: type) -> PreparedResponseFormat:
    return PreparedResponseFormat.of(_convert_to_openai_response_format(schema))


@functools.lru_cache(maxsize=512)
def _output_schema(schema: Any) -> OutputSchema:
    return OutputSchema.of(schema)


def _output_schema_of(schema: Any) -> OutputSchema:
    return _output_schema(schema) if isinstance(schema, type) else OutputSchema.of(schema)


def _dumps(value: Any) -> str:
    # the SDK's own body encoding (openai._utils._json.openapi_dumps): compact, UTF-8, no NaN
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _body(payload: dict[str, Any]) -> bytes:
    """The request body for ``payload``; a prepared response_format is spliced in as its stored JSON text."""
    payload = dict(payload)
    extra = payload.pop("extra_body", None)
    if isinstance(extra, dict):
        payload.update(extra)  # the SDK merges extra_body into the body the same way
    response_format = payload.pop("response_format", None)
    text = _dumps(payload)
    if isinstance(response_format, PreparedResponseFormat):
        text = f'{text[:-1]},"response_format":{response_format.json_text}}}'
    elif response_format is not None:
        text = f'{text[:-1]},"response_format":{_dumps(response_format)}}}'
    return text.encode()


class _LoopClients:
    """AsyncOpenAI clients per (server settings, event loop), shared by every lean model of that server.

    A few clients per server rather than one: on every request the HTTP connection pool polls each of its idle
    connections (a socket check per connection), so with 64 calls in flight one big pool costs more CPU per call
    than several small ones used in turn.
    """

    shards = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: "weakref.WeakKeyDictionary[Any, dict[tuple, list]]" = weakref.WeakKeyDictionary()

    def get(self, model: "LeanChatOpenAI", loop: Any) -> Any:
        root = model.root_async_client
        key = (str(root.base_url), root.api_key if isinstance(root.api_key, str) else id(root.api_key),
               repr(root.timeout), root.max_retries, repr(sorted((model.default_headers or {}).items())),
               repr(sorted((model.default_query or {}).items())))
        with self._lock:
            clients = self._by_loop.setdefault(loop, {})
            entry = clients.get(key)
            if entry is None:
                entry = clients[key] = [0, [root.copy(http_client=_new_async_http_client(root))
                                            for _ in range(self.shards)]]
            entry[0] = (entry[0] + 1) % len(entry[1])
            return entry[1][entry[0]]


def _new_async_http_client(root: Any) -> Any:
    try:
        from langchain_openai.chat_models._client_utils import _build_async_httpx_client
    except ImportError:  # the helper moved: copies of the model's own client still work, unshared
        return None
    return _build_async_httpx_client(str(root.base_url), root.timeout)


_loop_clients = _LoopClients()


class LeanChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` with a lean request path for chat completions (module docstring). Same fields and options.

    ``structured_max_attempts`` (default 1, as the stock path: one call, an invalid answer raises) is how many
    calls a structured answer may take before :class:`~escgraph.llm.StructuredOutputError`.
    """

    structured_max_attempts: int = 1
    # Tests compare the lean path with the stock one on the same model; never needed otherwise.
    lean: bool = True

    # -- plain calls ----------------------------------------------------------------------------------------------
    def _lean_payload(self, messages: list[BaseMessage], stop: list[str] | None,
                      kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The request payload if the lean path can send it, else None (the stock path will)."""
        if not self.lean or self.include_response_headers:
            return None
        response_format = kwargs.get("response_format")
        if response_format is not None and not isinstance(response_format, dict):
            return None  # a pydantic class: the SDK's parse path gives back a parsed object callers expect
        payload = self._get_request_payload(messages, stop=stop, **kwargs)
        if payload.get("stream") or _REQUEST_OPTIONS & payload.keys() or self._use_responses_api(payload):
            return None
        return payload

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        payload = self._lean_payload(messages, stop, kwargs)
        if payload is None:
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        self._ensure_sync_client_available()
        try:
            response = self.root_client.post("/chat/completions", cast_to=_response_class(), content=_body(payload))
        except openai.BadRequestError as exc:
            _handle_openai_bad_request(exc)  # langchain-openai's own error classes, as the stock path raises
        except openai.APIError as exc:
            _handle_openai_api_error(exc)
        return self._result(response)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                         **kwargs: Any) -> ChatResult:
        payload = self._lean_payload(messages, stop, kwargs)
        if payload is None:
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        client = _loop_clients.get(self, _running_loop())
        try:
            response = await client.post("/chat/completions", cast_to=_response_class(), content=_body(payload))
        except openai.BadRequestError as exc:
            _handle_openai_bad_request(exc)
        except openai.APIError as exc:
            _handle_openai_api_error(exc)
        return self._result(response)

    def _result(self, response: Any) -> ChatResult:
        """The chat result for a raw HTTP answer, read as the SDK reads it (JSON, or text if not labelled JSON)."""
        content_type = response.headers.get("content-type", "*").split(";")[0]
        if content_type.endswith("json"):
            try:
                data: Any = response.json()
            except ValueError as exc:
                exc.response = response  # type: ignore[attr-defined]  # as ChatOpenAI attaches it
                raise
        else:
            data = response.text  # ChatOpenAI reports a non-JSON body as an unexpected response type
        result = self._create_chat_result(data, {})
        if result.generations and isinstance(data, dict):
            # the stock path copies the message's refusal (None when absent) into additional_kwargs
            message = (data.get("choices") or [{}])[0].get("message") or {}
            result.generations[0].message.additional_kwargs.setdefault("refusal", message.get("refusal"))
        return result

    # -- structured output ----------------------------------------------------------------------------------------
    def with_structured_output(self, schema: Any = None, *, method: str = "json_schema", include_raw: bool = False,
                               strict: bool | None = None, tools: list | None = None,
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """As ``ChatOpenAI.with_structured_output``; the default ``json_schema`` method takes the lean path."""
        if not self.lean or method != "json_schema" or schema is None or strict is not None or tools or kwargs:
            return super().with_structured_output(schema, method=method, include_raw=include_raw, strict=strict,
                                                  tools=tools, **kwargs)
        prepared = prepared_response_format(schema)
        return structured_runnable(self, _output_schema_of(schema), include_raw=include_raw,
                                   max_attempts=max(1, self.structured_max_attempts),
                                   attempt_kwargs=lambda messages, attempt: {"response_format": prepared})

    def structured_request(self, schema: Any) -> dict[str, Any]:
        """The call kwargs that ask for ``schema`` (used by :class:`~escgraph.llm.ServerPoolChatModel`)."""
        return {"response_format": prepared_response_format(schema)}


def _running_loop() -> Any:
    import asyncio

    return asyncio.get_running_loop()


@functools.lru_cache(maxsize=1)
def _response_class() -> type:
    # The SDK returns its HTTP library's response unparsed when asked for that class (httpx or its successor).
    from openai import _base_client

    return _base_client.httpx2.Response if hasattr(_base_client, "httpx2") else _base_client.httpx.Response

