"""`escgraph evolve` in-process with the fake model spec: a whole (short) evolution, resume, and bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.skills_bank.store import SkillBank

runner = CliRunner()


def evolve(*args: str):
    return runner.invoke(cli_app(), ["evolve", "--model", "fake", "--max-turns", "2", *args])


def test_evolve_runs_end_to_end_and_writes_log_report_and_holdout(tmp_path):
    bank, out = tmp_path / "bank", tmp_path / "evo"
    result = evolve("--bank", str(bank), "--n", "3", "--holdout-n", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    state = json.loads((out / "evolution.json").read_text())
    assert state["rounds"][0]["base"]["summary"]["finished"] == 3
    assert state["holdout"] is not None and len(state["holdout"]["profiles"]) == 2
    used = {p.split(":")[0] for p in state["config"]["profiles"]}
    assert not used & set(state["holdout"]["profiles"])  # held-out seekers never used in evolution
    assert (out / "evolution.html").is_file() and (out / "round-1" / "base" / "report.html").is_file()
    assert "evolution.html" in result.output
    # the same command again needs --resume; with it, nothing is re-simulated and the outcome is the same
    again = evolve("--bank", str(bank), "--n", "3", "--holdout-n", "2", "--out", str(out))
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = evolve("--bank", str(bank), "--n", "3", "--holdout-n", "2", "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "evolution.json").read_text())["rounds"] == state["rounds"]
    changed = evolve("--bank", str(bank), "--n", "2", "--holdout-n", "2", "--out", str(out), "--resume")
    assert changed.exit_code == 2 and "different settings" in changed.output


def test_budget_stops_before_the_first_round_but_still_compares_holdout(tmp_path):
    result = evolve("--bank", str(tmp_path / "bank"), "--n", "2", "--holdout-n", "1", "--rounds", "3",
                    "--budget-tokens", "1", "--out", str(tmp_path / "evo"))
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "evo" / "evolution.json").read_text())
    assert state["status"] == "budget" and len(state["rounds"]) == 1  # the base run spent the budget
    assert state["rounds"][0]["proposals"] in (None, [])
    assert SkillBank.open(tmp_path / "bank").head == "v1"


def test_bad_input_gets_one_clear_line(tmp_path):
    no_bank_graph = evolve("--graph", "sweetiechat", "--bank", str(tmp_path / "b"), "--out", str(tmp_path / "e"))
    assert no_bank_graph.exit_code == 2 and "does not use the skills bank" in no_bank_graph.output
    missing = evolve("--profiles", str(tmp_path / "nope.yaml"), "--bank", str(tmp_path / "b"),
                     "--out", str(tmp_path / "e"))
    assert missing.exit_code == 2 and "nope.yaml" in missing.output and "Traceback" not in missing.output
    overlap = tmp_path / "p.yaml"
    overlap.write_text("- id: same\n  situation: I lost my job last week.\n")
    clash = evolve("--profiles", str(overlap), "--holdout-profiles", str(overlap), "--holdout-n", "1",
                   "--bank", str(tmp_path / "b"), "--out", str(tmp_path / "e"))
    assert clash.exit_code == 2 and "held-out" in clash.output
    unknown = evolve("--graph", "nope", "--out", str(tmp_path / "e"))
    assert unknown.exit_code == 2 and "unknown graph" in unknown.output


def test_evolve_replay_reproduces_a_round_and_refuses_bad_input(tmp_path):
    bank, out = tmp_path / "bank", tmp_path / "evo"
    assert evolve("--bank", str(bank), "--n", "2", "--holdout-n", "0", "--out", str(out)).exit_code == 0
    replay = runner.invoke(cli_app(), ["evolve-replay", str(out), "--round", "1"])
    assert replay.exit_code == 0, replay.output
    assert "replayed identically" in replay.output
    assert json.loads((out / "replay-round-1" / "replay.json").read_text())["identical"] is True
    again = runner.invoke(cli_app(), ["evolve-replay", str(out), "--round", "1"])
    assert again.exit_code == 2 and "already holds a replay" in again.output
    missing_round = runner.invoke(cli_app(), ["evolve-replay", str(out), "--round", "4", "--out", str(tmp_path / "r")])
    assert missing_round.exit_code == 2 and "no round 4" in missing_round.output
    nothing = runner.invoke(cli_app(), ["evolve-replay", str(tmp_path / "nope"), "--round", "1"])
    assert nothing.exit_code == 2 and "holds no evolution" in nothing.output and "Traceback" not in nothing.output
