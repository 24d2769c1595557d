"""A graph of your own, end to end: the README example, `--graph module:attr` (compiled, StateGraph, builder) on
the local and process executors, the Python API's records, and evolution driven the same way."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.simulations import graph_reference, run_evolution, run_simulation

README = Path(__file__).resolve().parents[1] / "README.md"

MODULE = '''
from langgraph.graph import END, START, StateGraph
from escgraph import ESCContext, ESCState, SafetyGate, Supporter, route_after_safety

def build(models=None, checkpointer=None):
    """A two-node graph: the safety gate, then a short reply."""
    b = StateGraph(ESCState, context_schema=ESCContext)
    b.add_node("safety", SafetyGate())
    b.add_node("reply", Supporter(max_sentences=1))
    b.add_edge(START, "safety")
    b.add_conditional_edges("safety", route_after_safety, {"crisis": END, "continue": "reply"})
    b.add_edge("reply", END)
    return b

builder = build()
graph = builder.compile()
'''


@pytest.fixture
def mygraphs(tmp_path, monkeypatch):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "mygraphs_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))  # worker processes import it too
    yield folder
    sys.modules.pop("mygraphs_mod", None)


def config(out: Path) -> dict:
    with sqlite3.connect(out / "run.sqlite") as db:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])


def test_readme_example_simulates_a_composed_graph(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = README.read_text(encoding="utf-8")
    code = text.split("<!-- readme-example: simulate-own-graph -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "2 episodes scored: True"
    assert (tmp_path / "runs" / "mine" / "report.html").is_file()
    assert config(tmp_path / "runs" / "mine")["graph"].startswith("object:")  # defined in no module


@pytest.mark.parametrize("attr", ["graph", "builder", "build"])
def test_cli_simulates_a_graph_by_import_reference(tmp_path, mygraphs, attr):
    out = tmp_path / f"run-{attr}"
    result = CliRunner().invoke(cli_app(), ["simulate", "--graph", f"mygraphs_mod:{attr}", "--model", "fake",
                                            "--n", "2", "--max-turns", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert config(out)["graph"] == f"mygraphs_mod:{attr}"


def test_process_executor_imports_the_graph_in_its_workers(tmp_path, mygraphs):
    import mygraphs_mod

    run = run_simulation(graph=mygraphs_mod.graph, profiles="builtin", n=2, models="fake", max_turns=2,
                         out=tmp_path / "run", executor="process", concurrency=2)
    assert len(run.episodes) == 2 and all(e.status == "done" for e in run.episodes)
    assert config(tmp_path / "run")["graph"] == "mygraphs_mod:graph"  # found by the object itself


def test_bad_graph_references_and_unshippable_objects_get_clear_errors(tmp_path):
    result = CliRunner().invoke(cli_app(), ["simulate", "--graph", "no_such_module_x:graph", "--model", "fake",
                                            "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "cannot import graph from no_such_module_x" in result.output
    from langgraph.graph import StateGraph

    from escgraph import ESCState

    local_graph = StateGraph(ESCState)
    with pytest.raises(ValueError, match="define it at module level of an importable module"):
        run_simulation(graph=local_graph, profiles="builtin", n=1, models="fake", out=tmp_path / "p",
                       executor="process")
    from escgraph.llm import FakeChatModel

    with pytest.raises(ValueError, match="give model specs"):
        run_simulation(graph="sweetiechat", profiles="builtin", n=1, models=FakeChatModel(), out=tmp_path / "q",
                       executor="process")
    assert graph_reference(local_graph) is None


def test_model_objects_are_recorded_by_class(tmp_path):
    from escgraph.llm import FakeChatModel

    run_simulation(graph="sweetiechat", profiles="builtin", n=1, max_turns=1, out=tmp_path / "run",
                   models={"counselor": FakeChatModel(), "judge": "fake"})
    models = config(tmp_path / "run")["models"]  # class and model name: what a reader of the run can check
    assert models == {"counselor": "object:FakeChatModel:fake-chat-model", "judge": "fake",
                      "seeker": "object:FakeChatModel:fake-chat-model"}


def test_evolution_through_the_python_api(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    import evolve_fakes as world

    from escgraph.skills_bank.evolution import EvolutionSettings, VerifyPolicy
    from escgraph.skills_bank.store import SkillBank

    SkillBank.create(tmp_path / "bank", world.bank_skills(), author="test", message="two skills")
    state = run_evolution(graph="skilled", profiles=world.profiles(), bank=tmp_path / "bank", out=tmp_path / "evo",
                          models=world.world_model(), analyst=world.analyst_model(), max_turns=4, concurrency=2,
                          call_retries=0, log=lambda message: None,
                          settings=EvolutionSettings(rounds=1, policy=VerifyPolicy(margin=3, tolerance=2,
                                                                                   regression_size=6,
                                                                                   verify_trials=2)))
    assert state.rounds[0].proposals[0].status == "accepted" and state.final_version() == "v2"
    assert state.model_dump()["rounds"][0]["proposals"][0]["status"] == "accepted"  # the evolution.json data
    with pytest.warns(DeprecationWarning, match="state.rounds"):
        assert state["rounds"][0]["proposals"][0]["status"] == "accepted"  # the old dict access still works
    assert SkillBank.open(tmp_path / "bank").head == "v2"
