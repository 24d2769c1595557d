"""The typed evolution state reads and writes evolution.json exactly as the dict-based loop wrote it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from escgraph.skills_bank.evolution.state import EvolutionError, EvolutionState, RoundState, read_state

FIXTURES = Path(__file__).parent / "data" / "evolution_state"  # written by the loop before the typed state


@pytest.mark.parametrize("name", ["accepted_and_committed", "judge_unhealthy", "budget_stopped",
                                  "resumed_into_budget"])
def test_an_evolution_json_from_the_untyped_loop_dumps_back_byte_for_byte(tmp_path, name):
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    (tmp_path / "evolution.json").write_text(text, encoding="utf-8")
    state = read_state(tmp_path)
    assert state.to_json() == text
    assert state.model_dump() == json.loads(text)


def test_the_fixtures_cover_every_part_of_the_state():
    committed = read_state_of("accepted_and_committed")
    first = committed.rounds[0]
    assert committed.skill_diff_versions() == ("v1", "v2") and first.committed == "v2"
    assert first.proposals[0].status == "accepted" and first.proposals[0].key_plan().target
    assert first.confirmation.accepted and first.confirmation.edits == [first.proposals[0].id]
    assert committed.holdout.paired["n"] > 0 and committed.finished and committed.stopped_before is None
    judged = read_state_of("judge_unhealthy")
    rejected = judged.rounds[0].proposals[0]
    assert (rejected.status, rejected.stage, rejected.plan) == ("rejected", "judge health", None)
    assert "plan" not in rejected.model_dump()  # never planned: the key is absent, not null
    assert judged.rounds[0].judge_health.healthy is False
    stopped = read_state_of("budget_stopped")
    assert stopped.status == "budget" and stopped.stopped_before and not stopped.rounds[0].done


def read_state_of(name: str) -> EvolutionState:
    return EvolutionState.model_validate_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def test_keys_appear_when_a_step_sets_them_in_the_order_the_loop_wrote_them():
    rs = RoundState(round=1, start_version="v1", base=None, analysis=None, proposals=None, confirmation=None,
                    committed=None, done=False)
    assert "judge_health" not in rs.model_dump()
    rs.committed = "v2"
    assert list(rs.model_dump()) == ["round", "start_version", "base", "analysis", "proposals", "confirmation",
                                     "committed", "done"]
    state = read_state_of("judge_unhealthy")
    proposal = state.rounds[0].proposals[0]
    proposal.plan = {"target": [["a", 1]], "regression": []}
    assert list(proposal.model_dump()) == ["edit", "status", "stage", "reasons", "verification", "plan"]


def test_unknown_keys_are_kept_in_place_and_a_foreign_file_is_refused(tmp_path):
    data = json.loads((FIXTURES / "budget_stopped.json").read_text(encoding="utf-8"))
    # format 1 rounds had "combined" where "confirmation" is now
    data["rounds"][0] = {("combined" if k == "confirmation" else k): v for k, v in data["rounds"][0].items()}
    dumped = EvolutionState.model_validate(data).model_dump()
    assert list(dumped["rounds"][0]) == list(data["rounds"][0]) and dumped == data
    (tmp_path / "evolution.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(EvolutionError, match="not an escgraph evolution"):
        read_state(tmp_path)
