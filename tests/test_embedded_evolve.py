"""Self-evolution on the real embedded model (offline): the analyst's structured proposal, and one short round."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.agents.skill_analyst import SkillAnalyst
from escgraph.cli._app import cli_app
from escgraph.llm import load_chat_model
from escgraph.skills_bank.evolution import validate_edit
from escgraph.skills_bank.evolution.traces import FallingTurn, Finding

sys.path.insert(0, str(Path(__file__).parent))
import evolve_fakes as world  # noqa: E402

pytestmark = pytest.mark.embedded


def test_embedded_analyst_returns_a_valid_structured_proposal():
    units = [FallingTurn(episode_id=f"avoid-{i}#0#1", turn=1, skill_id="press-for-details", strategy="Question",
                         seeker_before="I don't really want to get into it.", reply=world.PRESSING,
                         seeker_after="Forget it. I don't want to talk.", change=-9,
                         judge_reason="too pushy; I want to hide", traits={"personality": "avoidant"})
             for i in (1, 2)]
    finding = Finding("F1", "skill_in_group", "press-for-details", "personality", "avoidant", units, -9.0, 6.0, 4)
    skills = {s.id: s for s in world.bank_skills()}
    analyst = SkillAnalyst(load_chat_model("local", temperature=0.0, seed=0, max_tokens=400), spec="local")
    edits, tokens = analyst.propose(finding, skills)
    assert tokens > 0
    for edit in edits:  # the model may also answer "none"; whatever it proposes is well-formed and traceable
        assert edit.skill_id == "press-for-details" and {r.episode_id for r in edit.evidence} == {
            "avoid-1#0#1", "avoid-2#0#1"}
        assert isinstance(validate_edit(edit, skills, {(u.episode_id, u.turn) for u in units}), list)


def test_one_short_evolution_round_end_to_end(tmp_path):
    out = tmp_path / "evo"
    result = CliRunner().invoke(cli_app(), [
        "evolve", "--bank", str(tmp_path / "bank"), "--n", "2", "--max-turns", "2", "--holdout-n", "1",
        "--low-gain", "100", "--min-units", "1", "--max-findings", "1", "--regression-size", "1",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    state = json.loads((out / "evolution.json").read_text())
    assert state["status"] in ("done", "converged") and state["rounds"][0]["done"]
    assert state["holdout"]["start"]["finished"] == 1
    assert (out / "evolution.html").is_file()
