"""The simulation runner: SAGE episodes, results file, resume after kill -9, infra errors, config pinning."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import arun_simulation
from escgraph.simulations.spec import RunSpec, episode_seed
from escgraph.simulations.store import ConfigChangedError, RunStoreError, load_run

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import fake_models, finished_episodes  # noqa: E402

PROFILES = [
    SeekerProfile(id=f"p{i}", situation=f"situation number {i}: my manager keeps criticising me in meetings",
                  problem_type=["job crisis", "grief", "loneliness"][i % 3],
                  personality=["passive", "hostile"][i % 2], hidden_intent="wants to vent and be heard",
                  first_talk=f"Hi. Work has been rough lately ({i}).")
    for i in range(6)
]


def make_spec(**overrides) -> RunSpec:
    options = dict(run_id="test-run", models={"counselor": "fake"}, profiles=PROFILES, trials=2, max_turns=4,
                   concurrency=3, backoff=0.01, step_timeout=2.0)
    options.update(overrides)
    return RunSpec(**options)


def outcomes(run) -> dict[str, tuple]:
    return {e.episode_id: (e.status, e.outcome, e.final_emotion, e.seeker_turns,
                           [(t.speaker, t.text, t.emotion_after) for t in e.turns]) for e in run.episodes}


async def test_episode_follows_sage_protocol(tmp_path):
    run = await arun_simulation(make_spec(), tmp_path / "run", models=fake_models())
    assert len(run.episodes) == 12 and all(e.status == "done" for e in run.episodes)
    for episode in run.episodes:
        assert episode.initial_emotion == 40
        seeker_turns = [t for t in episode.turns if t.speaker == "seeker" and t.idx > 0]
        assert len(seeker_turns) == episode.seeker_turns <= 4
        emotion = 40.0
        for turn in seeker_turns:  # every judged turn: clipped change, emotion carried over, capped
            assert -10 <= turn.change <= 10 and turn.emotion_before == emotion
            assert turn.emotion_after == max(0.0, min(100.0, emotion + turn.change))
            assert set(turn.judge) >= {"meaning", "serves_goal", "inner_reaction", "feeling", "change"}
            emotion = turn.emotion_after
        assert episode.final_emotion == emotion
        end = {"success": emotion >= 100, "failure": emotion < 10}
        if episode.outcome in end:
            assert end[episode.outcome]
        elif episode.outcome == "max_turns":
            assert episode.seeker_turns == 4
        counselor = [t for t in episode.turns if t.speaker == "counselor"]
        assert counselor and all(t.strategy for t in counselor)
        assert set(episode.tokens) >= {"counselor", "seeker", "judge"}
    assert len({e.outcome for e in run.episodes}) >= 2  # the fake's drift gives varied endings
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["sage_score"] == pytest.approx(sum(e.final_emotion for e in run.episodes) / 12)
    assert (tmp_path / "run" / "report.html").stat().st_size > 1000


def test_episode_seeds_come_from_sha256_of_the_run_id():
    spec = make_spec()
    keys = spec.episodes()
    assert [k.seed for k in keys] == [k.seed for k in make_spec().episodes()]
    assert keys[0].seed == episode_seed("test-run", 0, "p0", 0)
    assert keys[0].seed != make_spec(run_id="other").episodes()[0].seed
    assert len({k.seed for k in keys}) == len(keys)


async def test_resume_refuses_a_changed_config_unless_forced(tmp_path):
    out = tmp_path / "run"
    await arun_simulation(make_spec(trials=1), out, models=fake_models())
    with pytest.raises(RunStoreError, match="already holds a run"):
        await arun_simulation(make_spec(trials=1), out, models=fake_models())
    with pytest.raises(ConfigChangedError, match="max_turns"):
        await arun_simulation(make_spec(trials=1, max_turns=5), out, models=fake_models(), resume=True)
    # execution-only settings may change on resume
    same = await arun_simulation(make_spec(trials=1, concurrency=8), out, models=fake_models(), resume=True)
    assert len(same.episodes) == 6
    forced = await arun_simulation(make_spec(trials=2), out, models=fake_models(), resume=True, force=True)
    assert len(forced.episodes) == 12 and all(e.status == "done" for e in forced.episodes)


async def test_unwritable_out_fails_before_any_model_call(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    models = fake_models()
    with pytest.raises(RunStoreError, match="cannot write to run folder"):
        await arun_simulation(make_spec(), blocker / "run", models=models)
    assert models["counselor"].calls == []


async def test_flaky_model_is_retried_or_recorded_as_infra_error_never_as_failure(tmp_path):
    clean = await arun_simulation(make_spec(), tmp_path / "clean", models=fake_models())
    faulty = fake_models(fail_rate=0.2, timeout_sleep=5)
    flaky = await arun_simulation(make_spec(call_retries=1, requeues=1, step_timeout=0.3), tmp_path / "flaky",
                                  models=faulty)
    # every kind of fault really happened, so the run below had to survive them
    assert set(faulty["counselor"].injected) == {"timeout", "exception", "malformed"}
    assert len(flaky.episodes) == 12
    expected = outcomes(clean)
    statuses = {e.status for e in flaky.episodes}
    assert statuses <= {"done", "infra_error"}
    for episode in flaky.episodes:
        if episode.status == "done":  # retried steps reproduce exactly what a clean run gives
            assert outcomes(flaky)[episode.episode_id] == expected[episode.episode_id]
        else:
            assert episode.outcome is None and episode.final_emotion is None and episode.error
            assert "failed" in episode.error
    summary = json.loads((tmp_path / "flaky" / "summary.json").read_text())
    done = [e for e in flaky.episodes if e.status == "done"]
    assert summary["failure"] == sum(e.outcome == "failure" for e in done)


_KILL_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from sim_fakes import fake_models
from test_sim_runner import make_spec
from escgraph.simulations.runner import arun_simulation
asyncio.run(arun_simulation(make_spec(concurrency=2), {out!r}, models=fake_models(delay=0.1),
                            resume={resume}, write_report=False))
"""


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    tests = str(Path(__file__).parent)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT.format(tests=tests, out=str(out), resume=False)],
                            env=env)
    db_path = out / "run.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(finished_episodes(db_path)) >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = finished_episodes(db_path)
    assert 3 <= len(before) < 12, "the kill must land mid-run"

    resumed = subprocess.run([sys.executable, "-c", _KILL_SCRIPT.format(tests=tests, out=str(out), resume=True)],
                             env=env, timeout=300)
    assert resumed.returncode == 0
    after = finished_episodes(db_path)
    assert {k: after[k] for k in before} == before  # finished episodes untouched (same row, same timestamp)

    reference = tmp_path / "reference"
    import asyncio

    asyncio.run(arun_simulation(make_spec(concurrency=2), reference, models=fake_models(), write_report=False))
    assert outcomes(load_run(out)) == outcomes(load_run(reference))
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0] == 12
        dupes = db.execute("SELECT COUNT(*) FROM (SELECT episode_id, idx FROM turns GROUP BY 1, 2 "
                           "HAVING COUNT(*) > 1)").fetchone()[0]
        assert dupes == 0


def test_process_pool_shape_spreads_slots_over_cores():
    from escgraph.simulations.workers import pool_shape

    assert pool_shape(64, 500, cpus=2) == (2, 32)  # API runs: every core, many episodes each
    assert pool_shape(2, 500, cpus=2) == (2, 1)  # local CPU-bound model: one episode per core
    assert pool_shape(1, 500, cpus=8) == (1, 1)
    assert pool_shape(64, 3, cpus=8) == (3, 22)
