"""Worker processes for the ``process`` executor: each runs its own event loop hosting several episodes.

One process per core (at most ``concurrency``), each with ``ceil(concurrency / processes)`` episode slots: a local
CPU-bound model gets a core per process, and API models overlap their waits inside every process while the
processes share the CPU work of the client libraries. Workers rebuild the graph and models from the serialisable
spec and only *play*; results come back over a queue to the parent, the single writer of ``run.sqlite``. A worker
takes a task only when it has a free slot, so work balances itself. If a worker dies, its in-flight episodes fail
as infrastructure errors (and are re-queued by the runner) instead of hanging the run. If the parent dies (even
by ``kill -9``), its workers exit within a second: on Linux the kernel kills them (``PR_SET_PDEATHSIG``), and
everywhere a watchdog thread notices the parent is gone. Each worker has its own outage breaker; a worker whose
run must stop (refused request, outage) tells the parent, which stops the run and kills the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

from escgraph.simulations.episode import InfraError, play_episode
from escgraph.simulations.faults import ExecutorStartError, RunStopped, stop_error
from escgraph.simulations.results import EpisodeResult
from escgraph.simulations.spec import EpisodeKey, RunSpec

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_INTERVAL = 0.5  # seconds between the watchdog's looks at the parent

__all__ = ["WorkerPool", "pool_shape", "exit_with_parent"]


def pool_shape(concurrency: int, episodes: int, cpus: int | None = None) -> tuple[int, int]:
    """(processes, slots per process) for ``concurrency`` episodes in flight."""
    processes = max(1, min(concurrency, episodes, cpus or os.cpu_count() or 1))
    return processes, math.ceil(concurrency / processes)


class WorkerPool:
    """Spawned worker processes playing episodes; :meth:`play` is awaited like a local episode."""

    def __init__(self, spec: RunSpec, processes: int, slots: int) -> None:
        self.processes_wanted, self.slots = processes, slots
        self.payload = spec.model_dump_json()
        self.threads = max(1, (os.cpu_count() or 1) // processes)  # llama.cpp threads per process
        self.ctx = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads and loaded models
        self.tasks, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.procs: list[Any] = []
        self.futures: dict[str, asyncio.Future] = {}
        self.owner: dict[str, int] = {}  # token -> pid of the worker playing it
        self.ready: asyncio.Future | None = None
        self.closing = False
        self.lock = threading.Lock()

    async def start(self) -> dict[str, Any]:
        """Start the workers; returns the decoding settings they applied (from the first ready worker)."""
        self.loop = asyncio.get_running_loop()
        self.ready = self.loop.create_future()
        # PR_SET_PDEATHSIG fires when the *thread* that started a worker ends: use it only from the main thread
        main_thread = threading.current_thread() is threading.main_thread()
        self.procs = [self.ctx.Process(target=_worker_main, daemon=True,
                                       args=(self.payload, self.threads, self.slots, self.tasks, self.results,
                                             os.getpid(), main_thread))
                      for _ in range(self.processes_wanted)]
        for proc in self.procs:
            proc.start()
        self.reader = threading.Thread(target=self._read, name="escgraph-worker-results", daemon=True)
        self.reader.start()
        return await self.ready

    async def play(self, key: EpisodeKey, attempt: int) -> EpisodeResult:
        token = f"{key.episode_id}@{attempt}"
        future = self.loop.create_future()
        with self.lock:
            self.futures[token] = future
        self.tasks.put((token, key.profile_id, key.trial, key.seed, attempt))
        return await future

    async def close(self, *, kill: bool = False) -> None:
        """Let the workers finish and exit, or (``kill``: the run stopped) kill them at once."""
        self.closing = True
        if kill:
            for proc in self.procs:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.kill()
        else:
            for _ in self.procs:
                self.tasks.put(None)
        await asyncio.to_thread(self._join)
        if getattr(self, "reader", None) is not None:
            await asyncio.to_thread(self.reader.join, 5)  # it exits once every worker has

    def _join(self) -> None:
        for proc in self.procs:
            if proc.pid is None:
                continue
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()

    # -- the parent's reader thread -------------------------------------------------------------------------
    def _settle(self, token: str, *, result: Any = None, error: BaseException | None = None) -> None:
        with self.lock:
            future = self.futures.pop(token, None)
            self.owner.pop(token, None)
        if future is None:
            return

        def apply() -> None:
            if not future.done():
                future.set_exception(error) if error is not None else future.set_result(result)

        self.loop.call_soon_threadsafe(apply)

    def _read(self) -> None:
        while True:
            try:
                message = self.results.get(timeout=0.5)
            except (OSError, EOFError, ValueError):  # the queue was torn down with the pool
                return
            except queue.Empty:
                if self._reap_dead_workers():
                    return
                continue
            kind, pid, *rest = message
            if kind == "ready":
                self.loop.call_soon_threadsafe(lambda: self.ready.done() or self.ready.set_result(rest[0]))
            elif kind == "fatal":
                error = ExecutorStartError(f"a simulation worker could not start: {rest[0]}")
                self.loop.call_soon_threadsafe(lambda: self.ready.done() or self.ready.set_exception(error))
            elif kind == "started":
                with self.lock:
                    self.owner[rest[0]] = pid
            elif kind == "done":
                self._settle(rest[0], result=rest[1])
            elif kind == "error":
                self._settle(rest[0], error=InfraError(rest[1]))
            elif kind == "stop":  # the worker's run must stop: a refused request or an outage
                self._settle(rest[0], error=stop_error(rest[1], rest[2]))
            elif kind == "crash":  # a bug, not an outage: fail the run as the local executor would
                self._settle(rest[0], error=RuntimeError(rest[1]))

    def _reap_dead_workers(self) -> bool:
        """Fail the episodes of workers that died; True when every worker has exited and nothing is left."""
        dead = {p.pid: p.exitcode for p in self.procs if p.pid is not None and not p.is_alive()}
        with self.lock:
            orphans = [(t, pid) for t, pid in self.owner.items() if pid in dead]
        for token, pid in orphans:
            self._settle(token, error=InfraError(f"worker process {pid} died (exit code {dead[pid]})"))
        if len(dead) == len(self.procs):
            with self.lock:
                leftover = list(self.futures)
            for token in leftover:
                self._settle(token, error=InfraError("every worker process has exited"))
            if self.ready is not None:
                error = ExecutorStartError("simulation workers exited before they were ready")
                self.loop.call_soon_threadsafe(lambda: self.ready.done() or self.ready.set_exception(error))
            return True
        return False


# -- inside a worker process -----------------------------------------------------------------------------------
def exit_with_parent(parent_pid: int, *, pdeathsig: bool = True) -> None:
    """End this process as soon as ``parent_pid`` (its parent) dies, however it dies.

    On Linux the kernel sends SIGKILL when the parent goes (``prctl(PR_SET_PDEATHSIG)``); on every platform a
    daemon thread checks every half second that the parent is still there (``os.getppid()`` and the
    multiprocessing parent sentinel) and calls ``os._exit`` when it is not.
    """
    if pdeathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = multiprocessing.parent_process()

    def parent_gone() -> bool:
        return os.getppid() != parent_pid or (parent is not None and not parent.is_alive())

    if parent_gone():  # it died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while not parent_gone():
            time.sleep(_WATCH_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="escgraph-parent-watch", daemon=True).start()


def _worker_main(payload: str, n_threads: int, slots: int, tasks: Any, results: Any, parent_pid: int,
                 pdeathsig: bool) -> None:
    exit_with_parent(parent_pid, pdeathsig=pdeathsig)  # first: loading models can take a while
    from escgraph.graphs import build_graph
    from escgraph.simulations.runner import applied_settings, load_role_models, run_breaker, run_skills_bank, warm_up

    pid = os.getpid()
    try:
        spec = RunSpec.model_validate_json(payload)
        models = load_role_models(spec, n_threads=n_threads)
        graph = build_graph(spec.graph, **spec.graph_options)
        bank = run_skills_bank(spec)
        warm_up()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        results.put(("fatal", pid, f"{type(exc).__name__}: {exc}"))
        return
    results.put(("ready", pid, applied_settings(models)))
    asyncio.run(_serve(spec, models, graph, bank, slots, tasks, results, pid, run_breaker(spec)))


async def _serve(spec: RunSpec, models: Any, graph: Any, bank: Any, slots: int, tasks: Any, results: Any,
                 pid: int, breaker: Any = None) -> None:
    loop = asyncio.get_running_loop()
    free = asyncio.Semaphore(slots)
    running: set[asyncio.Task] = set()

    async def play(token: str, key: EpisodeKey, attempt: int) -> None:
        try:
            results.put(("done", pid, token, await play_episode(spec, key, graph, models, attempt=attempt,
                                                                     skills_bank=bank, breaker=breaker)))
        except InfraError as exc:
            results.put(("error", pid, token, str(exc)))
        except RunStopped as exc:
            results.put(("stop", pid, token, type(exc).__name__, str(exc)))
        except Exception as exc:  # noqa: BLE001
            results.put(("crash", pid, token, f"{type(exc).__name__}: {exc}"))
        finally:
            free.release()

    while True:
        await free.acquire()  # take a task only with a free slot, so busy workers leave work to idle ones
        item = await loop.run_in_executor(None, tasks.get)
        if item is None:
            break
        token, profile_id, trial, seed, attempt = item
        results.put(("started", pid, token))
        task = asyncio.create_task(play(token, EpisodeKey(profile_id, trial, seed), attempt))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)
