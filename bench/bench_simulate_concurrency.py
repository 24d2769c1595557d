"""Simulation throughput against a slow API: episodes/s at concurrency 1 versus concurrency 64, same run.

A loopback mock OpenAI server (``escgraph.testing.MockOpenAIServer``, in a child process so its work does not
compete with the runner for the GIL) answers every call after ``--delay`` seconds, like a remote API. Both runs use
the same spec — graph sweetiechat, every role ``openai:mock`` at the mock's base_url, the same inline profiles and
``max_turns`` — and differ only in ``concurrency`` and the number of trials. A discarded warm-up episode first
loads everything a run loads once per process (safety detector, embeddings), so neither measured run pays it.

Prints episodes/s and calls/s for each run and the ratio (goal: >= 40x). With ``--profile``, or when the ratio
misses the goal, a further c=64 run under cProfile (CPU time) shows where the runner's CPU goes; it is not used
for the numbers.

    python bench/bench_simulate_concurrency.py [--delay 0.2] [--concurrency 64] [--episodes 128]
                                               [--executor local|process] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import io
import multiprocessing
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "x")  # the mock takes any key

from escgraph.profiles import SeekerProfile  # noqa: E402
from escgraph.simulations.runner import arun_simulation  # noqa: E402
from escgraph.simulations.spec import RunSpec  # noqa: E402
from escgraph.testing import MockOpenAIServer  # noqa: E402

GOAL = 40.0
PROFILES = [
    SeekerProfile(id="driving-test", situation="I failed my driving test for the third time.",
                  emotion_type="shame", hidden_intent="wants to hear it is not their fault",
                  first_talk="I failed my driving test again and I feel so stupid."),
    SeekerProfile(id="exam-stress", situation="Finals start in ten days and I cannot focus.",
                  emotion_type="anxiety", hidden_intent="wants practical advice",
                  first_talk="My finals are in ten days and I can't make myself study."),
    SeekerProfile(id="new-city", situation="I moved to a new city and have no friends here.",
                  emotion_type="sadness", hidden_intent="wants to vent and be heard",
                  first_talk="Weekends are the worst, I don't talk to anyone."),
    SeekerProfile(id="job-loss", situation="I was laid off last week and have not told my family.",
                  emotion_type="fear", hidden_intent="wants guided self-reflection",
                  first_talk="I lost my job and I still haven't told my wife."),
]


# -- the mock server in a child process ----------------------------------------------------------------------
def _serve(delay: float, conn) -> None:
    with MockOpenAIServer(delay=delay) as server:
        conn.send(server.base_url)
        while (command := conn.recv()) != "stop":  # "count": how many completions so far
            conn.send((server.requests, server.max_in_flight))


class ServerProcess:
    def __init__(self, delay: float) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(delay, child), daemon=True)
        self.process.start()
        if not self.conn.poll(60):  # the child died or hangs: fail instead of waiting forever
            self.process.kill()
            raise RuntimeError("the mock server process did not start")
        self.base_url = self.conn.recv()

    def stats(self) -> tuple[int, int]:
        self.conn.send("count")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


# -- one measured run ------------------------------------------------------------------------------------------
def make_spec(base_url: str, *, concurrency: int, episodes: int, max_turns: int, executor: str = "local") -> RunSpec:
    """The bench's spec: runs differ only in concurrency and episode count (profiles x trials)."""
    profiles = PROFILES[:max(1, min(episodes, len(PROFILES)))]
    trials = max(1, episodes // len(profiles))
    return RunSpec(run_id="bench-concurrency", graph="sweetiechat", base_url=base_url,
                   models={"counselor": "openai:mock", "seeker": "openai:mock", "judge": "openai:mock"},
                   profiles=profiles, profiles_source="inline", trials=trials, max_turns=max_turns,
                   concurrency=concurrency, executor=executor)


def _run_kwargs() -> dict:
    # the report is not part of what this bench measures; skip it where the runner allows
    return {"write_report": False} if "write_report" in inspect.signature(arun_simulation).parameters else {}


def _cpu() -> float:
    """CPU seconds of this process and of its reaped children (the process executor's workers)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


async def measure(spec: RunSpec, out_dir: Path, server: ServerProcess, label: str,
                  profiler: cProfile.Profile | None = None) -> dict:
    calls_before, _ = server.stats()
    cpu_before = _cpu()
    began = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    run = await arun_simulation(spec, out_dir, **_run_kwargs())
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - began
    cpu_after = _cpu()
    calls, max_in_flight = server.stats()
    calls -= calls_before
    cpu = cpu_after - cpu_before
    done = [e for e in run.episodes if e.status == "done"]
    result = {"label": label, "episodes": len(run.episodes), "done": len(done), "wall": wall, "calls": calls,
              "eps": len(done) / wall, "calls_per_s": calls / wall, "cpu": cpu, "max_in_flight": max_in_flight}
    print(f"{label:>6}: {result['done']}/{result['episodes']} episodes done in {wall:6.2f} s -> "
          f"{result['eps']:7.3f} episodes/s, {calls} calls, {result['calls_per_s']:7.1f} calls/s, "
          f"runner CPU {cpu:5.2f} s ({cpu / wall:4.0%} of a core, {1000 * cpu / max(calls, 1):.1f} ms/call)")
    if result["done"] != result["episodes"]:
        errors = {e.error for e in run.episodes if e.status != "done"}
        print(f"        not done: {sorted(errors)[:3]}")
    return result


async def bench(args: argparse.Namespace, server: ServerProcess, root: Path) -> tuple[dict, dict]:
    # One event loop for every run, as in a program that simulates repeatedly: langchain-openai caches its
    # async HTTP client per process, and pooled connections from a closed loop would fail the next run's calls.
    def spec(concurrency: int, episodes: int, executor: str = args.executor) -> RunSpec:
        return make_spec(server.base_url, concurrency=concurrency, episodes=episodes, max_turns=args.max_turns,
                         executor=executor)

    await measure(spec(1, 1, "local"), root / "warmup", server, "warmup")  # one-time loads, discarded
    # The serial reference is always in-process and warm (no worker start-up): the strictest baseline.
    serial = await measure(spec(1, args.serial_episodes, "local"), root / "c1", server, "c=1")
    wide = await measure(spec(args.concurrency, args.episodes), root / "cN", server, f"c={args.concurrency}")
    print(f"peak requests in flight at the mock: {wide['max_in_flight']}; calls per episode: "
          f"{serial['calls'] / serial['episodes']:.2f} (c=1) vs {wide['calls'] / wide['episodes']:.2f} "
          f"(c={args.concurrency})")
    if args.profile or wide["eps"] / serial["eps"] < GOAL:
        # CPU time, not wall time: waiting on the API is the point of the run, the CPU is what limits it
        profiler = cProfile.Profile(time.process_time)
        await measure(spec(args.concurrency, args.episodes), root / "profiled", server, "prof", profiler)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
        if args.profile_out:
            stats.dump_stats(args.profile_out)  # for pstats: callers, callees
    return serial, wide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="mock API latency per call, seconds")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=128, help="episodes of the concurrent run")
    parser.add_argument("--serial-episodes", type=int, default=4, help="episodes of the concurrency-1 run")
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "process"), default="local",
                        help="executor of the concurrent run ('process' spreads the client libraries' CPU work over "
                             "the cores; its worker start-up is inside the measured time); the c=1 reference "
                             "always runs in-process, warm")
    parser.add_argument("--profile", action="store_true", help="also profile a concurrent run (CPU time)")
    parser.add_argument("--top", type=int, default=10, help="functions to list in the profile")
    parser.add_argument("--profile-out", help="also write the profile's raw stats to this file (pstats format)")
    args = parser.parse_args()

    print(f"mock API delay {args.delay:g} s, graph sweetiechat, {len(PROFILES)} profiles, "
          f"max_turns {args.max_turns}, executor {args.executor}, {os.cpu_count()} CPUs")
    server = ServerProcess(args.delay)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
            serial, wide = asyncio.run(bench(args, server, Path(tmp)))
    finally:
        server.stop()
    ratio = wide["eps"] / serial["eps"]
    ideal = min(args.concurrency, wide["episodes"])
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(f"RESULT: episodes/s c={args.concurrency} / c=1 = {wide['eps']:.3f} / {serial['eps']:.3f} = "
          f"{ratio:.1f}x (ideal {ideal}x; goal >= {GOAL:g}x: {verdict})")


if __name__ == "__main__":
    main()
