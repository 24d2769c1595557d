"""Self-evolution with scripted fake models: find the harmful skill, amend it, verify by re-simulation, commit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from escgraph.agents.skill_analyst import SkillAnalyst
from escgraph.simulations.evolve_adapter import RunnerSimulator
from escgraph.simulations.spec import RunSpec
from escgraph.skills_bank.diff import diff_versions
from escgraph.skills_bank.evolution import EvolutionError, EvolutionSettings, VerifyPolicy, run_evolution
from escgraph.skills_bank.store import SkillBank

sys.path.insert(0, str(Path(__file__).parent))
import evolve_fakes as world  # noqa: E402
from sim_fakes import finished_episodes  # noqa: E402


def make_bank(path: Path) -> SkillBank:
    return SkillBank.create(path, world.bank_skills(), author="test", message="two skills")


def simulator(max_turns: int = 4, delay: float = 0.0) -> RunnerSimulator:
    template = RunSpec(run_id="evolve-test", graph="skilled", profiles=world.profiles(), max_turns=max_turns,
                       models={"counselor": "fake"}, concurrency=2, call_retries=0)
    return RunnerSimulator(template, models=world.world_models(delay))


def settings(**overrides) -> EvolutionSettings:
    return EvolutionSettings(rounds=2, policy=VerifyPolicy(margin=3, tolerance=2, regression_size=6, verify_trials=2), **overrides)


def test_evolve_finds_the_skill_that_hurts_avoidant_seekers_and_amends_it(tmp_path):
    bank = make_bank(tmp_path / "bank")
    logs: list[str] = []
    state = run_evolution(bank, world.profiles(), simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                          out_dir=tmp_path / "evo", settings=settings(), holdout=world.holdout_profiles(),
                          reply_flagged=lambda text: False, log=logs.append)
    first = state["rounds"][0]
    # the trace analysis singles out the skill and the seeker group it hurts
    finding = first["analysis"]["findings"][0]
    assert (finding["skill_id"], finding["trait"], finding["value"]) == ("press-for-details", "personality",
                                                                         "avoidant")
    assert set(finding["episodes"]) == {e for e in finding["episodes"] if e.startswith("avoid-")}
    assert len(finding["episodes"]) == 2
    # the analyst's amendment cites exactly those episodes and passes verification
    proposal = first["proposals"][0]
    assert proposal["status"] == "accepted", proposal["reasons"]
    cited = {ref["episode_id"] for ref in proposal["edit"]["evidence"]}
    assert cited == set(finding["episodes"])
    metrics = proposal["verification"]["metrics"]
    assert metrics["target_delta"] >= 3 and metrics.get("regression_delta", 0) >= -2
    # compared with a concurrent control arm (the base bank re-run on the same keys), never with the base run
    assert proposal["verification"]["control"] == "round-1/verify/control"
    assert (tmp_path / "evo" / "round-1" / "verify" / "control" / "run.sqlite").is_file()
    plan = proposal["plan"]
    cited_keys = {(e.split("#")[0], int(e.split("#")[1])) for e in cited}
    assert cited_keys <= {tuple(k) for k in plan["target"]}
    assert {t for _, t in plan["target"]} == {0, 1, 2}  # the cited trial plus two fresh trials per profile
    assert len(plan["regression"]) == 6 and all(p.startswith("open-") for p, _ in plan["regression"])
    assert metrics["target_p"] < 0.05 and metrics["target_p_adjusted"] is not None
    assert metrics["target_ci"][0] is not None and metrics["regression_lower_bound"] >= -2
    # the accepted set is confirmed on fresh seeds before it is committed
    confirmation = first["confirmation"]
    assert confirmation["accepted"] and confirmation["edits"] == ["r1-p1"]
    assert min(t for _, t in confirmation["plan"]["target"]) >= 3
    # committed as a new version whose diff shows the change, with provenance down to the field
    assert first["committed"] == "v2"
    version = bank.get_version("v2")
    assert version.kind == "evolution"
    edits = version.meta["evolution"]["edits"]
    assert {f["field"] for f in edits[0]["fields"]} >= {"guidance", "applicability.when_not_to_use"}
    assert {e["episode_id"] for e in edits[0]["evidence"]} == cited
    diff = diff_versions(bank, "v1", "v2")
    changed = [c for c in diff.changed if c.id == "press-for-details"]
    assert changed and any(world.GOOD_STEP in json.dumps(f.new) for f in changed[0].fields)
    # round 2 replays with the new bank: nothing left to fix, so the loop stops
    assert state["rounds"][1]["base"]["summary"]["sage_score"] > first["base"]["summary"]["sage_score"]
    assert state["status"] == "converged"
    # held-out seekers never used in evolution: compared start vs final
    held = state["holdout"]
    assert (held["start_version"], held["final_version"]) == ("v1", "v2")
    assert held["final"]["sage_score"] > held["start"]["sage_score"]
    assert (tmp_path / "evo" / "evolution.json").is_file()
    from typer.testing import CliRunner

    from escgraph.cli._app import cli_app

    log = CliRunner().invoke(cli_app(), ["skills", "log", "--bank", str(tmp_path / "bank")])
    assert log.exit_code == 0 and "r1-p1" in log.output and "avoid-1#0#" in log.output
    html = (tmp_path / "evo" / "evolution.html").read_text()
    for expected in ("Skills-bank evolution v1 → v2", "press-for-details", "accepted", "Held-out seekers",
                     "Skill-bank diff v1 → v2", "avoid-1", "<ins>"):
        assert expected in html


def test_a_harmful_proposal_is_rejected_before_testing_and_logged(tmp_path):
    bank = make_bank(tmp_path / "bank")
    analyst = SkillAnalyst(world.analyst_model(world.HARMFUL_STEP), spec="fake")
    state = run_evolution(bank, world.profiles(), simulator(), analyst, out_dir=tmp_path / "evo",
                          settings=settings())
    proposal = state["rounds"][0]["proposals"][0]
    assert proposal["status"] == "rejected" and proposal["stage"] == "validation"
    assert any("minimises" in r and "overreacting" in r for r in proposal["reasons"])
    assert proposal["verification"] is None
    assert not (tmp_path / "evo" / "round-1" / "verify").exists()  # never simulated
    assert bank.head == "v1" and state["rounds"][0]["committed"] is None
    logged = json.loads((tmp_path / "evo" / "evolution.json").read_text())
    assert logged["rounds"][0]["proposals"][0]["reasons"] == proposal["reasons"]
    html = (tmp_path / "evo" / "evolution.html").read_text()
    assert "rejected" in html and "overreacting" in html


def test_an_amendment_that_does_not_help_is_rejected_with_the_numbers(tmp_path):
    bank = make_bank(tmp_path / "bank")
    useless = "Ask one more question about the timeline of events."
    state = run_evolution(bank, world.profiles(), simulator(), SkillAnalyst(world.analyst_model(useless)),
                          out_dir=tmp_path / "evo", settings=settings())
    proposal = state["rounds"][0]["proposals"][0]
    assert proposal["status"] == "rejected" and proposal["stage"] == "verification"
    # the arms are identical, so the paired deltas are all 0: not significant, and below the margin
    assert "not significant" in proposal["reasons"][0] and "+0.0 points" in proposal["reasons"][0]
    assert any("below the margin" in r for r in proposal["reasons"])
    metrics = proposal["verification"]["metrics"]
    assert metrics["target_delta"] == 0 and metrics["target_p"] == 1.0
    assert bank.head == "v1"


def test_resume_refuses_other_settings_and_a_second_start_needs_resume(tmp_path):
    bank = make_bank(tmp_path / "bank")
    analyst = SkillAnalyst(world.analyst_model(world.HARMFUL_STEP), spec="fake")
    run_evolution(bank, world.profiles(), simulator(), analyst, out_dir=tmp_path / "evo", settings=settings())
    with pytest.raises(EvolutionError, match="--resume"):
        run_evolution(bank, world.profiles(), simulator(), analyst, out_dir=tmp_path / "evo", settings=settings())
    with pytest.raises(EvolutionError, match="different settings"):
        run_evolution(bank, world.profiles(), simulator(max_turns=3), analyst, out_dir=tmp_path / "evo",
                      settings=settings(), resume=True)
    with pytest.raises(EvolutionError, match="held-out"):
        run_evolution(bank, world.profiles(), simulator(), analyst, out_dir=tmp_path / "other",
                      holdout=world.profiles()[:1])


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import evolve_fakes as world
from test_evolution import settings
from escgraph.agents.skill_analyst import SkillAnalyst
from escgraph.simulations.evolve_adapter import RunnerSimulator
from escgraph.simulations.spec import RunSpec
from escgraph.skills_bank.evolution import run_evolution
from escgraph.skills_bank.store import SkillBank
template = RunSpec(run_id="evolve-test", graph="skilled", profiles=world.profiles(), max_turns=4,
                   models={{"counselor": "fake"}}, concurrency=1, call_retries=0)
run_evolution(SkillBank.open({bank!r}), world.profiles(), RunnerSimulator(template, models=world.world_models({delay})),
              SkillAnalyst(world.analyst_model(), spec="fake"), out_dir={out!r}, settings=settings(), resume={resume})
"""


def test_kill_9_during_a_round_then_resume_finishes_it_without_redoing_simulations(tmp_path):
    import os
    import signal
    import subprocess
    import time

    tests = str(Path(__file__).parent)
    make_bank(tmp_path / "bank")
    out = tmp_path / "evo"
    env = {**os.environ, "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def script(resume: bool, delay: float) -> list[str]:
        return [sys.executable, "-c", _KILL_SCRIPT.format(tests=tests, bank=str(tmp_path / "bank"), out=str(out),
                                                         resume=resume, delay=delay)]

    proc = subprocess.Popen(script(False, 0.02), env=env)
    verify_db = out / "round-1" / "verify" / "r1-p1" / "run.sqlite"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(finished_episodes(verify_db)) < 1:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    base_before = finished_episodes(out / "round-1" / "base" / "run.sqlite")
    verify_before = finished_episodes(verify_db)
    assert len(base_before) == 5 and 1 <= len(verify_before) < 12, "the kill must land inside verification"

    resumed = subprocess.run(script(True, 0.0), env=env, timeout=300)
    assert resumed.returncode == 0
    assert finished_episodes(out / "round-1" / "base" / "run.sqlite") == base_before  # not re-simulated
    verify_after = finished_episodes(verify_db)
    state = json.loads((out / "evolution.json").read_text())
    plan = state["rounds"][0]["proposals"][0]["plan"]
    assert {k: verify_after[k] for k in verify_before} == verify_before
    assert len(verify_after) == len(plan["target"]) + len(plan["regression"]) == 12
    assert state["rounds"][0]["committed"] == "v2" and state["rounds"][0]["done"]
    versions = SkillBank.open(tmp_path / "bank").versions()
    markers = [v.meta.get("evolution", {}).get("round") for v in versions if v.kind == "evolution"]
    assert markers == [1]  # round 1 committed exactly once


def test_a_round_replays_identically_in_a_scratch_bank_and_bad_replays_are_refused(tmp_path):
    from escgraph.skills_bank.evolution import replay_round

    bank = make_bank(tmp_path / "bank")
    state = run_evolution(bank, world.profiles(), simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                          out_dir=tmp_path / "evo", settings=settings(), reply_flagged=lambda text: False)
    head = bank.head
    assert state["rounds"][0]["committed"] == "v2"
    result = replay_round(tmp_path / "evo", 1, simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                          replay_dir=tmp_path / "replay", reply_flagged=lambda text: False)
    assert result["identical"], result["differences"]
    assert result["replayed"]["proposals"][0][2] == "accepted"  # the amendment is found and accepted again
    assert result["replayed"]["committed_content"] == result["recorded"]["committed_content"]
    assert bank.head == head  # the evolving bank is never touched by a replay
    assert json.loads((tmp_path / "replay" / "replay.json").read_text())["identical"] is True
    with pytest.raises(EvolutionError, match="already holds a replay"):
        replay_round(tmp_path / "evo", 1, simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                     replay_dir=tmp_path / "replay")
    with pytest.raises(EvolutionError, match="no round 9"):
        replay_round(tmp_path / "evo", 9, simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                     replay_dir=tmp_path / "r9")
    with pytest.raises(EvolutionError, match="simulator differs.*max_turns"):
        replay_round(tmp_path / "evo", 1, simulator(max_turns=2), SkillAnalyst(world.analyst_model(), spec="fake"),
                     replay_dir=tmp_path / "r-other")
    with pytest.raises(EvolutionError, match="analyst differs"):
        replay_round(tmp_path / "evo", 1, simulator(), SkillAnalyst(world.analyst_model(), spec="other"),
                     replay_dir=tmp_path / "r-other")
    (tmp_path / "evo" / "profiles.json").unlink()  # an evolution from before profiles were saved with it
    with pytest.raises(EvolutionError, match="profiles="):
        replay_round(tmp_path / "evo", 1, simulator(), SkillAnalyst(world.analyst_model(), spec="fake"),
                     replay_dir=tmp_path / "r-old")
