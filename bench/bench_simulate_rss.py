"""Peak memory of many concurrent episodes on the embedded local model, against a single episode.

Each measurement runs in its own fresh Python process (this script started again with ``--child``), so both peaks
include the same imports and model loads and differ only in the episodes in flight: first one episode
(concurrency 1), then ``--episodes`` episodes at ``--concurrency`` (default 64 and 64). Every role uses the
embedded model (``models counselor=local``), ``max_turns`` 1, the asyncio executor. Peak RSS is the kernel's
high-water mark (``VmHWM`` in ``/proc/self/status``; ``getrusage`` where that is missing).

Prints both peaks, their ratio, the wall time of each run, and the verdict against the goal (<= 2048 MB).

    HF_HUB_OFFLINE=1 python bench/bench_simulate_rss.py [--episodes 64] [--concurrency 64] [--max-turns 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GOAL_MB = 2048
_MARK = "RSS-RESULT "
PROFILES = [
    {"id": "driving-test", "situation": "I failed my driving test for the third time.", "emotion_type": "shame",
     "hidden_intent": "wants to hear it is not their fault",
     "first_talk": "I failed my driving test again and I feel so stupid."},
    {"id": "exam-stress", "situation": "Finals start in ten days and I cannot focus.", "emotion_type": "anxiety",
     "hidden_intent": "wants practical advice", "first_talk": "My finals are in ten days and I can't study."},
    {"id": "new-city", "situation": "I moved to a new city and have no friends here.", "emotion_type": "sadness",
     "hidden_intent": "wants to vent and be heard", "first_talk": "Weekends are the worst, I talk to no one."},
    {"id": "job-loss", "situation": "I was laid off last week and have not told my family.", "emotion_type": "fear",
     "hidden_intent": "wants guided self-reflection", "first_talk": "I lost my job and haven't told my wife."},
]


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    if peak is None:  # no /proc: ru_maxrss is kB on Linux, bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return peak


# -- child: one measured run ---------------------------------------------------------------------------------
def child(episodes: int, concurrency: int, max_turns: int) -> dict:
    import asyncio
    import inspect
    import tempfile

    from escgraph.simulations.runner import arun_simulation
    from escgraph.simulations.spec import RunSpec

    baseline = _status_mb("VmRSS") or 0.0  # after imports, before the run loads any model
    profiles = PROFILES[:max(1, min(episodes, len(PROFILES)))]
    spec = RunSpec(run_id="bench-rss", graph="sweetiechat", models={"counselor": "local"}, profiles=profiles,
                   profiles_source="inline", trials=max(1, episodes // len(profiles)), max_turns=max_turns,
                   concurrency=concurrency)
    kwargs = {"write_report": False} if "write_report" in inspect.signature(arun_simulation).parameters else {}
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        began = time.perf_counter()
        run = asyncio.run(arun_simulation(spec, tmp, **kwargs))
        wall = time.perf_counter() - began
    done = [e for e in run.episodes if e.status == "done"]
    errors = sorted({e.error for e in run.episodes if e.status != "done" and e.error})[:3]
    return {"episodes": len(run.episodes), "done": len(done), "concurrency": concurrency, "wall": wall,
            "baseline_mb": baseline, "peak_mb": peak_rss_mb(), "errors": errors}


def measure(episodes: int, concurrency: int, max_turns: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--episodes", str(episodes),
           "--concurrency", str(concurrency), "--max-turns", str(max_turns)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"measurement process failed (exit {proc.returncode}); its output:\n{proc.stdout}")
    result = json.loads(line[len(_MARK):])
    print(f"c={concurrency:<3} {result['done']}/{result['episodes']} episodes done in {result['wall']:7.1f} s; "
          f"RSS after imports {result['baseline_mb']:6.0f} MB, peak {result['peak_mb']:6.0f} MB")
    if result["errors"]:
        print(f"      not done: {result['errors']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-turns", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(_MARK + json.dumps(child(args.episodes, args.concurrency, args.max_turns)), flush=True)
        return

    print(f"embedded local model for every role, graph sweetiechat, max_turns {args.max_turns}, "
          f"{os.cpu_count()} CPUs; each run in a fresh process")
    single = measure(1, 1, args.max_turns)
    many = measure(args.episodes, args.concurrency, args.max_turns)
    ratio = many["peak_mb"] / single["peak_mb"]
    extra = (many["peak_mb"] - single["peak_mb"]) / max(1, many["concurrency"] - 1)
    verdict = "meets" if many["peak_mb"] <= GOAL_MB else "MISSES"
    print(f"RESULT: peak RSS {many['peak_mb']:.0f} MB with {many['episodes']} episodes at concurrency "
          f"{many['concurrency']} vs {single['peak_mb']:.0f} MB for one episode ({ratio:.2f}x, ~{extra:.1f} MB per "
          f"extra episode in flight); wall {many['wall']:.0f} s vs {single['wall']:.0f} s; "
          f"goal <= {GOAL_MB} MB: {verdict}")


if __name__ == "__main__":
    main()
