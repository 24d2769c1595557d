"""What a run does when a model call fails (ARCHITECTURE.md §6): retry it, wait out an outage, or stop.

:func:`classify` sorts an exception (looking through its ``__cause__`` / ``__context__`` chain, by status code
and class name, so neither ``openai`` nor ``httpx`` has to be importable):

- ``"rejected"``: HTTP 400, 401, 403, 404 and other 4xx except 408, 409, 425, 429 — the request, the model name
  or the credentials are wrong, and asking again cannot help. The run stops at once (:class:`ModelRequestRejected`).
- ``"unreachable"``: connection errors (refused, reset, cut-off bodies) and timeouts. Retried; they also feed the
  :class:`OutageBreaker`, which stops the run (:class:`ServerUnreachable`) once nothing has answered for
  ``max_outage`` seconds.
- ``"transient"``: 429 (after its ``Retry-After``), 5xx, malformed output (``StructuredOutputError``, parse and
  validation errors) and anything else. Retried with jittered exponential backoff, within the step's budget.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from escgraph.llm import redact_text

__all__ = ["ExecutorStartError", "RunStopped", "ModelRequestRejected", "ServerUnreachable", "OutageBreaker", "RequestWatch", "classify",
           "retry_after", "describe", "backoff_delay", "stop_error", "RETRY_AFTER_CAP", "BACKOFF_CAP"]

ErrorKind = Literal["rejected", "unreachable", "transient"]

RETRY_AFTER_CAP = 120.0  # longest Retry-After honoured (seconds)
BACKOFF_CAP = 60.0  # longest backoff between two attempts (seconds)

_RETRYABLE_4XX = frozenset({408, 409, 425, 429})
_TIMEOUTS = frozenset({"TimeoutError", "APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout",
                       "WriteTimeout", "PoolTimeout", "ServerTimeoutError"})
_CONNECTION = frozenset({"ConnectionError", "APIConnectionError", "TransportError", "NetworkError", "ConnectError",
                         "RemoteProtocolError", "ReadError", "WriteError", "ClientConnectionError",
                         "ServerDisconnectedError", "IncompleteRead", "RemoteDisconnected"})
_jitter = random.Random()  # timing only: never decides what an episode says


class RunStopped(RuntimeError):
    """The run must stop now (finished episodes stay saved); ``exit_code`` is what ``escgraph simulate`` returns."""

    exit_code = 2


class ModelRequestRejected(RunStopped):
    """The model server refused a request (400, 401, 403, 404): wrong model name, key or request. Not retried."""

    exit_code = 2


class ServerUnreachable(RunStopped):
    """The model server has not answered (connection errors, timeouts) for longer than the run's ``max_outage``."""

    exit_code = 4


class ExecutorStartError(RuntimeError):
    """The executor could not start: a worker process or Ray actor failed to build its models or graph, or Ray
    is missing or unreachable. Nothing was played; the message names the cause."""


_STOPS: dict[str, type[RunStopped]] = {cls.__name__: cls for cls in (RunStopped, ModelRequestRejected,
                                                                      ServerUnreachable)}


def stop_error(name: str, message: str) -> RunStopped:
    """Rebuild a :class:`RunStopped` sent by name from a worker process."""
    return _STOPS.get(name, RunStopped)(message)


def _chain(exc: BaseException, depth: int = 6) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and len(seen) < depth and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def status_code(exc: BaseException) -> int | None:
    """The HTTP status an exception (or one it was raised from) carries, if any."""
    for item in _chain(exc):
        for value in (getattr(item, "status_code", None), getattr(getattr(item, "response", None), "status_code",
                                                                         None), getattr(item, "status", None)):
            if isinstance(value, int) and 100 <= value <= 599:
                return value
    return None


def classify(exc: BaseException) -> ErrorKind:
    """``"rejected"``, ``"unreachable"`` or ``"transient"`` (see the module docstring)."""
    status = status_code(exc)
    if status is not None:
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return "rejected"
        return "transient"
    for item in _chain(exc):
        names = {cls.__name__ for cls in type(item).__mro__}
        if names & (_TIMEOUTS | _CONNECTION):
            return "unreachable"
    return "transient"


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked to wait (``Retry-After`` / ``retry-after-ms`` headers), if it said."""
    for item in _chain(exc):
        headers = getattr(getattr(item, "response", None), "headers", None)
        if headers is None or not hasattr(headers, "get"):
            continue
        millis = headers.get("retry-after-ms")
        try:
            if millis is not None:
                return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
        value = headers.get("retry-after")
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    return None


def describe(exc: BaseException, limit: int = 300) -> str:
    """One line naming the error, with any URL in it redacted."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return redact_text(text if len(text) <= limit else text[: limit - 1] + "…") or type(exc).__name__


def backoff_delay(base: float, attempt: int, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with "equal jitter": a delay in [d/2, d] for d = min(cap, base * 2**attempt)."""
    delay = min(cap, base * 2 ** min(attempt, 30))
    return delay / 2 + _jitter.uniform(0, delay / 2)


class OutageBreaker:
    """Shared by the episodes of one process: has the model server answered anyone lately?

    An attempt that fails as *unreachable* opens an outage dating from when it started, unless some call has been
    answered since then (then the failure is that request's own, e.g. a slow reply). Any answer — even an error
    status or malformed output — closes the outage. The breaker trips when an outage has lasted ``max_outage``
    seconds; every later attempt raises :class:`ServerUnreachable`.
    """

    def __init__(self, max_outage: float, *, where: str = "the model server", clock: Any = time.monotonic) -> None:
        self.max_outage = max_outage
        self.where = where
        self.clock = clock
        self.since: float | None = None
        self.last_answer = float("-inf")
        self.last_error: BaseException | None = None

    def answered(self) -> None:
        self.since = None
        self.last_answer = self.clock()

    def in_outage(self) -> bool:
        return self.since is not None

    def unreachable(self, started: float, error: BaseException) -> bool:
        """Record an unreachable failure of an attempt made at ``started``; True if it belongs to an outage."""
        self.last_error = error
        if self.last_answer > started:
            return False
        self.since = started if self.since is None else min(self.since, started)
        return True

    def outage(self) -> float:
        return 0.0 if self.since is None else self.clock() - self.since

    def time_left(self) -> float:
        return max(0.0, self.max_outage - self.outage())

    def check(self) -> None:
        """Raise :class:`ServerUnreachable` once the outage has lasted ``max_outage`` seconds."""
        if self.since is not None and self.outage() >= self.max_outage:
            last = describe(self.last_error) if self.last_error is not None else "no answer"
            raise ServerUnreachable(f"{self.where} has not answered for {self.outage():.0f} s (--max-outage "
                                    f"{self.max_outage:g}); last error: {last}")


class RequestWatch(BaseCallbackHandler):
    """Per episode: the model requests of the current step, as evidence for the run's :class:`OutageBreaker`.

    An answer (even an error status) tells the breaker the server is there; a connection error or timeout of a
    request opens an outage from when that request started. A step cut off by its timeout while a request was
    still waiting (:meth:`stalled`) is evidence too — but a step that was slow before any request went out (a
    model or embedding index loading) is not, so it cannot trip the breaker.
    """

    run_inline = True  # cheap: record start times in order, before the request goes out

    def __init__(self, breaker: OutageBreaker) -> None:
        self.breaker = breaker
        self._lock = threading.Lock()
        self._pending: dict[UUID, float] = {}

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending[run_id] = self.breaker.clock()

    def on_llm_start(self, serialized: Any, prompts: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending[run_id] = self.breaker.clock()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)
        self.breaker.answered()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if isinstance(error, asyncio.CancelledError):
            return  # cut off by the step's timeout: still unanswered, which is what stalled() reports
        with self._lock:
            started = self._pending.pop(run_id, None)
        if classify(error) != "unreachable":
            self.breaker.answered()
        elif started is not None:
            self.breaker.unreachable(started, error)

    def reset(self) -> None:
        """Forget requests of an earlier attempt (a timed-out step leaves its cancelled request behind)."""
        with self._lock:
            self._pending.clear()

    def stalled(self) -> float | None:
        """When the oldest request still waiting for an answer started (None: nothing is waiting)."""
        with self._lock:
            return min(self._pending.values()) if self._pending else None
