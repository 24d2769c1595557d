"""Simulations through an OpenAI-compatible server (the loopback mock): spec strings, base_url, repeated runs."""

from __future__ import annotations

import pytest

from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import run_simulation
from escgraph.simulations.spec import RunSpec
from escgraph.testing import MockOpenAIServer


pytestmark = pytest.mark.usefixtures("loopback_openai_client")  # conftest: no proxy, any key


def test_two_runs_in_one_process_need_no_retries(tmp_path):
    """Each run has its own event loop; models loaded per run must not reuse another loop's connections."""
    profiles = [SeekerProfile(id=f"s{i}", situation="I failed my exam.", first_talk="I failed my exam.")
                for i in range(3)]
    with MockOpenAIServer(delay=0.01) as server:
        for name in ("first", "second"):
            spec = RunSpec(run_id=name, models={"counselor": "openai:mock"}, base_url=server.base_url,
                           profiles=profiles, max_turns=2, concurrency=3, call_retries=0, requeues=0)
            run = run_simulation(spec, tmp_path / name)
            assert [e.status for e in run.episodes] == ["done"] * 3, [e.error for e in run.episodes]
            assert all(e.tokens["judge"]["output_tokens"] > 0 for e in run.episodes)
