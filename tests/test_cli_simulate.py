"""`escgraph simulate` and `escgraph report` in-process with the fake model: outputs, bad input, resume."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from escgraph.cli._app import cli_app

runner = CliRunner()

USER_PROFILES = """\
# three profiles in the documented schema; every optional field left out somewhere
- id: tired-nurse
  situation: I work night shifts at a hospital and have not slept properly in weeks.
- id: moving-away
  situation: My best friend is moving abroad next month and I feel left behind.
  personality: avoidant
- id: exam-fail
  situation: I failed my driving test for the third time.
  hidden_intent: wants to hear it is not their fault
  first_talk: I failed my driving test again.
"""


def simulate(*args: str):
    return runner.invoke(cli_app(), ["simulate", "--model", "fake", *args])


def test_user_profiles_file_runs_and_writes_all_outputs(tmp_path):
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(USER_PROFILES)
    out = tmp_path / "run"
    result = simulate("--profiles", str(profiles), "--max-turns", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sage_score"] is not None and "success" in summary and "failure" in summary
    assert set(summary["tokens"]) >= {"counselor", "seeker", "judge"}
    html = (out / "report.html").read_text()
    assert all(pid in html for pid in ("tired-nurse", "moving-away", "exam-fail"))
    assert "SAGE score" in result.output and str(out / "report.html") in result.output


def test_builtin_profiles_first_n(tmp_path):
    out = tmp_path / "run"
    result = simulate("--n", "2", "--trials", "2", "--max-turns", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 4 and summary["status"]["done"] == 4


def test_malformed_profiles_file_names_entry_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: ok\n  situation: fine\n- id: broken\n  initial_emotion: lots\n  situation: x\n")
    result = simulate("--profiles", str(bad), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "broken" in result.output and "initial_emotion" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_unwritable_out_fails_cleanly_before_models(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = simulate("--n", "1", "--out", str(blocker / "run"))
    assert result.exit_code == 2 and "cannot write to run folder" in result.output
    assert "Traceback" not in result.output


def test_existing_run_needs_resume_and_resume_skips_finished(tmp_path):
    out = tmp_path / "run"
    assert simulate("--n", "2", "--max-turns", "2", "--out", str(out)).exit_code == 0
    again = simulate("--n", "2", "--max-turns", "2", "--out", str(out))
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = simulate("--n", "2", "--max-turns", "2", "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    changed = simulate("--n", "2", "--max-turns", "3", "--out", str(out), "--resume")
    assert changed.exit_code == 2 and "different config" in changed.output


def test_report_and_compare(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert simulate("--n", "2", "--max-turns", "2", "--out", str(a)).exit_code == 0
    assert simulate("--n", "2", "--max-turns", "2", "--seed", "7", "--out", str(b)).exit_code == 0
    (a / "report.html").unlink()
    result = runner.invoke(cli_app(), ["report", str(a)])
    assert result.exit_code == 0, result.output
    assert (a / "report.html").exists()
    compared = runner.invoke(cli_app(), ["report", str(a), "--compare", str(b), "--out", str(tmp_path / "c.html")])
    assert compared.exit_code == 0, compared.output
    assert (tmp_path / "c.html").exists()
    missing = runner.invoke(cli_app(), ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "not a run folder" in missing.output


def test_bad_options_are_one_line_errors(tmp_path):
    result = simulate("--executor", "threads", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "--executor" in result.output
    result = simulate("--graph", "nope", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "unknown graph" in result.output


def test_process_executor_matches_local(tmp_path):
    local, proc = tmp_path / "local", tmp_path / "proc"
    common = ("--n", "3", "--max-turns", "2", "--run-id", "same", "--concurrency", "4")
    assert simulate(*common, "--out", str(local)).exit_code == 0
    result = simulate(*common, "--executor", "process", "--out", str(proc))
    assert result.exit_code == 0, result.output
    a = json.loads((local / "summary.json").read_text())
    b = json.loads((proc / "summary.json").read_text())
    assert a["config_hash"] == b["config_hash"]  # the executor does not change what a run means
    assert (a["sage_score"], a["success"], a["failure"]) == (b["sage_score"], b["success"], b["failure"])
    from escgraph.simulations.store import load_run

    assert set(load_run(proc).meta["applied_settings"]) == {"counselor", "seeker", "judge"}
