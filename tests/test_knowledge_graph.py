"""Knowledge graph (HEAL schema): loading a HEAL folder, saving, retrieval ranking, the kg CLI, the default graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.memory.knowledge_graph import (
    KnowledgeGraph,
    KnowledgeGraphError,
    default_knowledge_graph,
    iter_heal_documents,
    load_heal,
)

FIXTURE = Path(__file__).parent / "data" / "heal_fixture"


def test_heal_folder_loads_and_reports_what_it_skipped():
    graph, report = load_heal(FIXTURE)
    assert report.nodes == {"stressors": 3, "expectations": 2, "responses": 4, "feedback": 2}
    assert report.edges == {"stressors-responses": 4, "expectations-responses": 3, "expectations-stressors": 2,
                            "responses-feedback": 2}
    assert set(report.missing) == {"nodes/affective_states.txt", "edges/affective_states.txt"}
    assert any("nodes/stressors.txt entry 3" in p for p in report.problems)  # no id
    assert any("'lots' is not a number" in p for p in report.problems)
    assert report.dangling_edges == 1  # t9 is not a node
    assert graph.counts() == {"stressor": 3, "expectation": 2, "response": 4, "feedback": 2, "edges": 11}
    text = report.describe()
    assert "loaded 11 nodes and 11 edges" in text and "skipped missing files" in text


def test_unusable_folders_are_clear_errors(tmp_path):
    with pytest.raises(KnowledgeGraphError, match="no such folder"):
        load_heal(tmp_path / "nope")
    with pytest.raises(KnowledgeGraphError, match="no HEAL node files"):
        load_heal(tmp_path)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "stressors.txt").write_text("{not json")
    with pytest.raises(KnowledgeGraphError, match="stressors.txt: not valid JSON"):
        load_heal(tmp_path)


def test_retrieval_prefers_expected_and_positively_received_responses():
    graph, _ = load_heal(FIXTURE)
    hits = graph.retrieve("I failed my exam and now I doubt I can be a nurse", k=1)
    assert [h.stressor_id for h in hits] == ["t1"]
    ranked = [r.id for r in hits[0].responses]
    # r2 has the heavier edge (5 vs 3) but only negative feedback; r1 meets t1's expectation and was thanked
    assert ranked == ["r1", "r2"]
    assert any("positive feedback" in why for why in hits[0].responses[0].why)
    assert graph.retrieve("I moved to a new city and I am lonely", expectation="practical ideas", k=1)[0] \
        .responses[0].id == "r4"


def test_threshold_filters_unrelated_queries():
    graph, _ = load_heal(FIXTURE)
    assert graph.retrieve("the stock market closed higher today", threshold=0.5) == []
    assert graph.retrieve("   ") == []


def test_save_and_load_round_trip_keeps_graph_and_embeddings(tmp_path):
    graph, _ = load_heal(FIXTURE)
    path = graph.save(tmp_path / "kg.json")
    assert (tmp_path / "kg.json.emb.npy").is_file()
    again = KnowledgeGraph.load(path)
    assert again.counts() == graph.counts()
    assert again._vectors is not None  # no re-embedding after load
    q = "my boyfriend dumped me by text"
    assert [h.stressor_id for h in again.retrieve(q)] == [h.stressor_id for h in graph.retrieve(q)]
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(KnowledgeGraphError, match="not an escgraph knowledge-graph file"):
        KnowledgeGraph.load(tmp_path / "bad.json")


def test_default_graph_is_in_the_heal_schema_and_large_enough(tmp_path):
    kg = default_knowledge_graph()
    counts = kg.counts()
    assert counts["stressor"] >= 40 and counts["response"] >= 20 and counts["expectation"] >= 8
    assert counts["feedback"] >= 5 and counts["affective_state"] >= 40
    for sid in (n for n, d in kg.graph.nodes(data=True) if d["kind"] == "stressor"):
        kinds = {kg.graph.nodes[v]["kind"] for v in kg.graph[sid]}
        assert {"response", "expectation", "affective_state"} <= kinds, sid
    # written out as HEAL files, it loads back through the HEAL loader unchanged
    for rel, doc in iter_heal_documents(kg.graph):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(json.dumps(doc))
    again, report = load_heal(tmp_path)
    assert not report.missing and not report.problems and again.counts() == counts


def test_kg_cli_import_and_query(tmp_path):
    runner = CliRunner()
    out = tmp_path / "kg.json"
    result = runner.invoke(cli_app(), ["kg", "import-heal", str(FIXTURE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "loaded 11 nodes and 11 edges" in result.output and "nodes/stressors.txt: 3" in result.output
    assert "affective_states.txt" in result.output  # the skipped files are named
    result = runner.invoke(cli_app(), ["kg", "query", "I failed my exam", "--kg", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["stressor_id"] == "t1"
    result = runner.invoke(cli_app(), ["kg", "query", "my partner left me and I feel so alone"])
    assert result.exit_code == 0 and "t2" in result.output  # the authored default graph
    bad = runner.invoke(cli_app(), ["kg", "import-heal", str(tmp_path / "missing"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such folder" in bad.output
    partial = tmp_path / "partial"
    shutil.copytree(FIXTURE, partial)
    (partial / "edges" / "responses-feedback.txt").unlink()
    result = runner.invoke(cli_app(), ["kg", "import-heal", str(partial), "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 0 and "edges/responses-feedback.txt" in result.output


def test_chat_and_simulate_use_an_imported_graph_pinned_by_content(tmp_path):
    from escgraph.simulations.store import load_run

    runner = CliRunner()
    kg = tmp_path / "kg.json"
    assert runner.invoke(cli_app(), ["kg", "import-heal", str(FIXTURE), "--out", str(kg)]).exit_code == 0
    chat = runner.invoke(cli_app(), ["chat", "--graph", "kemi", "--model", "fake", "--kg", str(kg), "--json",
                                     "--db", str(tmp_path / "c.sqlite")], input="I failed my exam and I feel awful\n")
    assert chat.exit_code == 0, chat.output
    reply = json.loads(next(line for line in chat.stdout.splitlines() if line.startswith("{")))
    assert reply["knowledge"] == ["t1"]  # the fixture's exam stressor, not the authored graph's cases
    profiles = tmp_path / "p.yaml"
    profiles.write_text("- id: exam\n  situation: I failed my exam and my parents are angry.\n"
                        "  first_talk: I failed my exam.\n")
    run_dir = tmp_path / "run"
    sim = runner.invoke(cli_app(), ["simulate", "--graph", "kemi", "--model", "fake", "--kg", str(kg), "--profiles",
                                    str(profiles), "--max-turns", "1", "--out", str(run_dir)])
    assert sim.exit_code == 0, sim.output
    run = load_run(run_dir)
    assert run.config["graph_options"]["knowledge_graph"].startswith(str(kg.resolve()) + "@")
    counselor = [t for t in run.episodes[0].turns if t.speaker == "counselor" and not t.extra.get("safety")]
    assert counselor and "t1" in counselor[0].retrieved
    # a graph file changed after the run started is refused on resume, by name
    kg.write_text(kg.read_text().replace("exam", "exams"))
    resumed = runner.invoke(cli_app(), ["simulate", "--graph", "kemi", "--model", "fake", "--kg", str(kg),
                                        "--profiles", str(profiles), "--max-turns", "1", "--out", str(run_dir),
                                        "--resume"])
    assert resumed.exit_code == 2 and "graph_options" in resumed.output, resumed.output
    wrong = runner.invoke(cli_app(), ["chat", "--graph", "sweetiechat", "--model", "fake", "--kg", str(kg)], input="hi\n")
    assert wrong.exit_code == 2 and "does not use a knowledge graph" in wrong.output
    missing = runner.invoke(cli_app(), ["chat", "--graph", "kemi", "--model", "fake", "--kg", str(tmp_path / "no.json")],
                            input="hi\n")
    assert missing.exit_code == 2 and "no such knowledge-graph file" in missing.output


def test_a_pinned_graph_file_that_changed_is_refused(tmp_path):
    from escgraph.memory.knowledge_graph import KnowledgeGraphError, pin_knowledge_graph, resolve_knowledge_graph

    kg = tmp_path / "kg.json"
    load_heal(FIXTURE)[0].save(kg)
    pinned = pin_knowledge_graph(kg)
    assert resolve_knowledge_graph(pinned).counts() == load_heal(FIXTURE)[0].counts()
    kg.write_text(kg.read_text().replace("exam", "exams"))
    with pytest.raises(KnowledgeGraphError, match="changed since the run started"):
        resolve_knowledge_graph(pinned)


def test_an_at_sign_in_a_file_name_is_not_taken_for_a_pin(tmp_path):
    from escgraph.memory.knowledge_graph import pin_knowledge_graph, resolve_knowledge_graph

    kg = tmp_path / "heal@2024.json"
    load_heal(FIXTURE)[0].save(kg)
    assert resolve_knowledge_graph(str(kg)).counts() == load_heal(FIXTURE)[0].counts()
    assert resolve_knowledge_graph(pin_knowledge_graph(kg)).counts() == load_heal(FIXTURE)[0].counts()
