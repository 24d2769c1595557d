"""Skill discovery: clusters of intervention units that helped become proposed skills, reviewed then imported."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.llm import FakeChatModel
from escgraph.skills_bank.discovery import cluster_units
from escgraph.skills_bank.schema import InterventionUnit
from escgraph.skills_bank.store import SkillBank

DATA = Path(__file__).parent / "data" / "esconv"


def unit(i: int, strategy: str, reply: str, change: float, stage: str = "comforting") -> InterventionUnit:
    return InterventionUnit.model_validate({
        "id": f"u{i}", "state": {"emotion": "sadness", "intensity": 4, "stage": stage, "situation": "lost a job"},
        "action": {"strategy": strategy, "reply": reply}, "outcome": {"emotion_change": change},
        "source": {"kind": "dataset", "name": "t", "dialogue": str(i), "turn": 1}})


UNITS = [unit(i, "Reflection of feelings", f"That sounds so painful, losing the job you loved ({i}).", 2)
         for i in range(6)] + [unit(10 + i, "Providing Suggestions", f"You should just apply everywhere ({i}).", -2,
                                    "action") for i in range(6)]

DRAFT = {"strategy": "Reflection of feelings", "stage": "comforting", "name": "Name the loss of a loved job",
         "summary": "Reflect how much the lost job meant before anything else.",
         "steps": ["Name the loss in the seeker's own words.", "Say why the feeling makes sense."],
         "when_to_use": "The seeker has just lost a job they cared about.",
         "when_not_to_use": "The seeker asks for practical next steps.",
         "risk": "Sounding scripted; use their own words.", "example_seeker": "I lost the job I loved.",
         "example_supporter": "Losing work you loved hurts in a very particular way."}


def test_clusters_separate_state_and_action_and_rank_helpful_first():
    clusters = cluster_units(UNITS, clusters=2)
    assert [c.strategy for c in clusters] == ["Reflection of feelings", "Providing Suggestions"]
    assert clusters[0].mean_change == 2 and len(clusters[0].units) == 6


def test_discover_proposes_then_import_commits_a_new_version(tmp_path, monkeypatch):
    units = tmp_path / "units.jsonl"
    units.write_text("".join(u.model_dump_json() + "\n" for u in UNITS))
    bank = tmp_path / "bank"
    SkillBank.default(bank)
    from escgraph.agents import skill_analyst

    monkeypatch.setattr(skill_analyst, "SkillDistiller", _scripted(skill_analyst.SkillDistiller))
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["skills", "discover", str(units), "--out", str(tmp_path / "p.yaml"),
                                       "--clusters", "2", "--bank", str(bank), "--model", "fake"])
    assert result.exit_code == 0, result.output
    assert "proposed name-the-loss-of-a-loved-job" in result.output and "did not help" in result.output
    assert SkillBank.open(bank).head == "v1"  # nothing merged silently
    imported = runner.invoke(cli_app(), ["skills", "import", str(tmp_path / "p.yaml"), "--merge", "--bank",
                                         str(bank), "-m", "discovered"])
    assert imported.exit_code == 0, imported.output
    skill = SkillBank.open(bank).skill("name-the-loss-of-a-loved-job")
    assert skill.provenance.units[:2] == ["u0", "u1"] and skill.applicability.emotions == ["sadness"]


def _scripted(cls):
    class Scripted(cls):
        def __init__(self, model, **kwargs):  # noqa: ANN001
            super().__init__(FakeChatModel(responses=[DRAFT]), **kwargs)

    return Scripted
