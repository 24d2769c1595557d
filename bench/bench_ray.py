"""Ray executor against the local executor, and throughput over 1, 2 and 4 model servers, measured in one run.

Loopback mock OpenAI servers (each in its own process) answer every call after ``--delay`` seconds. The graph is
sweetiechat with every role ``openai:mock``, ``--episodes`` episodes at concurrency ``--concurrency``.

1. **Ray overhead.** One server without a capacity limit; the local executor (asyncio in this process) and the
   ray executor on the same spec. Ray is started before the timed run (on a cluster it is already running), and
   actor start-up (building models and graph) is inside the timed run. Goal: ray >= 0.8x local episodes/s.
2. **Servers.** Each server works on at most ``--capacity`` requests at once (a GPU serving a fixed batch); the
   same spec with its calls spread over 1, 2 and 4 servers (``base_url`` a list: least-loaded routing). Reports
   episodes/s and the ratio to one server.

Also prints the driver's CPU seconds per episode (this process: the single writer of ``run.sqlite``).
Run it where the network is loopback only, or accept that Ray probes for its own address when it starts:

    python bench/bench_ray.py [--episodes 128] [--concurrency 64] [--delay 0.2] [--capacity 4]
                              [--executor-for-servers ray|local] [--skip-servers] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "x")  # the mock takes any key
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from escgraph.profiles import SeekerProfile  # noqa: E402
from escgraph.simulations.runner import arun_simulation  # noqa: E402
from escgraph.simulations.spec import RunSpec  # noqa: E402
from escgraph.testing.mock_process import MockServerProcess  # noqa: E402

PROFILES = [SeekerProfile(id=f"bench-{i}", situation=f"Case {i}: I failed my exam and my parents are upset.",
                          first_talk=f"I failed my exam ({i}) and I can't tell my parents.") for i in range(8)]


def make_spec(base_url, *, episodes: int, concurrency: int, max_turns: int, executor: str) -> RunSpec:
    return RunSpec(run_id="bench-ray", graph="sweetiechat", base_url=base_url, models={"counselor": "openai:mock"},
                   profiles=PROFILES, trials=max(1, episodes // len(PROFILES)), max_turns=max_turns,
                   concurrency=concurrency, executor=executor)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _FirstStart:
    """Notes when the first episode starts: after the executor is ready (Ray actors built, workers loaded)."""

    first: float | None = None

    def start(self, total, finished): ...  # noqa: ANN001
    def episode_requeued(self, key, error): ...  # noqa: ANN001
    def episode_finished(self, result): ...  # noqa: ANN001

    def episode_started(self, key) -> None:  # noqa: ANN001
        self.first = self.first or time.perf_counter()


async def measure(spec: RunSpec, out: Path, label: str) -> dict:
    progress = _FirstStart()
    cpu, began = _self_cpu(), time.perf_counter()
    run = await arun_simulation(spec, out, write_report=False, progress=progress)
    ended = time.perf_counter()
    wall, cpu = ended - began, _self_cpu() - cpu
    startup = (progress.first or began) - began
    done = sum(e.status == "done" for e in run.episodes)
    size = (out / "run.sqlite").stat().st_size
    result = {"label": label, "eps": done / wall, "wall": wall, "done": done, "episodes": len(run.episodes),
              "startup": startup, "eps_ready": done / max(wall - startup, 1e-9),
              "driver_cpu_per_episode": cpu / max(done, 1), "bytes_per_episode": size / max(done, 1)}
    print(f"{label:>22}: {done}/{len(run.episodes)} done in {wall:6.1f} s -> {result['eps']:6.2f} episodes/s "
          f"({startup:.1f} s start-up; {result['eps_ready']:.2f} episodes/s once ready); "
          f"driver CPU {1000 * result['driver_cpu_per_episode']:.0f} ms/episode; "
          f"run.sqlite {result['bytes_per_episode'] / 1024:.1f} KiB/episode")
    return result


async def overhead(args: argparse.Namespace, root: Path) -> None:
    with MockServerProcess(delay=args.delay) as server:
        def spec(executor: str, episodes: int = args.episodes) -> RunSpec:
            return make_spec(server.base_url, episodes=episodes, concurrency=args.concurrency,
                             max_turns=args.max_turns, executor=executor)

        await measure(spec("local", 2), root / "warmup", "warm-up (discarded)")
        local = await measure(spec("local"), root / "local", "local executor")
        on_ray = await measure(spec("ray"), root / "ray", "ray executor")
        warm = await measure(spec("ray"), root / "ray-warm", "ray, actors warm")
    ratio, warm_ratio = on_ray["eps"] / local["eps"], warm["eps"] / local["eps"]
    ready = on_ray["eps_ready"] / local["eps_ready"]
    print(f"RESULT ray/local episodes/s = {on_ray['eps']:.2f} / {local['eps']:.2f} = {ratio:.2f}x with the actors' "
          f"start-up ({on_ray['startup']:.1f} s), {ready:.2f}x once they are ready "
          f"(goal >= 0.8x: {'meets' if ratio >= 0.8 else 'MISSES'} / {'meets' if ready >= 0.8 else 'MISSES'})")
    print(f"RESULT ray with warm actors (the next run of the same driver, as evolution's arms) / local = "
          f"{warm_ratio:.2f}x (goal >= 0.8x: {'meets' if warm_ratio >= 0.8 else 'MISSES'})")


async def servers(args: argparse.Namespace, root: Path) -> None:
    pool = [MockServerProcess(delay=args.delay, capacity=args.capacity) for _ in range(4)]
    try:
        results = {}
        for count in (1, 2, 4):
            urls = [s.base_url for s in pool[:count]]
            spec = make_spec(urls if count > 1 else urls[0], episodes=args.episodes, concurrency=args.concurrency,
                             max_turns=args.max_turns, executor=args.executor_for_servers)
            results[count] = await measure(spec, root / f"servers-{count}",
                                           f"{count} server(s) x cap {args.capacity}")
        stats = [s.stats() for s in pool]
        print("requests per server (all runs):", [s["requests"] for s in stats])
    finally:
        for server in pool:
            server.stop()
    one, ready = results[1]["eps"], results[1]["eps_ready"]
    print("RESULT servers: " + ", ".join(f"{n} -> {r['eps'] / one:.2f}x" for n, r in results.items())
          + " the episodes/s of one server; once the actors are ready: "
          + ", ".join(f"{n} -> {r['eps_ready'] / ready:.2f}x" for n, r in results.items())
          + f" (ideal {', '.join(f'{n}x' for n in results)})")


async def main_async(args: argparse.Namespace) -> None:
    import ray

    began = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    print(f"Ray started in {time.perf_counter() - began:.1f} s (not in the timed runs); {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        if not args.skip_overhead:
            await overhead(args, Path(tmp))
        if not args.skip_servers:
            await servers(args, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2, help="mock latency per call, seconds")
    parser.add_argument("--max-turns", type=int, default=2)
    parser.add_argument("--capacity", type=int, default=4, help="requests each server works on at once (part 2)")
    parser.add_argument("--executor-for-servers", choices=("ray", "local"), default="ray")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-servers", action="store_true")
    args = parser.parse_args()
    print(f"mock delay {args.delay:g} s, {args.episodes} episodes, concurrency {args.concurrency}, "
          f"max_turns {args.max_turns}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
