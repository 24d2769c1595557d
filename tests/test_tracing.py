"""One episode = one trace: a parent run per episode with the graph turns and seeker/judge calls beneath it.

A local tracer is attached the way a user would, with ``trace_with`` (a LangChain configure hook). LangSmith itself
is never switched on here (no network); with tracing off nothing extra is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from escgraph.llm import StructuredOutputTracker, UsageTracker
from escgraph.simulations import episode as episode_module
from escgraph.simulations.faults import RequestWatch
from escgraph.simulations.runner import arun_simulation, warm_up
from escgraph.simulations.tracing import episode_trace, trace_with

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import SeededFake, fake_models  # noqa: E402
from test_sim_runner import PROFILES, make_spec  # noqa: E402


class MemoryTracer(BaseTracer):
    """Keeps every finished root run (with its tree of child runs) in memory."""

    run_inline = True  # runs are linked in event order, with no executor threads in between

    def __init__(self) -> None:
        super().__init__()
        self.roots: list[Run] = []
        self.started = 0

    def _start_trace(self, run: Run) -> None:
        super()._start_trace(run)
        self.started += 1

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


class DownJudge(SeededFake):
    """A judge whose server always drops the connection: every episode ends as an infra error."""

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001
        raise ConnectionError("judge server reset the connection")


def descendants(run: Run) -> list[Run]:
    out = []
    for child in run.child_runs:
        out += [child, *descendants(child)]
    return out


def spec(**overrides):
    # a generous step timeout: the safety gate's first load must not turn into retries (and extra runs)
    options = dict(profiles=PROFILES[:2], trials=1, max_turns=2, step_timeout=120.0)
    options.update(overrides)
    return make_spec(**options)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    warm_up()


async def test_each_episode_is_one_trace_with_its_calls_beneath(tmp_path):
    run_spec = spec()
    tracer = MemoryTracer()
    with trace_with(tracer):
        run = await arun_simulation(run_spec, tmp_path / "run", models=fake_models())

    episodes = {e.episode_id: e for e in run.episodes}
    assert len(episodes) == 2 and all(e.status == "done" for e in episodes.values())
    assert sorted(r.name for r in tracer.roots) == sorted(f"episode {eid}" for eid in episodes)
    traced = 0
    for root in tracer.roots:
        episode = episodes[root.name.removeprefix("episode ")]
        assert root.run_type == "chain" and root.error is None and root.parent_run_id is None
        assert {k: root.metadata[k] for k in ("episode_id", "profile_id", "trial", "seed", "run_id", "config_hash",
                                              "attempt")} == {
            "episode_id": episode.episode_id, "profile_id": episode.profile_id, "trial": episode.trial,
            "seed": episode.seed, "run_id": "test-run", "config_hash": run_spec.config_hash(), "attempt": 1}
        assert root.outputs["outcome"] == episode.outcome and root.outputs["final_emotion"] == episode.final_emotion

        below = descendants(root)
        traced += 1 + len(below)
        turns = [r for r in root.child_runs if r.name.startswith("counselor turn")]
        assert [r.name for r in turns] == [f"counselor turn {i}" for i in range(1, len(turns) + 1)]
        assert len(turns) == sum(t.speaker == "counselor" for t in episode.turns)
        assert any(r.run_type == "llm" for turn in turns for r in descendants(turn))  # the counselor's model
        roles = [r.metadata.get("role") for r in below if r.run_type == "llm"]
        assert roles.count("judge") == roles.count("seeker") == episode.seeker_turns
        # every run of the episode carries its id, so one episode's calls can be filtered anywhere
        assert all(r.metadata["episode_id"] == episode.episode_id for r in below)
        # the trackers still saw every call
        assert set(episode.tokens) >= {"counselor", "seeker", "judge"}
    assert traced == tracer.started  # nothing was traced outside an episode's tree


async def test_an_episode_that_fails_is_still_one_trace_ending_in_error(tmp_path):
    models = fake_models()
    models["judge"] = DownJudge()
    tracer = MemoryTracer()
    with trace_with(tracer):
        run = await arun_simulation(spec(profiles=PROFILES[:1], call_retries=1, requeues=1, backoff=0.0),
                                    tmp_path / "run", models=models)

    (episode,) = run.episodes
    assert episode.status == "infra_error" and episode.attempts == 2
    # one trace per attempt: the re-queued episode is traced again, told apart by its attempt
    assert [r.name for r in tracer.roots] == [f"episode {episode.episode_id}"] * 2
    assert [r.metadata["attempt"] for r in tracer.roots] == [1, 2]
    for root in tracer.roots:
        assert "InfraError" in root.error and "judge" in root.error
        assert not root.outputs
        judged = [r for r in descendants(root) if r.run_type == "llm" and r.metadata.get("role") == "judge"]
        assert len(judged) == 2 and all("ConnectionError" in r.error for r in judged)  # the call and its retry
        assert [r.name for r in root.child_runs][0] == "counselor turn 1"


async def test_tracing_off_builds_nothing_and_trackers_hear_only_model_calls(tmp_path, monkeypatch):
    from langchain_core.tracers.langchain import LangChainTracer
    from langsmith import utils as ls_utils

    assert not ls_utils.tracing_is_enabled()  # nobody's shell switched LangSmith on for the tests

    def no_tracer(*args, **kwargs):
        raise AssertionError("a tracer was built with tracing off")

    monkeypatch.setattr(LangChainTracer, "__init__", no_tracer)
    seen = []

    def spy(*args, **kwargs):
        outer = episode_trace(*args, **kwargs)

        class Spy:
            async def __aenter__(self):
                group = await outer.__aenter__()
                seen.append((list(group.handlers), list(group.parent_run_manager.handlers)))
                return group

            async def __aexit__(self, *exc):
                return await outer.__aexit__(*exc)

        return Spy()

    monkeypatch.setattr(episode_module, "episode_trace", spy)
    run = await arun_simulation(spec(), tmp_path / "run", models=fake_models())
    assert all(e.status == "done" for e in run.episodes) and len(seen) == 2
    for handlers, parent_handlers in seen:
        # the parent run reaches no handler at all; the steps reach the episode's own trackers only
        assert parent_handlers == []
        assert all(isinstance(h, UsageTracker | StructuredOutputTracker | RequestWatch) for h in handlers)
