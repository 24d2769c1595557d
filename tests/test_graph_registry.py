"""Every registered graph: served by `langgraph dev`, answers a seeker, and runs in a simulation (fake models)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.graphs import build_graph, list_graphs
from escgraph.llm import FakeChatModel
from escgraph.types import STRATEGIES, ESCContext

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import fake_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = [g.name for g in list_graphs()]


def test_every_graph_is_in_langgraph_json():
    served = json.loads((ROOT / "langgraph.json").read_text())["graphs"]
    assert set(served) == set(NAMES) >= {"sweetiechat", "skilled", "mentalagora", "madp", "kemi"}


@pytest.mark.parametrize("name", NAMES)
def test_graph_answers_a_seeker(name):
    graph = build_graph(name)
    out = graph.invoke({"messages": [HumanMessage("I lost my job today and I don't know how to tell my wife.")]},
                       context=ESCContext(models={"counselor": FakeChatModel()}))
    assert out["reply"].strip() and out["strategy"] in STRATEGIES


@pytest.mark.parametrize("name", NAMES)
def test_graph_runs_in_a_simulation(name, tmp_path):
    from escgraph.simulations.runner import run_simulation
    from escgraph.simulations.spec import RunSpec
    from escgraph.profiles import SeekerProfile

    spec = RunSpec(run_id="registry", graph=name, max_turns=2, models={"counselor": "fake"},
                   profiles=[SeekerProfile(id="p1", situation="I failed my driving test for the third time.")],
                   bank_path=str(tmp_path / "bank") if name == "skilled" else None)
    run = run_simulation(spec, tmp_path / "run", models=fake_models(), write_report=False)
    assert run.episodes[0].status == "done", run.episodes[0].error
    assert [t for t in run.episodes[0].turns if t.speaker == "counselor" and t.text]


def test_two_graphs_compared_in_one_report(tmp_path):
    runner = CliRunner()
    for name in ("mentalagora", "kemi"):
        result = runner.invoke(cli_app(), ["simulate", "--model", "fake", "--graph", name, "--n", "2",
                                           "--max-turns", "2", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(cli_app(), ["report", str(tmp_path / "kemi"), "--compare", str(tmp_path / "mentalagora"),
                                       "--out", str(tmp_path / "compare.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "compare.html").read_text()
    assert "kemi" in html and "mentalagora" in html


def test_graphs_declare_what_they_draw_on():
    from escgraph.graphs import get_graph_info

    uses = {name: get_graph_info(name).capabilities for name in ("sweetiechat", "skilled", "kemi", "madp",
                                                                  "mentalagora")}
    assert uses == {"sweetiechat": ["planner"], "skilled": ["skills_bank", "planner"],
                    "kemi": ["planner", "knowledge_graph"], "madp": [], "mentalagora": []}
    # the declarations agree with what the builders accept, so a flag is refused exactly where it would be ignored
    import inspect

    for name in uses:
        params = inspect.signature(get_graph_info(name).builder).parameters
        assert ("planner" in params) == ("planner" in uses[name])
        assert ("knowledge_graph" in params) == ("knowledge_graph" in uses[name])
