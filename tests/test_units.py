"""Intervention units from a simulated run of the skilled graph (fake models, fake retriever)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import arun_simulation
from escgraph.simulations.spec import RunSpec
from escgraph.simulations.units import intensity_from_score, intervention_units, write_units
from escgraph.skills_bank.schema import InterventionUnit

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import SeededFake  # noqa: E402
from test_skilled_graph import FakeRetriever  # noqa: E402


class SkilledFake(SeededFake):
    """SeededFake that also answers the tracker and the skill counselor."""

    def _choose(self, messages, schema, call=None):  # noqa: ANN001
        name = getattr(schema.source, "__name__", "") if schema is not None else ""
        if name == "SeekerStateReading":
            return {"emotion": "grief", "intensity": 4, "stage": "comforting", "summary": "They lost someone."}
        if name == "SkillDecision":
            return {"skill": "1", "strategy": "Reflection of feelings", "stage": "comforting",
                    "rationale": "their loss needs to be seen", "repeat_reason": "it still fits"}
        return super()._choose(messages, schema, call)


async def test_units_attribute_outcomes_to_the_skill_followed(tmp_path):
    profiles = [SeekerProfile(id=f"g{i}", situation="My grandmother died last month.", emotion_type="grief",
                              first_talk="My grandmother died and I can't focus on anything.") for i in range(2)]
    spec = RunSpec(run_id="units", graph="skilled", models={"counselor": "fake"}, profiles=profiles, max_turns=3,
                   bank_version="v1@test")
    model = SkilledFake()
    run = await arun_simulation(spec, tmp_path / "run", models={"counselor": model, "seeker": model,
                                                                 "judge": model}, skills_bank=FakeRetriever())
    counselor_turns = [t for e in run.episodes for t in e.turns if t.speaker == "counselor"]
    assert counselor_turns and all(t.retrieved == ["reflect-loss", "invite-memories"] for t in counselor_turns)
    assert all(t.extra["skill_id"] == "reflect-loss" for t in counselor_turns)

    units = intervention_units(run)
    assert len(units) == len(counselor_turns)
    first = units[0]
    assert first.action.skill_id == "reflect-loss" and first.action.strategy == "Reflection of feelings"
    assert (first.state.emotion, first.state.intensity, first.state.stage) == ("grief", 4, "comforting")
    assert first.source.kind == "run" and first.source.name == "run" and first.source.turn == 1
    episode = run.episodes[0]
    answer = episode.turns[2]
    assert first.outcome.emotion_change == answer.change and first.outcome.seeker_feedback == answer.text

    out = tmp_path / "units.jsonl"
    assert write_units(units, out) == len(units)
    rows = [InterventionUnit.model_validate(json.loads(line)) for line in out.read_text().splitlines()]
    assert rows == units


def test_intensity_from_score():
    assert [intensity_from_score(s) for s in (0, 19, 20, 40, 79, 80, 100)] == [5, 5, 4, 3, 2, 1, 1]
    assert intensity_from_score(None) == 3


async def test_summary_and_report_show_skill_outcomes(tmp_path):
    import json as _json

    profiles = [SeekerProfile(id="g0", situation="My grandmother died last month.", first_talk="She died.")]
    spec = RunSpec(run_id="units", graph="skilled", models={"counselor": "fake"}, profiles=profiles, max_turns=3,
                   bank_version="v1@test")
    model = SkilledFake()
    run = await arun_simulation(spec, tmp_path / "run", models={"counselor": model, "seeker": model,
                                                                 "judge": model}, skills_bank=FakeRetriever())
    summary = _json.loads((tmp_path / "run" / "summary.json").read_text())
    changes = [t.change for t in run.episodes[0].turns if t.speaker == "seeker" and t.idx > 0]
    row = summary["skills"]["reflect-loss"]
    assert row["uses"] == len(changes) and row["worst_change"] == min(changes)
    assert abs(row["mean_change"] - sum(changes) / len(changes)) < 0.01
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Skills followed" in html and "reflect-loss" in html
