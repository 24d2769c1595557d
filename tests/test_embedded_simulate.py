"""`escgraph simulate` on the real embedded model: the main job's path stays working end to end (offline)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.simulations.store import load_run
from escgraph.types import STRATEGIES

pytestmark = pytest.mark.embedded


def test_simulate_on_the_embedded_model(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--n", "2", "--max-turns", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"]["done"] == 2 and 0 <= summary["sage_score"] <= 100
    assert summary["tokens"]["judge"]["output_tokens"] > 0 and summary["tokens"]["seeker"]["output_tokens"] > 0
    run = load_run(out)
    for episode in run.episodes:
        seeker_turns = [t for t in episode.turns if t.speaker == "seeker" and t.idx > 0]
        assert seeker_turns and all(t.judge and -10 <= t.change <= 10 and t.text.strip() for t in seeker_turns)
        counselor = [t for t in episode.turns if t.speaker == "counselor"]
        assert all(t.text.strip() and t.strategy in STRATEGIES for t in counselor)
    config = run.config
    assert config["settings"]["judge"]["temperature"] == 0.0  # pinned decoding is stored with the results
    assert run.meta["applied_settings"]["judge"]["temperature"] == 0.0
    html = (out / "report.html").read_text()
    assert "SAGE" in html and run.episodes[0].profile_id in html
