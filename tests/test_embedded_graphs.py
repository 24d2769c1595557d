"""mentalagora, madp and kemi on the real embedded model (offline): each answers a seeker, each runs in a short
simulation, and a report compares two of them; the critic loop and memory also run on the real model."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.graphs import answer_post, build_graph
from escgraph.types import STRATEGIES

pytestmark = pytest.mark.embedded

SEEKER = "Please just listen, no advice. My sister stopped talking to me after an argument and I feel awful."


@pytest.mark.parametrize("name, options", [("mentalagora", {"rounds": 1}), ("kemi", {})])
def test_graph_answers_on_the_embedded_model(name, options):
    out = build_graph(name, **options).invoke({"messages": [HumanMessage(SEEKER)]})
    assert out["reply"].strip() and out["strategy"] in STRATEGIES
    if name == "mentalagora":
        assert "listen_only" in out["plan"]["preferences"] and len(out["debate"]) == 4
    else:
        assert any(r["kind"] == "knowledge" for r in out["retrieved"])


def test_madp_answers_a_long_post_with_a_plan():
    post = ("I'm in my final year and I failed two modules this term. My parents paid for everything and I keep "
            "thinking I've wasted their money and that I'm just not smart enough. I haven't slept properly in "
            "weeks and I've stopped going to lectures because I feel sick when I walk in.")
    answer, plan = answer_post(post)
    assert answer.strip()
    assert all(plan[k] for k in ("understanding", "validation", "reframe", "steps", "professional_help"))


def test_short_simulations_and_a_comparison_report(tmp_path):
    runner = CliRunner()
    for name in ("madp", "kemi"):
        result = runner.invoke(cli_app(), ["simulate", "--graph", name, "--n", "1", "--max-turns", "2",
                                           "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["status"]["done"] == 1
    result = runner.invoke(cli_app(), ["simulate", "--graph", "mentalagora", "--n", "1", "--max-turns", "1",
                                       "--out", str(tmp_path / "mentalagora")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app(), ["report", str(tmp_path / "kemi"), "--compare", str(tmp_path / "madp"),
                                       "--out", str(tmp_path / "compare.html")])
    assert result.exit_code == 0 and (tmp_path / "compare.html").is_file()


def test_memory_chat_on_the_embedded_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCGRAPH_HOME", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(cli_app(), ["chat", "--seeker", "sam-01", "--thread", "one", "--json"],
                          input="Please call me Sam. I'm a nurse and night shifts wear me out.\n")
    assert first.exit_code == 0, first.output
    shown = runner.invoke(cli_app(), ["memory", "show", "sam-01"])
    assert "Wants to be called Sam." in shown.output
