"""Play one SAGE episode: a seeker-judge against a compiled counselor graph, every step retried with backoff.

The graph runs without a checkpointer: the episode keeps the state and passes it back each turn, so a failed
step can simply be re-run with the same input. A step that still fails after its retries raises
:class:`InfraError`; the runner re-queues the episode instead of scoring it as a seeker failure. A request the
server refuses (400, 401, 403, 404) or an outage longer than the run allows stops the whole run instead
(:mod:`escgraph.simulations.faults`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from langchain_core.callbacks import Callbacks
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from escgraph.llm import StructuredOutputTracker, UsageTracker
from escgraph.simulations.faults import (RETRY_AFTER_CAP, ModelRequestRejected, OutageBreaker, RequestWatch,
                                         backoff_delay, classify, describe, retry_after)
from escgraph.simulations.results import EpisodeResult, TurnRecord
from escgraph.simulations.sage import SageSeeker, says_goodbye
from escgraph.simulations.spec import EpisodeKey, RunSpec
from escgraph.simulations.tracing import episode_outputs, episode_trace
from escgraph.types import ESCContext

__all__ = ["InfraError", "play_episode", "with_retries", "seeded_models"]

T = TypeVar("T")
_sleep = asyncio.sleep  # the waits between attempts (tests record them)


class InfraError(RuntimeError):
    """A model or infrastructure failure that outlived its retries (never a seeker failure)."""


async def with_retries(what: str, make: Callable[[], Awaitable[T]], *, retries: int, backoff: float,
                       timeout: float, breaker: OutageBreaker | None = None, watch: RequestWatch | None = None) -> T:
    """Await ``make()`` with a timeout, retrying transient failures with jittered exponential backoff.

    A refused request (400, 401, 403, 404) raises :class:`ModelRequestRejected` at once. A 429 waits at least its
    ``Retry-After``. With a ``breaker``, a connection error or timeout during an outage (nothing answered since the
    failed request went out) is retried without using up ``retries``, until the breaker trips and raises
    :class:`~escgraph.simulations.faults.ServerUnreachable`; otherwise every failure counts, and after
    ``retries + 1`` of them :class:`InfraError` is raised. The breaker hears about requests from ``watch`` (a
    callback on the step's model calls) when given, else from the attempts themselves.
    """
    failures = waits = 0
    while True:
        if breaker is not None:
            breaker.check()
        if watch is not None:
            watch.reset()
        started = breaker.clock() if breaker is not None else time.monotonic()
        try:
            result = await asyncio.wait_for(make(), timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            error: BaseException = TimeoutError(f"no answer within {timeout:g}s")
        except Exception as exc:  # sorted below: refused, unreachable or transient
            error = exc
        else:
            if breaker is not None and watch is None:
                breaker.answered()
            return result
        kind = classify(error)
        if kind == "rejected":
            raise ModelRequestRejected(f"the model server refused the request ({what}): {describe(error)}; "
                                       "check --model, --base-url and the API key") from error
        if breaker is not None:
            if watch is None and kind == "unreachable":
                breaker.unreachable(started, error)
            elif watch is None:
                breaker.answered()  # an error status or malformed output still means the server is there
            elif kind == "unreachable" and (stalled := watch.stalled()) is not None:
                breaker.unreachable(stalled, error)  # the step timed out while a request was still waiting
            if kind == "unreachable" and breaker.in_outage():
                breaker.check()
                await _sleep(min(backoff_delay(max(backoff, 0.1), waits), breaker.time_left() + 0.01))
                waits += 1
                continue  # an outage, not this request's fault: wait for the server without using up retries
        failures += 1
        if failures > retries:
            raise InfraError(f"{what} failed {failures} time(s); last error: {describe(error)}") from error
        delay = backoff_delay(backoff, failures - 1)
        asked = retry_after(error) if kind == "transient" else None
        if asked is not None:
            delay = max(delay, min(asked, RETRY_AFTER_CAP))
        await _sleep(delay)


def seeded_models(models: Mapping[str, BaseChatModel], seed: int) -> dict[str, BaseChatModel]:
    """Copies of the role models sampling with ``seed`` where the model has a seed setting."""
    out = {}
    for role, model in models.items():
        out[role] = model.model_copy(update={"seed": seed}) if "seed" in type(model).model_fields else model
    return out


def _counselor_turn(idx: int, state: Mapping[str, Any], latency: float) -> TurnRecord:
    from_gate = state.get("reply_source") == "safety_gate"
    safety = state.get("safety") or {}
    extra = {"reply_source": state.get("reply_source")}
    if from_gate:
        extra["safety"] = safety.get("category", "crisis")
    else:
        extra.update(stage=state.get("stage"), rationale=state.get("strategy_rationale"))
        plan = state.get("plan") if isinstance(state.get("plan"), dict) else {}
        if plan.get("skill_id"):
            extra["skill_id"] = plan["skill_id"]  # the skill followed: outcomes are attributed to it
        if state.get("assessment"):
            extra["assessment"] = {k: v for k, v in state["assessment"].items() if k != "summary"}
        if state.get("planner"):
            extra["planner"] = state["planner"]  # the external planner's distribution and whether it was followed
    # state carries over between turns: a gate reply retrieved nothing, whatever the last turn left behind
    retrieved = [] if from_gate else [str(item.get("id")) for item in state.get("retrieved") or []
                                      if isinstance(item, dict)]
    return TurnRecord(idx=idx, speaker="counselor", text=state.get("reply", ""),
                      strategy=None if from_gate else state.get("strategy"), retrieved=retrieved,
                      latency=round(latency, 3), extra={k: v for k, v in extra.items() if v is not None})


async def play_episode(spec: RunSpec, key: EpisodeKey, graph: Any, models: Mapping[str, BaseChatModel], *,
                       attempt: int = 1, skills_bank: Any = None,
                       breaker: OutageBreaker | None = None) -> EpisodeResult:
    """Play one episode to its SAGE end (success, failure, goodbye or the turn limit).

    ``skills_bank`` (a retriever over the run's frozen bank version) reaches the graph's nodes through the run
    context, never through graph state. ``breaker`` is the run's (per process) outage breaker. The episode is one
    trace (:mod:`escgraph.simulations.tracing`): every step's runs nest under a parent run named after it.
    """
    tracker, structured = UsageTracker(), StructuredOutputTracker()
    watch = RequestWatch(breaker) if breaker is not None else None
    handlers = [tracker, structured] + ([watch] if watch is not None else [])
    async with episode_trace(spec, key, attempt=attempt, handlers=handlers) as callbacks:
        result = await _play(spec, key, graph, models, callbacks=callbacks, tracker=tracker, structured=structured,
                             watch=watch, attempt=attempt, skills_bank=skills_bank, breaker=breaker)
        await callbacks.on_chain_end(episode_outputs(result))
    return result


async def _play(spec: RunSpec, key: EpisodeKey, graph: Any, models: Mapping[str, BaseChatModel], *,
                callbacks: Callbacks, tracker: UsageTracker, structured: StructuredOutputTracker,
                watch: RequestWatch | None, attempt: int, skills_bank: Any,
                breaker: OutageBreaker | None) -> EpisodeResult:
    profile = spec.profile(key.profile_id)
    models = seeded_models(models, key.seed)
    seeker = SageSeeker(profile, seeker_model=models["seeker"], judge_model=models["judge"], sage=spec.sage,
                        callbacks=callbacks)
    graph_models = {role: models[role] for role in ("counselor", "safety") if role in models}
    context = ESCContext(models=graph_models, skills_bank=skills_bank,
                         safety={"format": spec.safety_format} if "safety" in models else None)

    def step(what: str, make: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return with_retries(f"{what} ({key.episode_id})", make, retries=spec.call_retries, backoff=spec.backoff,
                            timeout=spec.step_timeout, breaker=breaker, watch=watch)

    began = time.perf_counter()
    opening = await step("seeker opening", seeker.opening)
    turns = [TurnRecord(idx=0, speaker="seeker", text=opening, emotion_after=seeker.emotion,
                        latency=round(time.perf_counter() - began, 3))]
    state: dict[str, Any] = {"messages": [HumanMessage(opening)], "situation": profile.situation,
                             "seeker_id": profile.id}
    outcome = "max_turns"
    for turn in range(1, spec.max_turns + 1):
        t0 = time.perf_counter()
        # the episode's metadata reaches the graph's runs from the parent run
        config = {"callbacks": callbacks, "run_name": f"counselor turn {turn}"}
        state = dict(await step("counselor graph", lambda: graph.ainvoke(state, config=config, context=context)))
        turns.append(_counselor_turn(len(turns), state, time.perf_counter() - t0))

        t0 = time.perf_counter()
        messages = list(state["messages"])
        assessment, change, before = await step("judge", lambda: seeker.assess(messages))
        fallbacks = seeker.fallbacks
        text = await step("seeker reply", lambda: seeker.reply(messages))
        extra = {"band": seeker.band, "judge_change_raw": assessment.change}
        if seeker.last_rejections:
            extra["seeker_regenerated"] = list(seeker.last_rejections)  # why each rejected line was rejected
        if seeker.fallbacks > fallbacks:
            extra["seeker_fallback"] = True  # the model's line was unusable (echo, loop, or out of character)
        turns.append(TurnRecord(
            idx=len(turns), speaker="seeker", text=text, emotion_before=before, emotion_after=seeker.emotion,
            change=change, judge=assessment.model_dump(), latency=round(time.perf_counter() - t0, 3),
            extra=extra))
        state["messages"] = messages + [HumanMessage(text)]

        if seeker.emotion >= spec.sage.success_at:
            outcome = "success"
        elif seeker.emotion < spec.sage.failure_below:
            outcome = "failure"
        elif says_goodbye(text):
            outcome = "goodbye"
        else:
            continue
        break

    judged = sum(1 for t in turns if t.speaker == "seeker" and t.idx > 0)
    return EpisodeResult(
        episode_id=key.episode_id, profile_id=key.profile_id, trial=key.trial, seed=key.seed, status="done",
        profile=profile.model_dump(mode="json", exclude_none=True), outcome=outcome,
        initial_emotion=turns[0].emotion_after, final_emotion=seeker.emotion, seeker_turns=judged,
        tokens={role: usage.model_dump() for role, usage in tracker.totals().items()}, attempts=attempt,
        seconds=round(time.perf_counter() - began, 2), turns=turns,
        # its presence marks an episode recorded with health data (older runs have none)
        health=_health(structured, tracker))


def _health(structured: StructuredOutputTracker, tracker: UsageTracker) -> dict[str, Any]:
    """What the run's health figures need, plus which server answered how many calls (pooled models only)."""
    health: dict[str, Any] = {"structured": structured.totals()}
    if servers := tracker.by_server():
        health["servers"] = servers
    return health
