"""The quick self-play job: seekers from profiles talk to a graph; the report is written whole."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.llm import FakeChatModel
from escgraph.simulations.selfplay import demo_profiles, run_selfplay
from escgraph.simulations.selfplay_report import render_selfplay_html


def test_run_selfplay_records_every_turn_and_tokens():
    profiles = demo_profiles()[:2]
    result = run_selfplay("sweetiechat", profiles, counselor_model=FakeChatModel(),
                          seeker_model=FakeChatModel(responses=["I guess so.", "Maybe you're right."]), turns=3)
    assert [len(e.turns) for e in result.episodes] == [3, 3]
    first = result.episodes[0].turns[0]
    assert first.seeker == profiles[0].first_talk and first.reply and first.strategy
    assert result.tokens["counselor"]["output_tokens"] > 0 and result.tokens["seeker"]["output_tokens"] > 0
    html = render_selfplay_html(result)
    assert profiles[0].first_talk.replace("'", "&#x27;") in html and "Strategies chosen" in html


def test_selfplay_stops_an_episode_at_the_safety_gate():
    [profile] = demo_profiles()[:1]
    seeker = FakeChatModel(responses=["Honestly I have a plan to kill myself tonight."])
    result = run_selfplay("sweetiechat", [profile], counselor_model=FakeChatModel(), seeker_model=seeker, turns=4)
    turns = result.episodes[0].turns
    assert len(turns) == 2 and turns[-1].crisis and turns[-1].safety_category == "suicide"


def test_selfplay_command_writes_report_and_json(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(cli_app(), ["selfplay", "--model", "fake", "--turns", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "result.json").read_text())
    assert data["graph"] == "sweetiechat" and len(data["episodes"]) == 3
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_selfplay_command_rejects_a_bad_profile_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("- id: x\n")
    result = CliRunner().invoke(cli_app(), ["selfplay", "--model", "fake", "--profiles", str(bad)])
    assert result.exit_code == 2 and "field 'situation'" in result.stderr
