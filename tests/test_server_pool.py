"""Several OpenAI-compatible servers for one model: least-loaded routing, cool-down and recovery, records."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from escgraph.llm import ModelSettings, ServerPoolChatModel, UsageTracker, load_chat_model
from escgraph.llm._pool import is_server_failure
from escgraph.testing import Faults, MockOpenAIServer

pytest.importorskip("langchain_openai")

pytestmark = pytest.mark.usefixtures("loopback_openai_client")  # conftest: no proxy, any key


class Clock:
    """A clock the test moves by hand: cool-downs end when the test says so, not after a sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Mood(BaseModel):
    mood: str = Field(max_length=60)
    intensity: int = Field(ge=0, le=10)


def _pool(servers, **pool_options) -> ServerPoolChatModel:
    urls = [s if isinstance(s, str) else s.base_url for s in servers]
    return load_chat_model("openai:mock", base_url=urls, api_key="x", max_retries=0, timeout=10,
                           pool_options=pool_options)


def _closed_port_url() -> str:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def three():
    with MockOpenAIServer(delay=0.01) as a, MockOpenAIServer(delay=0.01) as b, MockOpenAIServer(delay=0.01) as c:
        yield [a, b, c]


# -- building ---------------------------------------------------------------------------------------------------
def test_one_url_is_a_single_model_and_several_make_a_pool(three):
    single = load_chat_model("openai:mock", base_url=three[0].base_url, api_key="x")
    assert not isinstance(single, ServerPoolChatModel)
    pool = load_chat_model("openai:mock", base_url=",".join(s.base_url for s in three), api_key="x",
                           temperature=0.4, max_tokens=50)
    assert isinstance(pool, ServerPoolChatModel)
    assert pool.servers == [s.base_url for s in three]
    assert [m.temperature for m in pool.members] == [0.4] * 3
    assert ModelSettings.of(pool) == ModelSettings(temperature=0.4, max_tokens=50)


def test_server_names_are_redacted():
    pool = load_chat_model("openai:mock", base_url=["http://user:secret@127.0.0.1:9/v1", "http://127.0.0.1:8/v1?key=k"],
                           api_key="x")
    assert pool.servers == ["http://127.0.0.1:9/v1", "http://127.0.0.1:8/v1?key=***"]
    assert "secret" not in repr(pool) and "secret" not in str(pool.stats())


# -- routing ----------------------------------------------------------------------------------------------------
def test_sync_calls_take_turns_when_loads_are_equal(three):
    pool = _pool(three)
    answered = [pool.invoke(f"hello {i}").response_metadata["server"] for i in range(9)]
    assert Counter(answered) == {s.base_url: 3 for s in three}
    assert [s.requests for s in three] == [3, 3, 3]


async def test_concurrent_calls_spread_over_servers(three):
    pool = _pool(three)
    replies = await asyncio.gather(*(pool.ainvoke(f"seeker {i}") for i in range(30)))
    assert all(r.content for r in replies)
    assert sum(s.requests for s in three) == 30
    assert all(s.requests >= 5 for s in three)  # least loaded: no server left idle while others queue
    stats = pool.stats()
    assert sum(v["calls"] for v in stats.values()) == 30
    assert all(v["in_flight"] == 0 and v["failures"] == 0 for v in stats.values())


async def test_least_loaded_server_gets_the_call():
    with MockOpenAIServer(delay=0.3) as slow, MockOpenAIServer(delay=0.01) as fast:
        pool = _pool([slow, fast])
        busy = asyncio.create_task(pool.ainvoke("a long one"))  # goes to the first server, which stays busy
        while slow.requests < 1:
            await asyncio.sleep(0.005)
        for i in range(4):
            await pool.ainvoke(f"short {i}")  # the slow server has a call in flight: the fast one is less loaded
        await busy
        assert (slow.requests, fast.requests) == (1, 4)


# -- health -----------------------------------------------------------------------------------------------------
def test_failing_server_cools_down_and_the_run_goes_on(three):
    clock = Clock()
    broken = three[1]
    broken.faults = Faults(server_error=1.0)
    pool = _pool(three, clock=clock, cooldown=30.0, failures_to_cool=3, suspect_after_failure=1.0)
    errors = 0
    for round_ in range(3):
        for i in range(6):
            try:
                pool.invoke(f"round {round_} call {i}")
            except Exception as exc:  # the 500 reaches the caller unchanged: the run decides to retry
                assert getattr(exc, "status_code", None) in (500, 502, 503)
                errors += 1
        clock.now += 5  # past the suspect pause, so the broken server is tried again
    assert errors == 3 and broken.requests == 3
    stats = pool.stats()
    assert stats[broken.base_url]["failures"] == 3
    assert stats[broken.base_url]["cooling_until"] == pytest.approx(clock.now - 5 + 30)
    before = broken.requests
    for i in range(10):  # cooling down: every call goes elsewhere and succeeds
        assert pool.invoke(f"while cooling {i}").response_metadata["server"] != broken.base_url
    assert broken.requests == before


def test_a_failed_server_is_not_retried_at_once_though_it_fails_fast(three):
    clock = Clock()
    three[0].faults = Faults(server_error=1.0)
    pool = _pool(three, clock=clock)
    with pytest.raises(Exception):
        pool.invoke("first call goes to the first server")
    for i in range(8):  # the failed server has nothing in flight, yet it is suspect: the others answer
        pool.invoke(f"next {i}")
    assert three[0].requests == 1


def test_cooled_server_is_probed_once_and_recovers(three):
    clock = Clock()
    broken = three[2]
    broken.faults = Faults(server_error=1.0)
    pool = _pool(three, clock=clock, cooldown=30.0, failures_to_cool=1)
    for i in range(3):  # one call each; the third server fails once and is cooled down at once
        try:
            pool.invoke(f"call {i}")
        except Exception:
            pass
    assert pool.stats()[broken.base_url]["cooling_until"] is not None
    clock.now += 31
    broken.faults = None  # it has come back
    served = [pool.invoke(f"after {i}").response_metadata["server"] for i in range(6)]
    assert broken.base_url in served  # the probe answered: back in turn with the others
    assert pool.stats()[broken.base_url]["cooling_until"] is None
    assert served.count(broken.base_url) == 2


def test_failed_probe_cools_down_again(three):
    clock = Clock()
    broken = three[0]
    broken.faults = Faults(server_error=1.0)
    pool = _pool(three, clock=clock, cooldown=30.0, failures_to_cool=1)
    with pytest.raises(Exception):
        pool.invoke("fails")
    clock.now += 31
    failed = 0
    for i in range(3):  # within a round of turns one call probes the server back from its cool-down
        try:
            pool.invoke(f"after the cool-down {i}")
        except Exception:
            failed += 1
    assert failed == 1 and broken.requests == 2
    assert pool.stats()[broken.base_url]["cooling_until"] == pytest.approx(clock.now + 30)


async def test_refused_connections_cool_down_async(three):
    from escgraph.simulations.faults import classify

    clock = Clock()
    pool = _pool([_closed_port_url(), three[0].base_url], clock=clock, failures_to_cool=2)
    failures = 0
    for i in range(8):
        try:
            await pool.ainvoke(f"call {i}")
        except Exception as exc:
            assert classify(exc) == "unreachable"  # what the run's classifier would see without a pool
            failures += 1
        clock.now += 3
    dead = pool.servers[0]
    assert failures == 2 and pool.stats()[dead]["failures"] == 2
    assert pool.stats()[dead]["cooling_until"] is not None
    assert three[0].requests == 6


def test_when_every_server_cools_down_the_one_back_first_is_used():
    with MockOpenAIServer(delay=0.01, faults=Faults(server_error=1.0)) as a, \
            MockOpenAIServer(delay=0.01, faults=Faults(server_error=1.0)) as b:
        clock = Clock()
        pool = _pool([a, b], clock=clock, cooldown=30.0, failures_to_cool=1)
        for _ in range(2):
            with pytest.raises(Exception):
                pool.invoke("fails")
            clock.now += 10  # a cools down from t, b from t + 10
        with pytest.raises(Exception) as caught:
            pool.invoke("still sent: the pool never fails a call itself")
        assert getattr(caught.value, "status_code", None) in (500, 502, 503)
        assert (a.requests, b.requests) == (2, 1)


def test_refused_requests_pass_through_and_are_not_server_failures():
    from escgraph.simulations.faults import classify

    with MockOpenAIServer(delay=0.01, api_key="right") as a, MockOpenAIServer(delay=0.01, api_key="right") as b:
        pool = load_chat_model("openai:mock", base_url=[a.base_url, b.base_url], api_key="wrong", max_retries=0)
        for _ in range(5):
            with pytest.raises(Exception) as caught:
                pool.invoke("hi")
            assert "AuthenticationError" in type(caught.value).__name__ and caught.value.status_code == 401
            assert classify(caught.value) == "rejected"
        assert all(v["failures"] == 0 and v["cooling_until"] is None for v in pool.stats().values())


def test_which_errors_are_server_failures():
    class Status(Exception):
        def __init__(self, code: int) -> None:
            self.status_code = code

    class APITimeoutError(Exception):
        pass

    assert is_server_failure(Status(500)) and is_server_failure(Status(503)) and is_server_failure(Status(429))
    assert not is_server_failure(Status(400)) and not is_server_failure(Status(401))
    assert not is_server_failure(Status(404))
    assert is_server_failure(APITimeoutError()) and is_server_failure(ConnectionRefusedError())
    assert not is_server_failure(ValueError("bad JSON"))
    try:
        try:
            raise ConnectionResetError("reset")
        except ConnectionResetError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_server_failure(outer)


# -- copies, settings, structured output, streaming --------------------------------------------------------------
def test_settings_and_seed_copies_share_health_and_load(three):
    from escgraph.simulations.runner import apply_settings

    pool = _pool(three)
    pinned = apply_settings(pool, ModelSettings(temperature=0.2, seed=11, max_tokens=40, repeat_penalty=1.1))
    seeded = pinned.model_copy(update={"seed": 99})
    assert ModelSettings.of(seeded) == ModelSettings(temperature=0.2, seed=99, max_tokens=40)  # no repeat_penalty
    assert [m.seed for m in seeded.members] == [99, 99, 99] and [m.seed for m in pinned.members] == [11] * 3
    assert pool.temperature is None and pool.members[0].temperature is None  # the original is untouched
    seeded.invoke("hello")
    body = next(s.last_body for s in three if s.last_body is not None)
    assert body["seed"] == 99 and body["temperature"] == 0.2
    assert sum(v["calls"] for v in pool.stats().values()) == 1  # one state for the pool and all its copies
    assert seeded.members[0].root_async_client is pool.members[0].root_async_client  # and the same HTTP clients


async def test_structured_output_sync_and_async(three):
    pool = _pool(three)
    chooser = pool.with_structured_output(Mood)
    assert isinstance(chooser.invoke("I feel low"), Mood)
    answers = await asyncio.gather(*(chooser.ainvoke(f"seeker {i}") for i in range(6)))
    assert all(isinstance(a, Mood) for a in answers)
    raw = await pool.with_structured_output(Mood, include_raw=True).ainvoke("hi")
    assert isinstance(raw["parsed"], Mood) and raw["raw"].response_metadata["server"] in pool.servers
    assert sum(s.requests for s in three) == 8


def test_streaming_records_the_server_once(three):
    pool = _pool(three)
    chunks = list(pool.stream("hello"))
    text = "".join(c.content for c in chunks)
    assert text.strip()
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.response_metadata["server"] in pool.servers


def test_usage_tracker_counts_calls_per_server(three):
    from escgraph.graphs import build_graph
    from escgraph.types import ESCContext

    pool = _pool(three)
    tracker = UsageTracker()
    graph = build_graph("sweetiechat")
    for i in range(3):
        graph.invoke({"messages": [HumanMessage(f"I failed my driving test again ({i})")]},
                     config={"configurable": {"thread_id": f"t{i}"}, "callbacks": [tracker]},
                     context=ESCContext(models={"counselor": pool}))
    by_server = tracker.by_server()
    assert sum(by_server.values()) == tracker.total().calls == sum(s.requests for s in three)
    assert by_server == {url: v["calls"] for url, v in pool.stats().items() if v["calls"]}
    tracker.reset()
    assert tracker.by_server() == {}


# -- a whole simulation -------------------------------------------------------------------------------------------
def _profiles(n: int):
    from escgraph.profiles import SeekerProfile

    return [SeekerProfile(id=f"s{i}", situation="I failed my exam.", first_talk=f"I failed my exam ({i}).")
            for i in range(n)]


async def test_simulation_with_pooled_models_finishes_and_counts_add_up(three, tmp_path, monkeypatch):
    from escgraph.simulations import episode
    from escgraph.simulations.runner import arun_simulation
    from escgraph.simulations.spec import RunSpec

    trackers: list[UsageTracker] = []

    class RecordingTracker(UsageTracker):
        def __init__(self) -> None:
            super().__init__()
            trackers.append(self)

    monkeypatch.setattr(episode, "UsageTracker", RecordingTracker)
    pool = _pool(three)
    spec = RunSpec(run_id="pooled", models={"counselor": "openai:mock", "seeker": "openai:mock",
                                            "judge": "openai:mock"},
                   base_url=[s.base_url for s in three], profiles=_profiles(4), trials=2, max_turns=2,
                   concurrency=8, call_retries=0, requeues=0)
    run = await arun_simulation(spec, tmp_path / "run", models={"counselor": pool, "seeker": pool, "judge": pool},
                                write_report=False)
    assert [e.status for e in run.episodes] == ["done"] * 8, [e.error for e in run.episodes]
    per_server: Counter[str] = Counter()
    for tracker in trackers:
        per_server.update(tracker.by_server())
    requests = {s.base_url: s.requests for s in three}
    assert dict(per_server) == requests  # every answered call is counted once, under the server that answered
    assert all(n > 0 for n in requests.values())
    assert {url: v["calls"] for url, v in pool.stats().items()} == requests


def test_simulation_spec_with_several_servers_and_a_failing_one(tmp_path):
    from escgraph.simulations.runner import run_simulation
    from escgraph.simulations.spec import RunSpec

    with MockOpenAIServer(delay=0.01) as good, MockOpenAIServer(delay=0.01, faults=Faults(server_error=1.0)) as bad:
        spec = RunSpec(run_id="two-servers", models={"counselor": "openai:mock"},
                       base_url=[good.base_url, bad.base_url], profiles=_profiles(3), max_turns=2, concurrency=3,
                       call_retries=3, backoff=0.01, requeues=0)
        run = run_simulation(spec, tmp_path / "run", write_report=False)
        assert [e.status for e in run.episodes] == ["done"] * 3, [e.error for e in run.episodes]
        assert good.requests > bad.requests >= 1  # the failing server was tried, then mostly left alone
        from escgraph.simulations.metrics import summarize

        # the run records which server answered: per episode, and over the run in summary.json
        answered = summarize(run)["servers"]
        assert answered == {good.base_url: sum(e.health["servers"].get(good.base_url, 0) for e in run.episodes)}
        assert answered[good.base_url] == good.requests


async def test_a_call_abandoned_after_stall_after_counts_as_a_timeout():
    with MockOpenAIServer(delay=0.01, faults=Faults(hang=1.0)) as hanging, MockOpenAIServer(delay=0.01) as ok:
        clock = Clock()
        pool = _pool([hanging, ok], clock=clock, stall_after=5.0, failures_to_cool=1)
        call = asyncio.create_task(pool.ainvoke("no answer"))
        while hanging.requests < 1:
            await asyncio.sleep(0.005)
        call.cancel()  # the caller gave up early: says nothing about the server
        with pytest.raises(asyncio.CancelledError):
            await call
        assert pool.stats()[hanging.base_url]["failures"] == 0
        clock.now += 1  # the same server is next in turn again only after the other one had its call
        await pool.ainvoke("to the other server")
        call = asyncio.create_task(pool.ainvoke("no answer again"))
        while hanging.requests < 2:
            await asyncio.sleep(0.005)
        clock.now += 6  # the step timeout cuts it off after it waited past stall_after: a timeout
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        stats = pool.stats()[hanging.base_url]
        assert stats["failures"] == 1 and stats["cooling_until"] is not None and stats["in_flight"] == 0
