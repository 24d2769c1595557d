"""The skilled graph on the real embedded model: chat and a short simulation that records skill ids (offline)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.simulations.store import load_run
from escgraph.simulations.units import intervention_units
from escgraph.types import STRATEGIES

pytestmark = pytest.mark.embedded


def test_chat_with_the_skilled_graph(tmp_path):
    lines = "My dad has dementia and I look after him every evening.\nI never get a break and I feel guilty.\n"
    result = CliRunner().invoke(cli_app(), ["chat", "--graph", "skilled", "--json", "--db", str(tmp_path / "c.db")],
                                input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(r["reply"].strip() and r["strategy"] in STRATEGIES for r in rows)


def test_simulate_the_skilled_graph_and_export_units(tmp_path):
    bank = tmp_path / "bank"
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--graph", "skilled", "--n", "1", "--max-turns", "2",
                                            "--bank", str(bank), "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = load_run(out)
    assert run.config["bank_version"].startswith("v1@")
    counselor = [t for e in run.episodes for t in e.turns if t.speaker == "counselor"]
    assert counselor and all(t.retrieved for t in counselor)  # every reply records the skills it saw
    units = intervention_units(run)
    assert len(units) == len(counselor)
    exported = tmp_path / "units.jsonl"
    result = CliRunner().invoke(cli_app(), ["skills", "units", str(out), "--out", str(exported)])
    assert result.exit_code == 0, result.output
    assert len(exported.read_text().splitlines()) == len(units)
