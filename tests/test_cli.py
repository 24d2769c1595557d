"""The command line, driven in-process with the fake model (fast) — bad input must never give a traceback."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from escgraph import __version__
from escgraph.cli._app import cli_app
from escgraph.types import STRATEGIES

runner = CliRunner()


def run(args, input=None):
    return runner.invoke(cli_app(), args, input=input)


def test_version():
    result = run(["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"escgraph {__version__}"


def test_graphs_lists_sweetiechat():
    result = run(["graphs", "--json"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0 and any(r["name"] == "sweetiechat" and r["description"] for r in rows)


def test_piped_chat_json_one_reply_per_line(tmp_path):
    db = tmp_path / "c.sqlite"
    lines = "I lost my job today.\nI have not told anyone.\nI feel like a failure.\n"
    result = run(["chat", "--model", "fake", "--json", "--db", str(db), "--thread", "t1"], input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert all(r["reply"] and r["strategy"] in STRATEGIES and r["safety"]["crisis"] is False for r in rows)
    assert [r["turn"] for r in rows] == [1, 2, 3]
    again = run(["chat", "--model", "fake", "--json", "--db", str(db), "--thread", "t1"], input="Still here.\n")
    assert json.loads(again.stdout)["turn"] == 4  # the same conversation continues


def test_piped_chat_stops_at_quit_like_the_interactive_one(tmp_path):
    result = run(["chat", "--model", "fake", "--json", "--db", str(tmp_path / "c.sqlite")],
                 input="hello there\n/quit\nnever sent\n")
    assert result.exit_code == 0, result.output
    replies = [line for line in result.output.splitlines() if line.startswith("{")]
    assert len(replies) == 1


def test_piped_chat_plain_prints_one_line_per_reply(tmp_path):
    result = run(["chat", "--model", "fake", "--db", str(tmp_path / "c.sqlite")], input="hello there\nbye now\n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\n", "empty message"),
        (b"\x01\x02\x03\x7f\n", "empty message"),
        (b"caf\xe9 au lait\n", "not valid UTF-8"),
        (b"x" * 1_000_000 + b"\n", "message too long"),
    ],
)
def test_bad_lines_are_skipped_with_a_clear_message(tmp_path, payload, expected):
    db = tmp_path / "c.sqlite"
    result = run(["chat", "--model", "fake", "--json", "--db", str(db)], input=payload + b"a fine message\n")
    assert "Traceback" not in result.output
    assert expected in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["reply"] is None and expected in rows[0]["error"]
    assert rows[1]["reply"]  # the next good line is still answered
    assert result.exit_code == 1
    with sqlite3.connect(db) as conn:  # the checkpoint database is intact
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] > 0


def test_control_characters_inside_a_message_are_removed(tmp_path):
    result = run(["chat", "--model", "fake", "--json", "--db", str(tmp_path / "c.sqlite")],
                 input=b"I feel\x00 so\x1b[31m alone\n")
    assert result.exit_code == 0 and json.loads(result.stdout)["reply"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nonsense"], "spec 'nonsense' is not valid"),
        (["--model", "local:/no/such/model.gguf"], "/no/such/model.gguf"),
        (["--graph", "nope"], "unknown graph 'nope'"),
    ],
)
def test_bad_options_print_one_line_and_exit_nonzero(tmp_path, args, expected):
    result = run(["chat", "--db", str(tmp_path / "c.sqlite"), *args], input="hi\n")
    assert result.exit_code == 2
    assert expected in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_text("this is not sqlite " * 100)
    result = run(["chat", "--model", "fake", "--db", str(bad)], input="hi\n")
    assert result.exit_code == 2 and "cannot open checkpoint database" in result.stderr
    assert bad.read_text().startswith("this is not sqlite")  # untouched
    folder = run(["chat", "--model", "fake", "--db", str(tmp_path)], input="hi\n")
    assert folder.exit_code == 2 and "is a directory" in folder.stderr


def test_safety_check_text_and_jsonl(tmp_path):
    one = run(["safety", "check", "I took all my pills an hour ago"])
    verdict = json.loads(one.stdout)
    assert verdict["crisis"] is True and {"category", "score"} <= verdict.keys()
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "this exam is killing me"}\n\n{"text": "I want to kill myself"}\nnot json\n')
    many = run(["safety", "check", "--jsonl", str(path)])
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert [r.get("crisis") for r in rows] == [False, True, None]
    assert "not valid JSON" in rows[2]["error"] and many.exit_code == 1


def test_safety_check_needs_exactly_one_input():
    result = run(["safety", "check"])
    assert result.exit_code == 2 and "give either TEXT or --jsonl FILE" in result.stderr
