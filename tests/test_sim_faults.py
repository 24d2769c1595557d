"""Retry policy of simulation steps: which errors are retried, Retry-After, the outage breaker, URL redaction."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from escgraph.llm import StructuredOutputError
from escgraph.llm._redact import redact_text, redact_url
from escgraph.simulations import episode
from escgraph.simulations.episode import InfraError, with_retries
from escgraph.simulations.faults import (ModelRequestRejected, OutageBreaker, ServerUnreachable, backoff_delay,
                                         classify, retry_after)


class StatusError(Exception):
    """Shaped like openai.APIStatusError: a status_code and a response with headers (no openai import needed)."""

    def __init__(self, status: int, headers: dict | None = None) -> None:
        super().__init__(f"Error code: {status}")
        self.status_code = status
        self.response = SimpleNamespace(status_code=status, headers=headers or {})


class APITimeoutError(Exception):
    """Named like openai's: classified by class name."""


class RemoteProtocolError(Exception):
    """Named like httpx's (a body cut off mid-way)."""


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_rejected(status):
    assert classify(StatusError(status)) == "rejected"


@pytest.mark.parametrize("error", [StatusError(429), StatusError(500), StatusError(502), StatusError(503),
                                   StatusError(408), StructuredOutputError("no parse"), ValueError("bad json")])
def test_rate_limits_server_errors_and_malformed_output_are_transient(error):
    assert classify(error) == "transient"


@pytest.mark.parametrize("error", [TimeoutError(), ConnectionRefusedError(), ConnectionResetError(),
                                   APITimeoutError(), RemoteProtocolError()])
def test_connection_errors_and_timeouts_are_unreachable(error):
    assert classify(error) == "unreachable"


def test_classification_looks_through_wrappers():
    try:
        try:
            raise StatusError(401)
        except StatusError as inner:
            raise RuntimeError("langchain wrapped it") from inner
    except RuntimeError as outer:
        assert classify(outer) == "rejected"


def test_retry_after_headers():
    assert retry_after(StatusError(429, {"retry-after": "7"})) == 7
    assert retry_after(StatusError(429, {"retry-after-ms": "250"})) == 0.25
    assert retry_after(StatusError(429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), now=1445412470.0) == 10
    assert retry_after(StatusError(429)) is None and retry_after(ValueError()) is None


def test_backoff_is_jittered_exponential_and_capped():
    for attempt in range(8):
        d = min(60.0, 0.5 * 2 ** attempt)
        assert d / 2 <= backoff_delay(0.5, attempt) <= d
    assert backoff_delay(1.0, 100) <= 60


@pytest.fixture
def sleeps(monkeypatch):
    """Record the waits between attempts instead of waiting."""
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(episode, "_sleep", fake_sleep)
    return waited


def failing(*errors: BaseException, result: str = "ok"):
    queue = list(errors)
    calls = []

    async def make() -> str:
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return result

    return make, calls


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_rejected_requests_fail_fast_without_retries(sleeps, status):
    make, calls = failing(StatusError(status))
    with pytest.raises(ModelRequestRejected, match=str(status)):
        await with_retries("judge (p#0#1)", make, retries=5, backoff=0.1, timeout=5)
    assert len(calls) == 1 and sleeps == []


async def test_429_waits_at_least_retry_after(sleeps):
    make, calls = failing(StatusError(429, {"retry-after": "3"}), StatusError(503))
    assert await with_retries("step", make, retries=3, backoff=0.01, timeout=5) == "ok"
    assert len(calls) == 3
    assert sleeps[0] >= 3 and sleeps[1] < 3  # the 503 has no Retry-After: plain backoff


async def test_transient_errors_use_up_the_retries_then_raise_infra_error(sleeps):
    make, calls = failing(*[StatusError(500)] * 5)
    with pytest.raises(InfraError, match=r"failed 3 time\(s\).*500"):
        await with_retries("step", make, retries=2, backoff=0.01, timeout=5)
    assert len(calls) == 3 and len(sleeps) == 2


async def test_timeouts_without_a_breaker_count_as_failures(sleeps):
    async def hang() -> None:
        await asyncio.sleep(10)

    with pytest.raises(InfraError, match="no answer within 0.05s"):
        await with_retries("step", hang, retries=1, backoff=0.01, timeout=0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_trips_after_max_outage_and_any_answer_closes_the_outage():
    clock = Clock()
    breaker = OutageBreaker(300, where="the model server at http://127.0.0.1:1/v1", clock=clock)
    assert breaker.unreachable(clock.now, ConnectionRefusedError("refused"))
    clock.now += 299
    breaker.check()  # not yet
    clock.now += 1
    with pytest.raises(ServerUnreachable, match=r"127.0.0.1:1/v1 has not answered for 300 s.*refused"):
        breaker.check()
    breaker.answered()
    breaker.check()
    started = clock.now
    clock.now += 5
    breaker.answered()  # someone else got an answer after this attempt started: not an outage
    assert not breaker.unreachable(started, TimeoutError())
    breaker.check()


async def test_an_outage_does_not_use_up_retries_and_trips_the_breaker(sleeps):
    clock = Clock()
    breaker = OutageBreaker(60, clock=clock)

    async def refused() -> None:
        clock.now += 7  # each attempt takes a while to fail
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(ServerUnreachable):
        await with_retries("step", refused, retries=1, backoff=0.01, timeout=5, breaker=breaker)
    assert len(sleeps) >= 5  # far more attempts than `retries` allows: it waited for the server


def test_urls_lose_credentials():
    assert redact_url("http://user:pw@127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url("https://h/v1?api_key=abc&model=x&Token=t") == "https://h/v1?api_key=***&model=x&Token=***"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_url(None) is None
    text = "Client error '401' for url 'http://bob:hunter2@10.0.0.1/v1/chat/completions?key=k1'"
    assert "hunter2" not in redact_text(text) and "k1" not in redact_text(text)
    assert "10.0.0.1/v1/chat/completions" in redact_text(text)


def test_request_watch_feeds_the_breaker():
    from uuid import uuid4

    from escgraph.simulations.faults import RequestWatch

    clock = Clock()
    breaker = OutageBreaker(30, clock=clock)
    watch = RequestWatch(breaker)
    first, second = uuid4(), uuid4()
    watch.on_chat_model_start({}, [], run_id=first)
    clock.now += 5
    watch.on_llm_error(ConnectionRefusedError(), run_id=first)
    assert breaker.in_outage() and breaker.since == 1000.0  # the outage dates from when the request went out
    watch.on_chat_model_start({}, [], run_id=second)
    watch.on_llm_error(StatusError(503), run_id=second)
    assert not breaker.in_outage()  # an error status is still an answer
    watch.on_chat_model_start({}, [], run_id=first)
    watch.on_llm_error(asyncio.CancelledError(), run_id=first)  # cut off by the step timeout
    assert watch.stalled() == clock.now and not breaker.in_outage()
    watch.reset()
    assert watch.stalled() is None


async def test_a_step_slow_before_any_request_is_not_an_outage(sleeps):
    """A model or index loading inside a step can time it out; with no request waiting, that is no outage."""
    from escgraph.simulations.faults import RequestWatch

    breaker = OutageBreaker(0.01)
    watch = RequestWatch(breaker)

    async def loading() -> None:
        await asyncio.sleep(10)

    with pytest.raises(InfraError, match="no answer within 0.05s"):
        await with_retries("step", loading, retries=1, backoff=0.01, timeout=0.05, breaker=breaker, watch=watch)
    assert not breaker.in_outage()
