"""Runs of chosen (profile, trial) keys: how the evolution's control and candidate arms replay exact episodes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import arun_simulation
from escgraph.simulations.spec import RunSpec, episode_seed

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import fake_models  # noqa: E402


def spec(**overrides) -> RunSpec:
    profiles = [SeekerProfile(id=f"p{i}", situation=f"Situation {i}: things are hard.") for i in range(3)]
    return RunSpec(run_id="keys", profiles=profiles, max_turns=2, models={"counselor": "fake"}, call_retries=0,
                   **overrides)


async def test_trial_keys_play_exactly_those_episodes_with_the_seeds_of_a_full_run(tmp_path):
    full = await arun_simulation(spec(trials=3), tmp_path / "full", models=fake_models(), write_report=False)
    chosen = await arun_simulation(spec(trial_keys=[("p2", 1), ("p0", 0), ("p1", 5)]), tmp_path / "chosen",
                                   models=fake_models(), write_report=False)
    ids = [e.episode_id for e in chosen.episodes]
    assert sorted(ids) == sorted([f"p2#1#{episode_seed('keys', 0, 'p2', 1)}", f"p0#0#{episode_seed('keys', 0, 'p0', 0)}",
                                  f"p1#5#{episode_seed('keys', 0, 'p1', 5)}"])  # trial 5: beyond `trials`, fresh
    by_id = {e.episode_id: e for e in full.episodes}
    for e in chosen.episodes:  # the same key is the same episode as in a run of every profile × trial
        if e.episode_id in by_id:
            assert (e.outcome, e.final_emotion) == (by_id[e.episode_id].outcome, by_id[e.episode_id].final_emotion)


def test_a_spec_without_trial_keys_keeps_its_config_hash_and_bad_keys_are_refused():
    assert "trial_keys" not in spec().result_config()  # runs from before the field resume under the same hash
    assert spec(trial_keys=[("p0", 1)]).config_hash() != spec().config_hash()
    for keys, message in (([("nobody", 0)], "not in the run: nobody"), ([("p0", -1)], "0 or more"),
                          ([("p0", 1), ("p0", 1)], "may appear once"), ([], "at least one")):
        with pytest.raises(ValueError, match=message):
            spec(trial_keys=keys)
