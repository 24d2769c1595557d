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
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--executor", "threads"])
    assert result.exit_code == 2 and "'threads' is not one of 'local', 'process', 'ray'" in result.output
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--ray-address", "auto"])
    assert result.exit_code == 2 and "--ray-address and --ray-num-gpus need --executor ray" in result.output


def test_servers_per_role_and_several_replicas_are_recorded(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), [
        "simulate", "--model", "fake", "--n", "1", "--max-turns", "1", "--out", str(out),
        "--base-url", "http://a:1/v1,http://b:2/v1", "--base-url", "http://c:3/v1",
        "--judge-base-url", "http://user:secret@j:4/v1"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(out / "run.sqlite") as db:
        config = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    assert config["base_url"] == ["http://a:1/v1", "http://b:2/v1", "http://c:3/v1"]
    assert config["role_base_urls"] == {"judge": "http://j:4/v1"}  # credentials never stored


def test_some_infra_errors_exit_5_after_a_finished_run(tmp_path):
    from escgraph.testing import Faults, MockOpenAIServer

    out = tmp_path / "run"
    with MockOpenAIServer(delay=0, faults=Faults(server_error=0.1)) as server:
        result = CliRunner(env={"OPENAI_API_KEY": "x"}).invoke(cli_app(), [
            "simulate", "--model", "openai:mock", "--base-url", server.base_url, "--n", "6", "--max-turns", "2",
            "--call-retries", "0", "--requeues", "0", "--out", str(out), "--graph", "sweetiechat"])
    summary = json.loads((out / "summary.json").read_text())
    infra = summary["status"].get("infra_error", 0)
    assert 0 < infra < 6, summary["status"]
    assert result.exit_code == 5, result.output
    assert f"{infra} of 6 episodes ended as infra errors" in result.output and "--resume" in result.output


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
