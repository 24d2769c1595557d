"""The ray executor: same outcomes as the local executor, an actor's death re-queues its episodes, a killed driver
resumes, evolution verifies over Ray.

Ray probes the network when it starts, so these tests run only where the network is loopback alone (the test
script's namespace); elsewhere they are skipped. Ray is started on 127.0.0.1 with two CPUs, usage statistics and
the dashboard off, once for the module.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from escgraph.profiles import SeekerProfile  # noqa: E402
from escgraph.simulations.store import load_run  # noqa: E402
from escgraph.simulations.runner import arun_simulation  # noqa: E402
from escgraph.simulations.spec import RunSpec  # noqa: E402
from escgraph.testing import MockOpenAIServer  # noqa: E402


def _loopback_only() -> bool:
    import socket

    try:
        return [name for _, name in socket.if_nameindex()] == ["lo"]  # this namespace's interfaces
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _loopback_only(),
                                reason="Ray tests run only in a loopback-only network namespace (scripts/test.sh)")

PROFILES = [SeekerProfile(id=f"s{i}", situation=f"Situation {i}: I failed an exam and my parents are upset.",
                          first_talk=f"I failed my exam ({i}) and I don't know how to tell them.")
            for i in range(6)]


@pytest.fixture(scope="module")
def ray_local():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    tests = str(Path(__file__).parent)  # actors import the test fakes (py:evolve_fakes:...) like this process
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    sys.path.insert(0, tests)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False, namespace="escgraph-tests")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def server():
    os.environ.setdefault("OPENAI_API_KEY", "test")
    with MockOpenAIServer(delay=0.02) as mock:
        yield mock


def make_spec(server, **overrides) -> RunSpec:
    options = dict(run_id="ray", models={"counselor": "openai:mock"}, base_url=server.base_url, profiles=PROFILES,
                   trials=2, max_turns=3, concurrency=4, backoff=0.01, step_timeout=30.0)
    return RunSpec(**{**options, **overrides})


def outcomes(run) -> dict:
    return {e.episode_id: (e.status, e.outcome, e.final_emotion, [t.text for t in e.turns]) for e in run.episodes}


def actor_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::EpisodeActor"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_ray_gives_the_local_executors_outcomes(tmp_path, ray_local, server):
    local = asyncio.run(arun_simulation(make_spec(server), tmp_path / "local", write_report=False))
    on_ray = asyncio.run(arun_simulation(make_spec(server, executor="ray"), tmp_path / "ray", write_report=False))
    assert len(on_ray.episodes) == 12 and all(e.status == "done" for e in on_ray.episodes)
    assert outcomes(on_ray) == outcomes(local)
    # the spec recorded is the same apart from how it ran
    assert make_spec(server, executor="ray").config_hash() == make_spec(server).config_hash()


def test_a_dead_actor_requeues_its_episodes_and_the_run_completes(tmp_path, ray_local, server):
    class KillOnce:
        killed: list[int] = []

        def start(self, total, finished): ...
        def episode_started(self, key): ...
        def episode_requeued(self, key, error): self.requeued = getattr(self, "requeued", []) + [error]

        def episode_finished(self, result):
            if not self.killed and (pids := actor_pids()):
                os.kill(pids[0], signal.SIGKILL)
                self.killed.append(pids[0])

    progress = KillOnce()
    spec = make_spec(server, executor="ray", max_turns=6, trials=3)
    run = asyncio.run(arun_simulation(spec, tmp_path / "run", write_report=False, progress=progress))
    assert progress.killed, "an actor process was found and killed"
    assert len(run.episodes) == 18 and all(e.status == "done" for e in run.episodes)
    assert any("died" in error for error in progress.requeued)
    assert any(e.attempts > 1 for e in run.episodes)
    reference = asyncio.run(arun_simulation(make_spec(server, max_turns=6, trials=3), tmp_path / "ref",
                                            write_report=False))
    assert outcomes(run) == outcomes(reference)  # the replayed episodes are exactly what they would have been


_DRIVER = """
import asyncio, os
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import arun_simulation
from escgraph.simulations.spec import RunSpec
profiles = [SeekerProfile(id=f"k{{i}}", situation="I failed my exam.", first_talk="I failed my exam.")
            for i in range(10)]
spec = RunSpec(run_id="killed", models={{"counselor": "openai:mock"}}, base_url={url!r}, profiles=profiles,
               max_turns=4, concurrency=2, executor="ray", backoff=0.01, step_timeout=30.0)
asyncio.run(arun_simulation(spec, {out!r}, resume={resume}, write_report=False))
"""


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM episodes WHERE status = 'done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_driver_kill_9_then_resume(tmp_path):
    out = tmp_path / "run"
    slow = MockOpenAIServer(delay=0.1).start()
    try:
        script = _DRIVER.format(url=slow.base_url, out=str(out), resume=False)
        proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OPENAI_API_KEY": "test"})
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _finished(out / "run.sqlite") < 2:
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = _finished(out / "run.sqlite")
        assert 2 <= before < 10, "the kill must land mid-run"
        deadline = time.monotonic() + 60  # the private Ray shares the driver's fate
        while time.monotonic() < deadline and actor_pids():
            time.sleep(0.5)
        assert not actor_pids(), "no episode actor outlives its driver"
        resumed = subprocess.run([sys.executable, "-c", _DRIVER.format(url=slow.base_url, out=str(out),
                                                                        resume=True)],
                                 env={**os.environ, "OPENAI_API_KEY": "test"}, timeout=300)
        assert resumed.returncode == 0
    finally:
        slow.stop()
    run = load_run(out)
    assert len(run.episodes) == 10 and all(e.status == "done" for e in run.episodes)
    with sqlite3.connect(out / "run.sqlite") as db:
        dupes = db.execute("SELECT COUNT(*) FROM (SELECT episode_id, idx FROM turns GROUP BY 1, 2 "
                           "HAVING COUNT(*) > 1)").fetchone()[0]
    assert dupes == 0


def test_actor_shape_follows_the_model_kind():
    from escgraph.simulations.ray_executor import ray_shape

    api = RunSpec(models={"counselor": "openai:x"}, profiles=PROFILES, concurrency=64)
    assert ray_shape(api, episodes=128, cluster_cpus=2) == (2, 32, 1.0)
    assert ray_shape(api, episodes=3, cluster_cpus=16) == (3, 22, 1.0)
    local = RunSpec(models={"counselor": "local"}, profiles=PROFILES, concurrency=8)
    assert ray_shape(local, episodes=100, cluster_cpus=8) == (4, 1, 2.0)
    assert ray_shape(local, episodes=100, cluster_cpus=1) == (1, 1, 1.0)


def test_evolution_verifies_on_ray(tmp_path, ray_local):
    """One round of the scripted evolution world with every simulation, verification arms included, on Ray."""
    import evolve_fakes as world

    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.simulations.evolve_adapter import RunnerSimulator
    from escgraph.skills_bank.evolution import EvolutionSettings, VerifyPolicy, run_evolution
    from escgraph.skills_bank.store import SkillBank

    bank = SkillBank.create(tmp_path / "bank", world.bank_skills(), author="test", message="two skills")
    template = RunSpec(run_id="evolve-ray", graph="skilled", profiles=world.profiles(), max_turns=4,
                       models={"counselor": "py:evolve_fakes:world_model"}, concurrency=2, call_retries=0,
                       executor="ray")
    settings = EvolutionSettings(rounds=1, policy=VerifyPolicy(margin=3, tolerance=2, regression_size=6,
                                                               verify_trials=2))
    state = run_evolution(bank, world.profiles(), RunnerSimulator(template),
                          SkillAnalyst(world.analyst_model(), spec="fake"), out_dir=tmp_path / "evo",
                          settings=settings, reply_flagged=lambda text: False)
    proposal = state["rounds"][0]["proposals"][0]
    assert proposal["status"] == "accepted", proposal["reasons"]
    assert (tmp_path / "evo" / "round-1" / "verify" / "control" / "run.sqlite").is_file()
    assert SkillBank.open(tmp_path / "bank").head == "v2"


def test_evolve_command_runs_on_ray(tmp_path, ray_local):
    """The command line path: `escgraph evolve --executor ray` for one short round with the fake model."""
    import json

    from typer.testing import CliRunner

    from escgraph.cli._app import cli_app

    out = tmp_path / "evo"
    result = CliRunner().invoke(cli_app(), ["evolve", "--model", "fake", "--max-turns", "1", "--executor", "ray",
                                            "--bank", str(tmp_path / "bank"), "--n", "2", "--holdout-n", "1",
                                            "--out", str(out)])
    assert result.exit_code == 0, result.output
    state = json.loads((out / "evolution.json").read_text())
    assert state["rounds"][0]["base"]["summary"]["finished"] == 2 and state["holdout"] is not None


def test_an_actor_that_cannot_start_is_one_clear_line(tmp_path, ray_local):
    from typer.testing import CliRunner

    from escgraph.cli._app import cli_app

    result = CliRunner().invoke(cli_app(), ["simulate", "--executor", "ray", "--model", "local:/no/such/model.gguf",
                                            "--n", "1", "--max-turns", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "a Ray episode actor could not start" in result.output and "model.gguf" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1", "not-an-address"])
def test_an_unreachable_ray_address_is_one_clear_line(tmp_path, address):
    from typer.testing import CliRunner

    from escgraph.cli._app import cli_app

    result = CliRunner().invoke(cli_app(), ["simulate", "--executor", "ray", "--ray-address", address, "--model",
                                            "fake", "--n", "1", "--max-turns", "1", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert ("cannot reach Ray" in result.output or "give 'auto'" in result.output) and "Traceback" not in result.output
