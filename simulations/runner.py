"""Run a simulation: expand the spec into episodes, play them concurrently, write one results file, resume.

Executors (ARCHITECTURE.md §6):
- ``local`` (default): asyncio in this process, at most ``concurrency`` episodes in flight; models are shared
  (the embedded llama.cpp model serialises its own calls, API models overlap their waits).
- ``process``: one worker process per core (at most ``concurrency``), each an event loop with its share of the
  ``concurrency`` slots, building the graph and models from the serialisable spec — for CPU-bound local models, and
  for API runs whose client-library CPU work outgrows one core. Workers only play; this process is the single
  writer of ``run.sqlite`` (see ``workers``).

An episode whose step fails after its retries is re-queued (up to ``requeues`` times, at the back of the queue),
then recorded as ``infra_error`` — never scored. Running again with ``resume`` re-queues those and any episode
a kill interrupted; finished episodes are never replayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel

from escgraph.graphs import build_graph, get_graph_info
from escgraph.llm import ModelSettings, load_chat_model
from escgraph.simulations.episode import InfraError, play_episode
from escgraph.simulations.results import EpisodeResult, RunData
from escgraph.simulations.spec import SIM_ROLES, EpisodeKey, RunSpec
from escgraph.simulations.store import RunStore

__all__ = ["RunProgress", "arun_simulation", "run_simulation", "load_role_models", "applied_settings",
           "write_outputs"]


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


def load_role_models(spec: RunSpec, *, n_threads: int | None = None) -> dict[str, BaseChatModel]:
    """One chat model per role from the spec, with the role's pinned decoding settings applied.

    Roles with the same spec and settings share one model object. ``n_threads`` limits llama.cpp threads per
    local model (worker processes split the cores between them).
    """
    cache: dict[str, BaseChatModel] = {}
    models = {}
    for role in SIM_ROLES:
        model_spec, settings = spec.models[role], spec.settings[role]
        cache_key = json.dumps([model_spec, settings.as_kwargs()], sort_keys=True)
        if cache_key not in cache:
            extra: dict[str, Any] = {}
            if model_spec.split(":", 1)[0] == "local" and n_threads:
                extra["n_threads"] = n_threads
            base = load_chat_model(model_spec, base_url=spec.base_url, **extra)
            cache[cache_key] = apply_settings(base, settings)
        models[role] = cache[cache_key]
    return models


def apply_settings(model: BaseChatModel, settings: ModelSettings) -> BaseChatModel:
    """A copy of ``model`` with the pinned settings it supports (others are recorded as not applied)."""
    fields = type(model).model_fields
    update = {k: v for k, v in settings.as_kwargs().items() if k in fields}
    return model.model_copy(update=update) if update else model


def applied_settings(models: Mapping[str, BaseChatModel]) -> dict[str, dict[str, Any]]:
    return {role: {"model": type(m).__name__, **ModelSettings.of(m).model_dump()} for role, m in models.items()}


async def arun_simulation(spec: RunSpec, out_dir: str | Path, *, models: Mapping[str, BaseChatModel] | None = None,
                          resume: bool = False, force: bool = False, progress: RunProgress | None = None,
                          write_report: bool = True, skills_bank: Any = None) -> RunData:
    """Run (or resume) ``spec`` into ``out_dir``; returns the run as read back from its results file.

    ``models`` maps roles to ready chat models (tests, custom models); by default they are loaded from the spec's
    model strings. ``skills_bank`` is a ready retriever for graphs that use the skills bank; by default it is
    built from ``spec.bank_path`` at the frozen ``spec.bank_version``. The folder and its results file are
    prepared before any model is loaded, so an unwritable folder or a changed config fails fast.
    """
    progress = progress or _Quiet()
    store = RunStore.create_or_resume(out_dir, spec, resume=resume, force=force)
    try:
        todo = store.pending(spec)
        total = len(spec.episodes())
        progress.start(total, store.counts().get("done", 0))
        began = time.perf_counter()
        if todo:
            if spec.executor == "process":
                if models is not None or skills_bank is not None:
                    raise ValueError("the process executor builds models and the skills bank from the spec; "
                                     "do not pass objects")
                await _run_in_processes(spec, store, todo, progress)
            else:
                ready = dict(models) if models is not None else load_role_models(spec)
                for role in SIM_ROLES:
                    if role not in ready:
                        ready[role] = ready["counselor"]
                store.set_meta("applied_settings", applied_settings(ready))
                bank = skills_bank if skills_bank is not None else run_skills_bank(spec)
                await _run_in_loop(spec, store, todo, ready, progress, bank)
        previous = float(store._meta("seconds") or 0)
        store.set_meta("seconds", round(previous + time.perf_counter() - began, 2))
        run = store.load()
    finally:
        store.close()
    if write_report:
        write_outputs(run)
    return run


def run_simulation(spec: RunSpec, out_dir: str | Path, **kwargs: Any) -> RunData:
    """Synchronous wrapper of :func:`arun_simulation`."""
    return asyncio.run(arun_simulation(spec, out_dir, **kwargs))


def run_skills_bank(spec: RunSpec) -> Any:
    """The retriever over the spec's frozen bank version, for graphs that use the skills bank (else None)."""
    if not get_graph_info(spec.graph).uses_skills_bank:
        return None
    from escgraph.skills_bank import frozen_retriever

    return frozen_retriever(spec.bank_path, spec.bank_version)


async def _run_in_loop(spec: RunSpec, store: RunStore, todo: list[EpisodeKey],
                       models: Mapping[str, BaseChatModel], progress: RunProgress, skills_bank: Any) -> None:
    graph = build_graph(spec.graph, **spec.graph_options)

    async def play(key: EpisodeKey, attempt: int) -> EpisodeResult:
        return await play_episode(spec, key, graph, models, attempt=attempt, skills_bank=skills_bank)

    await _drive(spec, store, todo, play, progress, spec.concurrency)


async def _run_in_processes(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], progress: RunProgress) -> None:
    from escgraph.simulations.workers import WorkerPool, pool_shape

    processes, slots = pool_shape(spec.concurrency, len(todo))
    pool = WorkerPool(spec, processes, slots)
    try:
        store.set_meta("applied_settings", await pool.start())
        await _drive(spec, store, todo, pool.play, progress, processes * slots)
    finally:
        await pool.close()


async def _drive(spec: RunSpec, store: RunStore, todo: list[EpisodeKey], play: Any, progress: RunProgress,
                 width: int) -> None:
    """Feed a queue of episodes to ``width`` workers; this coroutine is the only writer of the store."""
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

    await asyncio.gather(*(worker() for _ in range(workers)))


# -- outputs ---------------------------------------------------------------------------------------------------
def write_outputs(run: RunData) -> dict[str, Any]:
    """Write ``summary.json`` and ``report.html`` into the run folder (atomically); returns the summary."""
    from escgraph.simulations.metrics import summarize
    from escgraph.simulations.report import render_report

    summary = summarize(run)
    folder = Path(run.run_dir)
    _write_atomic(folder / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    _write_atomic(folder / "report.html", render_report(run))
    return summary


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
