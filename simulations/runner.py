"""Run a simulation: expand the spec into episodes, play them concurrently, write one results file, resume.

Executors (ARCHITECTURE.md §6):
- ``local`` (default): asyncio in this process, at most ``concurrency`` episodes in flight; models are shared
  (the embedded llama.cpp model serialises its own calls, API models overlap their waits).
- ``ray``: Ray actors on this machine or a cluster, each with its models and episode slots
  (:mod:`escgraph.simulations.ray_executor`); this process stays the single writer.
- ``process``: one worker process per core (at most ``concurrency``), each an event loop with its share of the
  ``concurrency`` slots, building the graph and models from the serialisable spec — for CPU-bound local models, and
  for API runs whose client-library CPU work outgrows one core. Workers only play; this process is the single
  writer of ``run.sqlite`` (see ``workers``).

An episode whose step fails after its retries is re-queued (up to ``requeues`` times, at the back of the queue),
then recorded as ``infra_error`` — never scored. Running again with ``resume`` re-queues those and any episode
a kill interrupted; finished episodes are never replayed.

Some failures stop the whole run at once, keeping what is finished (:mod:`escgraph.simulations.faults`): the
model server refusing a request (400, 401, 403, 404), or not answering at all for ``max_outage`` seconds, raise
a :class:`~escgraph.simulations.faults.RunStopped`; a failed write to the results file (a full disk) raises
:class:`~escgraph.simulations.store.RunWriteError`. Episodes in flight go back to ``pending``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel

from escgraph.files import atomic_write
from escgraph.graphs import get_graph_info
from escgraph.graphs.registry import graph_info_for
from escgraph.llm import REQUEST_OPTION_PROVIDERS, ModelSettings, load_chat_model, redact_url
from escgraph.simulations.episode import InfraError, play_episode
from escgraph.simulations.faults import OutageBreaker, RunStopped
from escgraph.simulations.results import EpisodeResult, RunData
from escgraph.simulations.spec import SIM_ROLES, EpisodeKey, RunSpec
from escgraph.simulations.store import RunStore, write_error

__all__ = ["RunProgress", "arun_simulation", "run_simulation", "load_role_models", "imported_model", "applied_settings",
           "write_outputs", "run_breaker", "warm_up"]

_IN_PROCESS = frozenset({"local", "fake", "py"})  # model kinds with no server behind them


class RunProgress(Protocol):
    """What a progress display hears from the runner (every method optional in practice: see ``_Quiet``)."""

    def start(self, total: int, finished: int) -> None: ...
    def episode_started(self, key: EpisodeKey) -> None: ...
    def episode_finished(self, result: EpisodeResult) -> None: ...
    def episode_requeued(self, key: EpisodeKey, error: str) -> None: ...


class _Quiet:
    def start(self, total: int, finished: int) -> None: ...
    def episode_started(self, key: EpisodeKey) -> None: ...
    def episode_finished(self, result: EpisodeResult) -> None: ...
    def episode_requeued(self, key: EpisodeKey, error: str) -> None: ...


SAFETY_SETTINGS = ModelSettings(temperature=0.0, max_tokens=160, top_p=1.0)


def load_role_models(spec: RunSpec, *, n_threads: int | None = None) -> dict[str, BaseChatModel]:
    """One chat model per role from the spec (and ``safety`` when the spec names a safety model), with the role's
    pinned decoding settings applied.

    Roles with the same spec and settings share one model object. ``n_threads`` limits llama.cpp threads per
    local model (worker processes split the cores between them). API models (OpenAI-compatible, Anthropic) get
    ``step_timeout`` as their request timeout and no retries of their own: the run's retry policy decides.
    """
    cache: dict[str, BaseChatModel] = {}
    models = {}
    roles = [(role, spec.models[role], spec.settings[role]) for role in SIM_ROLES]
    if spec.safety_model:  # the safety gate's second opinion classifies: greedy and short
        roles.append(("safety", spec.safety_model, SAFETY_SETTINGS))
    for role, model_spec, settings in roles:
        base_url = spec.base_url_for(role)
        cache_key = json.dumps([model_spec, settings.as_kwargs(), base_url], sort_keys=True)
        if cache_key not in cache:
            extra: dict[str, Any] = {}
            kind = model_spec.split(":", 1)[0].strip()
            if kind == "local" and n_threads:
                extra["n_threads"] = n_threads
            if kind in REQUEST_OPTION_PROVIDERS and ":" in model_spec:
                extra.update(timeout=spec.step_timeout, max_retries=0)
            if kind == "py":
                base = imported_model(model_spec)
            else:
                base = load_chat_model(model_spec, base_url=base_url, **extra)
            cache[cache_key] = apply_settings(base, settings)
        models[role] = cache[cache_key]
    return models


def imported_model(model_spec: str) -> BaseChatModel:
    """``py:package.module:attr``: a chat model, or a function returning one, found by import.

    How a custom model class (or a scripted test world) reaches the process and ray executors, whose workers
    build their models from the spec's strings.
    """
    import importlib

    from escgraph.llm import ModelSpecError

    module_name, _, attr = model_spec.partition(":")[2].partition(":")
    if not module_name or not attr:
        raise ModelSpecError(f"model spec {model_spec!r}: use 'py:package.module:attribute'")
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelSpecError(f"model spec {model_spec!r}: cannot import {module_name}.{attr}: {exc}") from exc
    model = found() if callable(found) and not isinstance(found, BaseChatModel) else found
    if not isinstance(model, BaseChatModel):
        raise ModelSpecError(f"model spec {model_spec!r} gave a {type(model).__name__}, not a LangChain chat model")
    return model


def apply_settings(model: BaseChatModel, settings: ModelSettings) -> BaseChatModel:
    """A copy of ``model`` with the pinned settings it supports (others are recorded as not applied)."""
    fields = type(model).model_fields
    update = {k: v for k, v in settings.as_kwargs().items() if k in fields}
    return model.model_copy(update=update) if update else model


def applied_settings(models: Mapping[str, BaseChatModel]) -> dict[str, dict[str, Any]]:
    return {role: {"model": type(m).__name__, **ModelSettings.of(m).model_dump()} for role, m in models.items()}


def warm_up() -> None:
    """Load what the first episode would otherwise load inside a timed step (the safety gate's embedding index).

    A worker process always starts cold, and a cold start inside a step can outlast a short ``step_timeout`` and
    cost the first episodes their retries; workers call this before they report ready.
    """
    try:
        from escgraph.agents.safety import default_detector

        default_detector().check("warm-up")
    except Exception:  # noqa: BLE001 - the first episode will load (and report) it the usual way
        pass


def run_breaker(spec: RunSpec) -> OutageBreaker | None:
    """The outage breaker for a run that calls a model server (None for in-process models or ``max_outage`` 0)."""
    if not spec.max_outage or all(m.split(":", 1)[0].strip() in _IN_PROCESS for m in spec.models.values()):
        return None
    urls = spec.base_url if isinstance(spec.base_url, list) else [spec.base_url] if spec.base_url else []
    if len(urls) > 1 or spec.role_base_urls:
        where = "every model server of the run"  # the pool sends calls elsewhere while any one answers
    else:
        where = f"the model server at {redact_url(urls[0])}" if urls else "the model provider's API"
    return OutageBreaker(spec.max_outage, where=where)


async def arun_simulation(spec: RunSpec, out_dir: str | Path, *, models: Mapping[str, BaseChatModel] | None = None,
                          resume: bool = False, force: bool = False, progress: RunProgress | None = None,
                          write_report: bool = True, skills_bank: Any = None, graph: Any = None) -> RunData:
    """Run (or resume) ``spec`` into ``out_dir``; returns the run as read back from its results file.

    ``models`` maps roles to ready chat models (tests, custom models); by default they are loaded from the spec's
    model strings. ``skills_bank`` is a ready retriever for graphs that use the skills bank; by default it is
    built from ``spec.bank_path`` at the frozen ``spec.bank_version``. ``graph`` is a graph object (compiled, a
    StateGraph or a builder) to run instead of building ``spec.graph`` (local executor). The folder and its results file are
    prepared before any model is loaded, so an unwritable folder or a changed config fails fast.
    """
    progress = progress or _Quiet()
    store = RunStore.create_or_resume(out_dir, spec, resume=resume, force=force)
    try:
        todo = store.pending(spec)
        total = len(spec.episodes())
        progress.start(total, store.counts().get("done", 0))
        began = time.perf_counter()
        try:
            if todo:
                await _play_all(spec, store, todo, progress, models, skills_bank, graph)
        except RunStopped as exc:
            store.release_running()
            done = store.counts().get("done", 0)
            raise type(exc)(f"{str(exc).rstrip('.')}. Stopped: {done} of {total} episodes are finished and saved "
                            f"in {out_dir}") from exc
        previous = float(store._meta("seconds") or 0)
        store.set_meta("seconds", round(previous + time.perf_counter() - began, 2))
        run = store.load()
    finally:
        store.close()
    if write_report:
        try:
            write_outputs(run)
        except OSError as exc:
            raise write_error(Path(out_dir), exc) from exc
    return run


async def _play_all(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], progress: RunProgress,
                    models: Mapping[str, BaseChatModel] | None, skills_bank: Any, graph: Any) -> None:
    if spec.executor in ("process", "ray"):
        if models is not None or skills_bank is not None or graph is not None:
            raise ValueError(f"the {spec.executor} executor builds models and the skills bank from the spec; "
                             "do not pass objects")
        if spec.executor == "ray":
            await _run_on_ray(spec, store, todo, progress)
        else:
            await _run_in_processes(spec, store, todo, progress)
        return
    ready = dict(models) if models is not None else load_role_models(spec)
    for role in SIM_ROLES:
        if role not in ready:
            ready[role] = ready["counselor"]
    store.set_meta("applied_settings", applied_settings(ready))
    info = graph_info_for(graph, name=spec.graph) if graph is not None else get_graph_info(spec.graph)
    bank = skills_bank if skills_bank is not None else run_skills_bank(spec, info)
    await _run_in_loop(spec, store, todo, ready, progress, bank, info.build(**spec.graph_options))


def run_simulation(spec: RunSpec, out_dir: str | Path, **kwargs: Any) -> RunData:
    """Synchronous wrapper of :func:`arun_simulation`."""
    return asyncio.run(arun_simulation(spec, out_dir, **kwargs))


def run_skills_bank(spec: RunSpec, info: Any = None) -> Any:
    """The retriever over the spec's frozen bank version, for graphs that use the skills bank (else None)."""
    if not (info or get_graph_info(spec.graph)).uses_skills_bank:
        return None
    from escgraph.skills_bank import frozen_retriever

    return frozen_retriever(spec.bank_path, spec.bank_version)


async def _run_in_loop(spec: RunSpec, store: RunStore, todo: list[EpisodeKey],
                       models: Mapping[str, BaseChatModel], progress: RunProgress, skills_bank: Any,
                       graph: Any) -> None:
    breaker = run_breaker(spec)

    async def play(key: EpisodeKey, attempt: int) -> EpisodeResult:
        return await play_episode(spec, key, graph, models, attempt=attempt, skills_bank=skills_bank,
                                  breaker=breaker)

    await _drive(spec, store, todo, play, progress, spec.concurrency)


async def _run_in_processes(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], progress: RunProgress) -> None:
    from escgraph.simulations.workers import WorkerPool, pool_shape

    processes, slots = pool_shape(spec.concurrency, len(todo))
    pool = WorkerPool(spec, processes, slots)
    finished = False
    try:
        store.set_meta("applied_settings", await pool.start())
        await _drive(spec, store, todo, pool.play, progress, processes * slots)
        finished = True
    finally:
        await pool.close(kill=not finished)  # a stopped run does not wait for episodes still in flight


async def _run_on_ray(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], progress: RunProgress) -> None:
    from escgraph.simulations.ray_executor import RayPool

    pool = RayPool(spec, len(todo))
    finished = False
    try:
        store.set_meta("applied_settings", await pool.start())
        await _drive(spec, store, todo, pool.play, progress, pool.width)
        finished = True
    finally:
        await pool.close(kill=not finished)  # a finished run leaves its actors warm for the next one


async def _drive(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], play: Any, progress: RunProgress,
                 width: int) -> None:
    """Feed a queue of episodes to ``width`` workers; this coroutine is the only writer of the store.

    The first error a worker raises (a stopped run, a failed write) cancels the others and is raised here.
    """
    queue: asyncio.Queue[tuple[EpisodeKey, int] | None] = asyncio.Queue()
    for key in todo:
        queue.put_nowait((key, 1))
    workers = min(width, len(todo))
    remaining = len(todo)

    async def worker() -> None:
        nonlocal remaining
        while (item := await queue.get()) is not None:
            key, attempt = item
            store.mark_running(key, attempt)
            progress.episode_started(key)
            try:
                result = await play(key, attempt)
            except InfraError as exc:
                error = str(exc)
                if attempt <= spec.requeues:
                    store.mark_requeued(key, error, attempt)
                    progress.episode_requeued(key, error)
                    queue.put_nowait((key, attempt + 1))  # back of the queue: let a transient outage pass
                    continue
                result = EpisodeResult(episode_id=key.episode_id, profile_id=key.profile_id, trial=key.trial,
                                       seed=key.seed, status="infra_error", error=error, attempts=attempt,
                                       profile=spec.profile(key.profile_id).model_dump(mode="json",
                                                                                       exclude_none=True))
            store.save(result)
            progress.episode_finished(result)
            remaining -= 1
            if remaining == 0:
                for _ in range(workers):
                    queue.put_nowait(None)  # everything is written: let every worker stop

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- outputs ---------------------------------------------------------------------------------------------------
def write_outputs(run: RunData) -> dict[str, Any]:
    """Write ``summary.json`` and ``report.html`` into the run folder (atomically); returns the summary."""
    from escgraph.simulations.metrics import summarize
    from escgraph.simulations.report import render_report

    summary = summarize(run)
    folder = Path(run.run_dir)
    atomic_write(folder / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    atomic_write(folder / "report.html", render_report(run))
    return summary

