"""The single writer's ceiling: how many finished episodes per second ``run.sqlite`` absorbs, and its bytes each.

Every executor (local, process, ray) funnels results to one writer in the driver: ``mark_running`` when an
episode starts and ``save`` when it ends, one transaction each (WAL, synchronous commits). This bench writes
synthetic episodes shaped like real ones (``--turns`` judged turns, replies of ~``--chars`` characters, judge
assessments, tokens) and prints episodes/s and KiB per episode, with the writer's CPU share, so a cluster's
expected episode rate can be checked against it. Reference in the same run: the same number of bare ``INSERT``
transactions of the same bytes into a plain SQLite table, the floor any single SQLite writer pays.

    python bench/bench_store_writer.py [--episodes 2000] [--turns 10] [--chars 240]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from escgraph.profiles import SeekerProfile  # noqa: E402
from escgraph.simulations.results import EpisodeResult, TurnRecord  # noqa: E402
from escgraph.simulations.spec import RunSpec  # noqa: E402
from escgraph.simulations.store import RunStore  # noqa: E402

TEXT = ("It sounds like the last few weeks have been really heavy, and I can hear how tired you are of carrying "
        "this on your own. What has been the hardest part for you when you come home in the evening? ")


def episode(key, turns: int, chars: int) -> EpisodeResult:
    text = (TEXT * (chars // len(TEXT) + 1))[:chars]
    records = [TurnRecord(idx=0, speaker="seeker", text=text, emotion_after=40)]
    emotion = 40.0
    for turn in range(turns):
        records.append(TurnRecord(idx=len(records), speaker="counselor", text=text, strategy="Reflection of feelings",
                                  retrieved=["skill-a", "skill-b"], latency=1.2,
                                  extra={"stage": "exploration", "rationale": text[:120], "reply_source": "model"}))
        emotion = min(100.0, emotion + 3)
        records.append(TurnRecord(idx=len(records), speaker="seeker", text=text, emotion_before=emotion - 3,
                                  emotion_after=emotion, change=3,
                                  judge={"meaning": text[:80], "serves_goal": "partly", "inner_reaction": text[:80],
                                         "feeling": "calmer", "change": 3},
                                  latency=2.3, extra={"band": "B", "judge_change_raw": 3}))
    return EpisodeResult(episode_id=key.episode_id, profile_id=key.profile_id, trial=key.trial, seed=key.seed,
                         status="done", profile={"id": key.profile_id, "situation": text[:120]},
                         outcome="max_turns", initial_emotion=40, final_emotion=emotion, seeker_turns=turns,
                         tokens={r: {"input_tokens": 900, "output_tokens": 60, "total_tokens": 960, "calls": turns}
                                 for r in ("counselor", "seeker", "judge")},
                         attempts=1, seconds=30.0, turns=records, health={"structured": {}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--chars", type=int, default=240)
    args = parser.parse_args()
    profiles = [SeekerProfile(id=f"p{i}", situation="A hard week at work.") for i in range(100)]
    spec = RunSpec(run_id="writer", models={"counselor": "fake"}, profiles=profiles,
                   trials=max(1, args.episodes // len(profiles)))
    keys = spec.episodes()
    results = [episode(k, args.turns, args.chars) for k in keys]
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        store = RunStore.create_or_resume(Path(tmp) / "run", spec)
        cpu, began = time.process_time(), time.perf_counter()
        for key, result in zip(keys, results):
            store.mark_running(key, 1)
            store.save(result)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        store.close()
        size = sum(p.stat().st_size for p in (Path(tmp) / "run").glob("run.sqlite*"))
        blobs = [json.dumps([t.to_dict() for t in r.turns]) for r in results]
        plain = sqlite3.connect(Path(tmp) / "plain.sqlite", isolation_level=None)
        plain.execute("PRAGMA journal_mode=WAL")
        plain.execute("CREATE TABLE t (id TEXT PRIMARY KEY, state TEXT, body TEXT)")
        ref_began = time.perf_counter()
        for key, blob in zip(keys, blobs):
            plain.execute("INSERT INTO t VALUES (?, 'running', '')", (key.episode_id,))
            plain.execute("UPDATE t SET state = 'done', body = ? WHERE id = ?", (blob, key.episode_id))
        reference = time.perf_counter() - ref_began
        plain.close()
    n = len(keys)
    print(f"{n} episodes of {args.turns} judged turns (~{args.chars} chars per utterance)")
    print(f"run.sqlite writer: {n / wall:8.1f} episodes/s, {1000 * wall / n:.2f} ms/episode, CPU {cpu / wall:.0%} of "
          f"a core, {size / n / 1024:.1f} KiB/episode on disk")
    print(f"plain SQLite, same bytes, two transactions each: {n / reference:8.1f} episodes/s")
    print(f"RESULT writer / plain-SQLite floor = {reference / wall:.2f}x the speed")


if __name__ == "__main__":
    main()
