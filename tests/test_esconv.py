"""ESConv in both shapes from fixtures written for the project: odd input handled as documented; converters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.esconv import ESConvError, load_esconv, split_dialogues, to_cases, to_profiles, to_units
from escgraph.profiles import load_profiles

DATA = Path(__file__).parent / "data" / "esconv"


def test_original_shape():
    dialogues, report = load_esconv(DATA / "original.json")
    assert report.shape == "original JSON" and report.dialogues == 2 and report.turns == 11
    first, second = dialogues
    assert [t.role for t in first.turns][:5] == ["seeker", "supporter", "seeker", "seeker", "supporter"]
    assert first.turns[6].feedback == 5 and first.intensity_drop == 2
    assert first.turns[7].strategy == "Providing Suggestions"  # a published spelling, matched
    assert second.final_intensity is None and report.missing_final_intensity == 1  # missing survey field
    assert second.turns[1].strategy == "Others" and report.unknown_strategies == {"Cheerleading": 1}
    assert report.merged_speaker_runs == 2  # seeker twice, supporter twice: kept as separate turns


def test_reformatted_shape():
    dialogues, report = load_esconv(DATA / "reformatted.jsonl")
    assert report.shape == "JSON lines" and report.dialogues == 2
    assert dialogues[0].turns[3].strategy == "Affirmation and Reassurance"  # case-insensitive
    assert dialogues[1].initial_intensity is None and report.missing_survey == 1


def test_cases_follow_the_design_rule():
    dialogues, _ = load_esconv(DATA / "original.json")
    cases = to_cases(dialogues, source="orig")
    # supporter turns right after a seeker turn: 1, 4, 7 in dialogue 0 (turn 5 follows a supporter turn), 1 in 1
    assert [c["id"] for c in cases] == ["orig:0:1", "orig:0:4", "orig:0:7", "orig:1:1"]
    case = cases[1]
    assert case["gold"] == "Reflection of feelings" and len(case["context"]) == 4
    assert case["context"][1] == {"role": "supporter", "text": "Hello, what is going on at work?",
                                  "strategy": "Question"}
    assert set(case) == {"id", "situation", "emotion_type", "problem_type", "context", "gold"}


def test_profiles_and_units():
    dialogues, _ = load_esconv(DATA / "original.json")
    profiles = to_profiles(dialogues)
    assert profiles[0]["initial_emotion"] == 20 and profiles[0]["problem_type"] == "job crisis"
    units = to_units(dialogues)
    by_id = {u["id"]: u for u in units}
    assert by_id["esconv:0:5"]["outcome"] == {"emotion_change": 2, "seeker_feedback": "Thanks, it helps to hear that."}
    assert by_id["esconv:1:1"]["outcome"]["emotion_change"] == -1


@pytest.mark.parametrize("content, problem", [
    ('[{"dialog": []}]', "dialogue 0: dialog: missing or empty"),
    ('[{"dialog": [{"speaker": "bot", "content": "x"}]}]', "dialogue 0: dialog[0].speaker: unknown speaker"),
    ('{"dialog": [{"speaker": "usr", "text": "hi"}]}\n{"dialog": [{"speaker": "sys", "text": ""}]}',
     "dialogue 1: dialog[0].text: missing or empty"),
    ("[not json", "not valid JSON"),
])
def test_errors_name_the_dialogue_and_field(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ESConvError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        load_esconv(path)


def test_split_is_the_usual_deterministic_70_15_15():
    dialogues = [object() for _ in range(100)]
    a = split_dialogues(dialogues)
    b = split_dialogues(dialogues)
    assert [len(p) for p in a] == [70, 15, 15] and a == b


def test_cli_converters(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["esconv", "cases", str(DATA / "original.json"), "--out", str(tmp_path / "c.jsonl")])
    assert result.exit_code == 0 and "wrote 4 cases" in result.output
    assert json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])["id"] == "original:0:1"
    result = runner.invoke(cli_app(), ["esconv", "profiles", str(DATA / "reformatted.jsonl"),
                                       "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0
    assert [p.id for p in load_profiles(tmp_path / "p.yaml")] == ["reformatted-0", "reformatted-1"]
    assert yaml.safe_load((tmp_path / "p.yaml").read_text())[0]["first_talk"] == "Hello."
    result = runner.invoke(cli_app(), ["esconv", "ius", str(DATA / "original.json"), "--out", str(tmp_path / "u.jsonl")])
    assert result.exit_code == 0 and "wrote 5 intervention units" in result.output
    bad = runner.invoke(cli_app(), ["esconv", "cases", str(tmp_path / "nope.json"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no such file" in bad.output
