"""One chat model over several OpenAI-compatible servers of the same model (vLLM replicas without a load balancer).

:class:`ServerPoolChatModel` holds one member chat model per server and sends every call to the least-loaded
healthy server: fewest calls in flight, ties taken in turn (round-robin).

Health. A call that fails with a connection error, a timeout, 408, 429 or a 5xx is a *server failure*; any other
outcome — an answer, a refused request (400/401/403/404), an unreadable body — means the server is there. The
exception itself always reaches the caller unchanged, so the run's error classifier sees what it would without a
pool. A server that failed is *suspect* for a short while (``suspect_after_failure`` seconds, doubling with each
further failure in a row): other servers are preferred, because a failing server answers fast and would otherwise
win "least loaded" again and again. After ``failures_to_cool`` failures in a row it is taken out for
``cooldown`` seconds; then one call probes it (half-open) and the answer decides: back in, or another cool-down.
When every server is cooling down, calls go to the one whose cool-down ends first: the pool never fails a call
itself, the run's own retry and outage policy decides what a failure means.

The pool does not retry: the run retries steps (with backoff, and an outage breaker that needs to see failures).

A call cancelled by its caller counts as a timeout when it had waited at least ``stall_after`` seconds (the run
cuts a step off at its ``step_timeout`` before the member's own request timeout fires); an earlier cancellation
says nothing about the server.

Copies share state. ``model_copy(update=...)`` (pinned settings, per-episode seeds) copies the members with the
same update and keeps one health and load state and the members' HTTP clients for all copies. The decoding
settings (temperature, seed, max_tokens, top_p, repeat_penalty) are fields of the pool that mirror the members'.

Every answer records its server (credentials redacted) in ``response_metadata["server"]``;
``UsageTracker.by_server()`` counts them, :meth:`ServerPoolChatModel.stats` is a snapshot of the pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from ._redact import redact_url

__all__ = ["ServerPoolChatModel", "is_server_failure", "SERVER_KEY"]

SERVER_KEY = "server"  # response_metadata key naming the server that answered

_SETTINGS = ("temperature", "seed", "max_tokens", "top_p", "repeat_penalty")
_TIMEOUTS = frozenset({"TimeoutError", "APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout",
                       "WriteTimeout", "PoolTimeout", "ServerTimeoutError"})
_CONNECTION = frozenset({"ConnectionError", "APIConnectionError", "TransportError", "NetworkError", "ConnectError",
                         "RemoteProtocolError", "ReadError", "WriteError", "ClientConnectionError",
                         "ServerDisconnectedError", "IncompleteRead", "RemoteDisconnected"})


def _chain(exc: BaseException, depth: int = 6) -> list[BaseException]:
    seen: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and len(seen) < depth and item not in seen:
        seen.append(item)
        item = item.__cause__ or item.__context__
    return seen


def is_server_failure(exc: BaseException) -> bool:
    """True for errors that speak against the server: connection errors, timeouts, 408, 429, 5xx.

    Looks through ``__cause__``/``__context__`` by status code and class name, like the run's error classifier,
    so neither ``openai`` nor ``httpx`` has to be importable.
    """
    for item in _chain(exc):
        for value in (getattr(item, "status_code", None),
                      getattr(getattr(item, "response", None), "status_code", None)):
            if isinstance(value, int) and 100 <= value <= 599:
                return value >= 500 or value in (408, 429)
    return any({cls.__name__ for cls in type(item).__mro__} & (_TIMEOUTS | _CONNECTION) for item in _chain(exc))


@dataclass
class _Server:
    url: str  # redacted: what stats and records show
    calls: int = 0
    failures: int = 0
    in_flight: int = 0
    failures_in_a_row: int = 0
    suspect_until: float = float("-inf")
    cooling_until: float = float("-inf")
    half_open: bool = False  # cooled down and not yet answered since: the next call is a probe
    probing: bool = False  # that probe is out


_OK, _FAILED, _UNKNOWN = "ok", "failed", "unknown"


class _PoolState:
    """Health and load of the servers, shared by a pool and all its copies. Thread-safe (sync and async callers)."""

    def __init__(self, urls: list[str], *, failures_to_cool: int, cooldown: float, suspect_after_failure: float,
                 stall_after: float, clock: Callable[[], float]) -> None:
        self.servers = [_Server(url) for url in _unique_names([redact_url(u) or "" for u in urls])]
        self.failures_to_cool = failures_to_cool
        self.cooldown = cooldown
        self.suspect_after_failure = suspect_after_failure
        self.stall_after = stall_after
        self.clock = clock
        self._lock = threading.Lock()
        self._turn = 0  # round-robin position for ties

    def acquire(self) -> tuple[int, bool]:
        """The server for the next call (its index) and whether the call is a half-open probe."""
        with self._lock:
            now = self.clock()
            n = len(self.servers)
            order = [(self._turn + k) % n for k in range(n)]
            ready = [i for i in order if self._ready(self.servers[i], now)]
            if ready:  # suspects last, then fewest in flight, then turn order (min keeps the first of equals)
                index = min(ready, key=lambda i: (self.servers[i].suspect_until > now, self.servers[i].in_flight))
            else:  # everything is cooling down: the one back soonest
                index = min(order, key=lambda i: (self.servers[i].cooling_until, self.servers[i].in_flight))
            server = self.servers[index]
            probe = server.half_open and not server.probing and server.cooling_until <= now
            server.probing = server.probing or probe
            server.calls += 1
            server.in_flight += 1
            self._turn = (index + 1) % n
            return index, probe

    @staticmethod
    def _ready(server: _Server, now: float) -> bool:
        return server.cooling_until <= now and not (server.half_open and server.probing)

    def release(self, index: int, outcome: str, probe: bool) -> None:
        with self._lock:
            server = self.servers[index]
            server.in_flight -= 1
            if probe:
                server.probing = False
            if outcome == _OK:
                server.failures_in_a_row = 0
                server.suspect_until = float("-inf")
                if server.cooling_until <= self.clock():
                    server.half_open = False
            elif outcome == _FAILED:
                now = self.clock()
                server.failures += 1
                server.failures_in_a_row += 1
                if probe or server.failures_in_a_row >= self.failures_to_cool:
                    server.cooling_until = now + self.cooldown
                    server.half_open = True
                else:
                    pause = self.suspect_after_failure * 2 ** (server.failures_in_a_row - 1)
                    server.suspect_until = now + min(self.cooldown, pause)

    def outcome(self, exc: BaseException, started: float) -> str:
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)):
            waited = self.clock() - started
            return _FAILED if isinstance(exc, asyncio.CancelledError) and waited >= self.stall_after else _UNKNOWN
        return _FAILED if is_server_failure(exc) else _OK

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            now = self.clock()
            return {s.url: {"calls": s.calls, "failures": s.failures, "in_flight": s.in_flight,
                            "cooling_until": s.cooling_until if s.cooling_until > now else None}
                    for s in self.servers}


def _unique_names(names: list[str]) -> list[str]:
    """Redacted URLs as keys; two that differ only in credentials get ``#2``, ``#3`` suffixes."""
    out: list[str] = []
    for name in names:
        candidate, k = name, 2
        while candidate in out:
            candidate, k = f"{name}#{k}", k + 1
        out.append(candidate)
    return out


class ServerPoolChatModel(BaseChatModel):
    """Chat model spread over several servers of one model (module docstring); build it with
    ``load_chat_model(spec, base_url=[url1, url2, ...])`` or from members directly::

        pool = ServerPoolChatModel(members=[model_a, model_b], urls=[url_a, url_b])
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    members: list[BaseChatModel] = Field(exclude=True, repr=False, min_length=1)
    urls: list[str] = Field(exclude=True, repr=False, description="the servers, one per member (may hold keys)")
    failures_to_cool: int = Field(default=3, ge=1)
    cooldown: float = Field(default=30.0, ge=0)
    suspect_after_failure: float = Field(default=1.0, ge=0)
    stall_after: float = Field(default=30.0, ge=0)
    clock: Callable[[], float] = Field(default=time.monotonic, exclude=True, repr=False)
    # Decoding settings, mirrored from the members so runs can pin and record them (ModelSettings.of).
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    repeat_penalty: float | None = None

    _state: _PoolState = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        if len(self.urls) != len(self.members):
            raise ValueError(f"{len(self.members)} members but {len(self.urls)} urls: give one url per member")
        self._state = _PoolState(self.urls, failures_to_cool=self.failures_to_cool, cooldown=self.cooldown,
                                 suspect_after_failure=self.suspect_after_failure, stall_after=self.stall_after,
                                 clock=self.clock)
        self._mirror_settings()

    def _mirror_settings(self) -> None:
        first = self.members[0]
        for name in _SETTINGS:
            self.__dict__[name] = getattr(first, name, None) if name in type(first).model_fields else None

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> "ServerPoolChatModel":
        """A copy sharing health, load and HTTP clients; settings in ``update`` go to every member.

        ``deep`` is ignored: a deep copy would split the shared state, which is what copies must keep.
        """
        update = dict(update or {})
        settings = {k: update.pop(k) for k in _SETTINGS if k in update}
        copy = super().model_copy(update=update)
        if settings:
            copy.__dict__["members"] = [
                m.model_copy(update={k: v for k, v in settings.items() if k in type(m).model_fields})
                for m in self.members]
        copy._mirror_settings()
        return copy

    @property
    def servers(self) -> list[str]:
        """The servers, credentials redacted, in the order given."""
        return [s.url for s in self._state.servers]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per server: ``calls`` sent, ``failures``, calls ``in_flight`` and ``cooling_until`` (clock time, or None)."""
        return self._state.stats()

    @property
    def _llm_type(self) -> str:
        return "server-pool"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**getattr(self.members[0], "_identifying_params", {}), "servers": self.servers}

    # -- calls ------------------------------------------------------------------------------------------------
    def _stamp(self, result: ChatResult, index: int) -> ChatResult:
        for generation in result.generations:
            generation.message.response_metadata[SERVER_KEY] = self._state.servers[index].url
        return result

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        index, probe = self._state.acquire()
        started = self._state.clock()
        try:
            result = self.members[index]._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except BaseException as exc:
            self._state.release(index, self._state.outcome(exc, started), probe)
            raise
        self._state.release(index, _OK, probe)
        return self._stamp(result, index)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                         **kwargs: Any) -> ChatResult:
        index, probe = self._state.acquire()
        started = self._state.clock()
        try:
            result = await self.members[index]._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        except BaseException as exc:
            self._state.release(index, self._state.outcome(exc, started), probe)
            raise
        self._state.release(index, _OK, probe)
        return self._stamp(result, index)

    def _should_stream(self, *, async_api: bool, run_manager: Any = None, **kwargs: Any) -> bool:
        # stream only where the members can (the pool's own _stream/_astream just pass their chunks on)
        return self.members[0]._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        index, probe = self._state.acquire()
        started = self._state.clock()
        try:
            chunks = self.members[index]._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
            for number, chunk in enumerate(chunks):
                if number == 0:  # once: string metadata of merged chunks would be concatenated
                    chunk.message.response_metadata[SERVER_KEY] = self._state.servers[index].url
                yield chunk
        except BaseException as exc:
            self._state.release(index, self._state.outcome(exc, started), probe)
            raise
        self._state.release(index, _OK, probe)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        index, probe = self._state.acquire()
        started = self._state.clock()
        try:
            number = 0
            async for chunk in self.members[index]._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
                if number == 0:
                    chunk.message.response_metadata[SERVER_KEY] = self._state.servers[index].url
                number += 1
                yield chunk
        except BaseException as exc:
            self._state.release(index, self._state.outcome(exc, started), probe)
            raise
        self._state.release(index, _OK, probe)

    # -- tools and structured output ----------------------------------------------------------------------------
    def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """The members' tool binding, sent through the pool."""
        binding = self.members[0].bind_tools(tools, **kwargs)
        return self.bind(**getattr(binding, "kwargs", {}))

    def with_structured_output(self, schema: Any = None, *, include_raw: bool = False,
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """Structured output as the members ask for it, sent through the pool.

        Members that say how they ask (``structured_request``, as :class:`~escgraph.llm.LeanChatOpenAI`) get
        escgraph's structured runnable with that request; others fall back to tool calling via :meth:`bind_tools`.
        """
        member = self.members[0]
        method = kwargs.get("method", "json_schema")
        request = getattr(member, "structured_request", None)
        if request is not None and schema is not None and method == "json_schema" and set(kwargs) <= {"method"}:
            from ._openai_lean import _output_schema_of
            from ._structured import structured_runnable

            call_kwargs = request(schema)
            return structured_runnable(self, _output_schema_of(schema), include_raw=include_raw,
                                       max_attempts=max(1, getattr(member, "structured_max_attempts", 1)),
                                       attempt_kwargs=lambda messages, attempt: call_kwargs)
        kwargs.pop("method", None)
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)
