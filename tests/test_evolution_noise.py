"""The evolution loop's decisions in a noisy world: judge noise drawn from a seeded generator that does not follow
the episode seeds (as with a sampling model), so re-running an episode key gives a fresh draw.

The scripted-world studies run the real loop (trace analysis, the skill analyst on a fake model, edit validation,
control arm, Holm, confirmation, commit) over a simulator without graphs, so 40+ evolutions take seconds; the
last test runs the issue's own scenario through the real runner and the ``skilled`` graph with a noisy judge.
The rates are printed (``pytest -s``) and recorded in the README.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from escgraph.testing.noisy_world import HELPFUL_STEP, NULL_STEP, WorldSettings, acceptance_study

sys.path.insert(0, str(Path(__file__).parent))

EVOLUTIONS = 40


def test_a_null_edit_is_accepted_in_at_most_5_percent_of_evolutions(tmp_path):
    study = acceptance_study(NULL_STEP, EVOLUTIONS, tmp_path)
    print(f"\nnull edit (no effect on behaviour), judge noise ±4 per turn: {study.describe()}; {study.stages}")
    assert study.rate <= 0.05, study.describe()
    # the edit was really tested each time (not stopped before verification)
    assert sum(n for where, n in study.stages.items() if "validation" not in where) == EVOLUTIONS


def test_a_helpful_edit_of_10_points_is_accepted_in_at_least_80_percent(tmp_path):
    study = acceptance_study(HELPFUL_STEP, EVOLUTIONS, tmp_path, world=WorldSettings(effect=10))
    print(f"\nhelpful edit (+10 points on its target group), judge noise ±4 per turn: {study.describe()}; "
          f"{study.stages}")
    assert study.rate >= 0.80, study.describe()


def test_an_edit_that_helps_its_target_but_costs_everyone_else_10_points_is_rejected(tmp_path):
    study = acceptance_study(HELPFUL_STEP, 20, tmp_path, world=WorldSettings(effect=10, side_effect=-10))
    print(f"\nhelps avoidant seekers +10, costs open seekers 10: {study.describe()}; {study.stages}")
    assert study.rate <= 0.05, study.describe()


def test_the_noise_is_independent_of_the_episode_seed_so_reruns_of_a_key_differ(tmp_path):
    from escgraph.skills_bank.store import SkillBank
    from escgraph.testing.noisy_world import ScriptedSimulator, world_profiles, world_skills

    bank = SkillBank.create(tmp_path / "bank", world_skills(), author="t", message="m")
    sim = ScriptedSimulator(WorldSettings(noise_seed=3))
    profiles = world_profiles(4, 1)
    first = sim.simulate(tmp_path / "a", profiles, bank.path, bank.head)
    again = sim.simulate(tmp_path / "b", profiles, bank.path, bank.head)
    assert first.episodes.keys() == again.episodes.keys()  # the same keys ...
    assert [e.final_emotion for e in first.episodes.values()] != [e.final_emotion for e in again.episodes.values()]
    # ... and a filled folder is read back, not replayed (resume semantics)
    assert sim.simulate(tmp_path / "a", profiles, bank.path, bank.head).episodes == first.episodes


# -- the issue's scenario on the real runner and graph ------------------------------------------------------------
def _noisy_models(noise_seed: int):
    """The scripted world of ``evolve_fakes`` with ±4 uniform noise on the judge's change, from a generator seeded
    once per evolution (independent of the episode seeds)."""
    import evolve_fakes as world

    from escgraph.llm import FakeChatModel

    rng = random.Random(noise_seed)
    scripted = world.world_responder()

    def respond(messages, schema):  # noqa: ANN001
        out = scripted(messages, schema)
        if getattr(getattr(schema, "source", schema), "__name__", "") == "JudgeAssessment":
            out = {**out, "change": max(-10, min(10, round(out["change"] + rng.uniform(-4, 4))))}
        return out

    model = FakeChatModel(responder=respond)
    return {"counselor": model, "seeker": model, "judge": model}


@pytest.mark.parametrize("noise_seed", [1, 2])
def test_the_issue_scenario_a_massively_helpful_amendment_is_accepted_and_a_useless_one_is_not(tmp_path, noise_seed):
    import evolve_fakes as world

    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.profiles import SeekerProfile
    from escgraph.simulations.evolve_adapter import RunnerSimulator
    from escgraph.simulations.spec import RunSpec
    from escgraph.skills_bank.evolution import EvolutionSettings, run_evolution
    from escgraph.skills_bank.store import SkillBank

    profiles = [SeekerProfile(id=f"{kind}-{i}", situation=f"I am struggling with {problem} and it keeps me up.",
                              problem_type=problem, personality=kind, emotion_type="sadness",
                              hidden_intent="wants to be heard", initial_emotion=40)
                for i, (kind, problem) in enumerate([("avoidant", "job loss"), ("avoidant", "breakup"),
                                                     ("avoidant", "grief")] + [("open", "exams")] * 9)]
    outcomes = {}
    for label, step in (("helpful", world.GOOD_STEP), ("useless", "Ask one more question about the timeline.")):
        bank = SkillBank.create(tmp_path / label / "bank", world.bank_skills(), author="t", message="m")
        template = RunSpec(run_id="noisy", graph="skilled", profiles=profiles, max_turns=4, seed=noise_seed,
                           models={"counselor": "fake"}, concurrency=4, call_retries=0)
        state = run_evolution(bank, profiles, RunnerSimulator(template, models=_noisy_models(noise_seed)),
                              SkillAnalyst(world.analyst_model(step), spec="fake"), out_dir=tmp_path / label / "evo",
                              settings=EvolutionSettings(rounds=1))
        outcomes[label] = state["rounds"][0]
    helpful = outcomes["helpful"]["proposals"][0]
    assert helpful["status"] == "accepted", helpful["reasons"]
    assert outcomes["helpful"]["committed"] == "v2"
    useless = outcomes["useless"]["proposals"][0]
    assert useless["status"] == "rejected" and outcomes["useless"]["committed"] is None
    # the useless edit's target group did not "rise from selection": the control arm re-ran the same keys
    metrics = useless["verification"]["metrics"]
    assert abs(metrics["target_delta"]) < 5 and metrics["target_p"] > 0.05


class _UnhealthyJudge:
    """The scripted world, with every simulation's summary reporting an unhealthy judge."""

    def __init__(self) -> None:
        from escgraph.testing.noisy_world import ScriptedSimulator

        self.inner = ScriptedSimulator(WorldSettings(effect=15, noise_seed=4))

    def config(self):  # noqa: ANN201
        return self.inner.config()

    def simulate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        result = self.inner.simulate(*args, **kwargs)
        result.summary["judge_health"] = {"healthy": False, "warnings": ["92% of judged turns are at ±10 (> 50%)"]}
        return result


@pytest.mark.parametrize("force", [False, True])
def test_an_unhealthy_judge_stops_verification_unless_forced_and_the_log_says_so(tmp_path, force):
    from escgraph.skills_bank.evolution import EvolutionSettings, run_evolution
    from escgraph.skills_bank.store import SkillBank
    from escgraph.testing.noisy_world import scripted_analyst, world_profiles, world_skills

    bank = SkillBank.create(tmp_path / "bank", world_skills(), author="t", message="m")
    logs: list[str] = []
    state = run_evolution(bank, world_profiles(), _UnhealthyJudge(), scripted_analyst(HELPFUL_STEP),
                          out_dir=tmp_path / "evo", settings=EvolutionSettings(rounds=1, force_judge=force),
                          log=logs.append)
    rs = state["rounds"][0]
    assert rs["judge_health"] == {"healthy": False, "warnings": ["92% of judged turns are at ±10 (> 50%)"],
                                  "forced": force}
    proposal = rs["proposals"][0]
    html = (tmp_path / "evo" / "evolution.html").read_text()
    assert "judge of this round's base run is unhealthy" in html and "92% of judged turns" in html
    if force:
        assert proposal["status"] == "accepted" and rs["committed"] == "v2"
        assert any("--force-judge" in line and "unhealthy" in line for line in logs)
        assert "verified anyway (--force-judge)" in html
    else:
        assert proposal["status"] == "rejected" and proposal["stage"] == "judge health"
        assert "--force-judge" in proposal["reasons"][0] and "92% of judged turns" in proposal["reasons"][0]
        assert not (tmp_path / "evo" / "round-1" / "verify").exists()  # nothing was simulated to verify
        assert rs["committed"] is None and bank.head == "v1"
