"""`escgraph simulate` in scripts and logs: plain progress lines off a terminal, --json, retry options."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from typer.testing import CliRunner

from escgraph.cli._app import cli_app


def test_off_a_terminal_progress_is_plain_lines_and_json_goes_to_stdout(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--n", "3", "--max-turns", "2", "--json",
                                            "--call-retries", "0", "--requeues", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("episodes ")]
    assert lines[0].startswith("episodes 0/3") and lines[-1].startswith("episodes 3/3")
    assert sum(line.startswith("episodes 3/3") for line in lines) == 1  # the last line once
    assert "tokens" in lines[-1] and "ETA" in lines[-1] and "elapsed" in lines[-1]
    summary = json.loads(result.stdout)  # stdout holds nothing but the summary
    assert summary == json.loads((out / "summary.json").read_text()) and summary["episodes"] == 3
    with sqlite3.connect(out / "run.sqlite") as db:
        execution = json.loads(db.execute("SELECT value FROM meta WHERE key = 'execution'").fetchone()[0])
    assert (execution["call_retries"], execution["requeues"]) == (0, 1)


def test_executor_is_a_choice():
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--executor", "ray"])
    assert result.exit_code == 2 and "'ray' is not one of 'local', 'process'" in result.output


def test_a_run_under_nohup_leaves_progress_lines_in_its_log(tmp_path):
    log = tmp_path / "run.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "w") as stderr:  # stderr is a file, as with `nohup escgraph simulate ... 2> run.log`
        done = subprocess.run([sys.executable, "-m", "escgraph", "simulate", "--model", "fake", "--n", "2",
                               "--max-turns", "2", "--out", str(tmp_path / "run")], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=stderr, env=env, timeout=300)
    assert done.returncode == 0, log.read_text()
    text = log.read_text()
    assert "episodes 0/2" in text and "episodes 2/2" in text and "report:" in text
