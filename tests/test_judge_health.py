"""Judge health: caps, contradictions, structured-output retries per role, seeker regenerations, smoke test,
and where the figures go (summary.json, report.html, the simulate console), old runs included."""

from __future__ import annotations

import json
import sqlite3
from typing import TypedDict

from langchain_core.messages import BaseMessage
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel
from typer.testing import CliRunner

from escgraph.agents._models import role_config
from escgraph.cli._app import cli_app
from escgraph.llm import FakeChatModel, StructuredOutputError, StructuredOutputTracker
from escgraph.profiles import SeekerProfile
from escgraph.simulations.health import SMOKE_TEST_WARNING, judge_health
from escgraph.simulations.metrics import summarize
from escgraph.simulations.report import render_report
from escgraph.simulations.results import EpisodeResult, RunData, TurnRecord
from escgraph.simulations.runner import arun_simulation
from escgraph.simulations.spec import RunSpec
from escgraph.simulations.store import RunStore, load_run

PROFILES = [SeekerProfile(id=f"p{i}", situation=f"My manager criticises me in every meeting ({i}).",
                          hidden_intent="wants to vent and be heard", first_talk="Work has been rough lately.")
            for i in range(2)]
COUNSELOR_LINE = "Tell me more about your week at work and the meetings."
SEEKER_LINES = ["Mostly it is the meetings, they drag on forever.", "My sister says I should quit, honestly.",
                "Yesterday I cried in the car park before my shift.", "I barely sleep before a Monday now.",
                "Part of me wonders if he is right about my work."]


def judge_model(changes: list[int], goals: list[str], **options) -> FakeChatModel:
    """A judge answering the i-th assessment with ``changes[i]`` / ``goals[i]`` (cycled)."""
    seen: list[int] = []

    def respond(messages: list[BaseMessage], schema):
        if schema is None:
            return None
        i = len(seen)
        seen.append(i)
        return {"meaning": "asks about work", "serves_goal": goals[i % len(goals)], "inner_reaction": "hm",
                "feeling": "tired", "change": changes[i % len(changes)]}

    return FakeChatModel(responder=respond, **options)


def seeker_model(lines: list[str]) -> FakeChatModel:
    return FakeChatModel(responses=lines)


def counselor_model(**options) -> FakeChatModel:
    return FakeChatModel(responder=lambda messages, schema: None if schema is not None else COUNSELOR_LINE,
                         **options)


def spec(**overrides) -> RunSpec:
    options = dict(run_id="health", models={"counselor": "fake"}, profiles=PROFILES, max_turns=4, backoff=0.01,
                   step_timeout=5.0)
    return RunSpec(**{**options, **overrides})


async def run_world(tmp_path, judge: FakeChatModel, seeker: FakeChatModel, counselor: FakeChatModel | None = None,
                    **overrides) -> RunData:
    models = {"counselor": counselor or counselor_model(), "seeker": seeker, "judge": judge}
    return await arun_simulation(spec(**overrides), tmp_path / "run", models=models)


# -- the judge's figures ---------------------------------------------------------------------------------------
async def test_judge_always_plus_cap_while_saying_no_is_unhealthy(tmp_path):
    run = await run_world(tmp_path, judge_model([10], ["no"]), seeker_model(SEEKER_LINES), max_turns=3)
    h = judge_health(run)
    assert h["judged_turns"] == 6
    assert (h["at_cap_share"], h["at_plus_cap_share"], h["at_minus_cap_share"]) == (1.0, 1.0, 0.0)
    assert (h["contradictions"], h["contradiction_share"]) == (6, 1.0)
    assert h["healthy"] is False and h["smoke_test"] is False
    assert set(h["crossed"]) == {"at_cap_share", "contradiction_share", "distinct_changes"}
    text = " ".join(h["warnings"])
    assert "100% of judged turns" in text and "±10 limit" in text and "more than 50%" in text
    assert "contradicts the sign" in text and "more than 15%" in text
    assert "same change (+10) on all 6 judged turns" in text


async def test_a_discriminating_consistent_judge_is_healthy(tmp_path):
    judge = judge_model([4, -3, 0, 6, 2], ["yes", "no", "partly", "yes", "partly"])
    run = await run_world(tmp_path, judge, seeker_model(SEEKER_LINES))
    h = judge_health(run)
    assert h["judged_turns"] == 8 and h["at_cap"] == 0 and h["contradictions"] == 0
    assert h["warnings"] == [] and h["healthy"] is True
    assert h["seeker_fallbacks"] == 0 and h["seeker_regenerated"] == 0
    assert h["structured_output"]["judge"] == {"calls": 8, "retries": 0, "gave_up": 0, "retries_per_call": 0.0}
    assert h["counselor_fallbacks"] == 0 and h["counselor_replies"] == 8


def _run_data(turns: list[TurnRecord], *, judge: str = "fake", health: dict | None = None) -> RunData:
    episode = EpisodeResult(episode_id="p#0#1", profile_id="p", trial=0, seed=1, status="done", profile={"id": "p"},
                            outcome="max_turns", initial_emotion=40, final_emotion=50, seeker_turns=len(turns),
                            turns=turns, health=health or {})
    return RunData(run_dir="runs/x", config={"models": {"counselor": "fake", "seeker": "fake", "judge": judge},
                                             "sage": {"change_limit": 5}},
                   config_hash="h", episodes=[episode])


def _judged(changes: list[float], goal: str = "partly") -> list[TurnRecord]:
    return [TurnRecord(idx=i + 1, speaker="seeker", text="ok", change=c, judge={"serves_goal": goal})
            for i, c in enumerate(changes)]


def test_cap_follows_the_runs_change_limit_and_small_samples_do_not_warn():
    h = judge_health(_run_data(_judged([5, -5, 5, 2, 1, 0])))  # change_limit 5 in this run's config
    assert (h["at_cap"], h["at_plus_cap"], h["at_minus_cap"], h["at_cap_share"]) == (3, 2, 1, 0.5)
    assert h["healthy"]  # exactly half is not more than half
    few = judge_health(_run_data(_judged([5, 5, 5], goal="no")))
    assert few["at_cap_share"] == 1.0 and few["contradiction_share"] == 1.0 and few["healthy"]  # < 5 turns


def test_smoke_test_warning_for_the_embedded_judge():
    for spec_string in ("local", "local:models/tiny.gguf"):
        h = judge_health(_run_data(_judged([1, -1, 2]), judge=spec_string))
        assert h["smoke_test"] is True and h["warnings"] == [SMOKE_TEST_WARNING]
        assert h["healthy"] is True  # healthy speaks of thresholds; the smoke test is its own flag
    assert judge_health(_run_data(_judged([1]), judge="openai:gpt-4o-mini"))["smoke_test"] is False


# -- structured output retries ----------------------------------------------------------------------------------
def flaky_judge() -> FakeChatModel:
    """Malformed JSON on the first attempt of every assessment, valid on the retry."""
    seen: set[str] = set()
    good = judge_model([3], ["yes"])

    def respond(messages: list[BaseMessage], schema):
        if schema is None:
            return None
        key = "|".join(m.text for m in messages)
        if key not in seen:
            seen.add(key)
            return '{"meaning": "cut off'
        return good.responder(messages, schema)

    return FakeChatModel(responder=respond, structured_max_attempts=2)


async def test_structured_retries_are_counted_per_role(tmp_path):
    run = await run_world(tmp_path, flaky_judge(), seeker_model(SEEKER_LINES), max_turns=3)
    for episode in run.episodes:
        per_role = episode.health["structured"]
        assert per_role["judge"] == {"calls": 3, "retries": 3, "gave_up": 0}
        assert per_role["counselor"]["retries"] == 0 and per_role["counselor"]["calls"] > 0
        assert "seeker" not in per_role  # the seeker writes plain text
    h = judge_health(run)
    assert h["structured_output"]["judge"]["retries_per_call"] == 1.0
    assert "judge_retries_per_call" in h["crossed"] and not h["healthy"]
    assert any("1.00 retries per call (6 over 6 calls; threshold: more than 0.2)" in w for w in h["warnings"])


def test_a_call_that_gives_up_is_counted_and_flags_the_judge():
    class Answer(BaseModel):
        word: str

    tracker = StructuredOutputTracker()
    broken = FakeChatModel(responder=lambda m, s: "not json" if s is not None else "x", structured_max_attempts=3)
    try:
        broken.with_structured_output(Answer).invoke("hi", config={**role_config("judge", "t"),
                                                                   "callbacks": [tracker]})
    except StructuredOutputError:
        pass
    assert tracker.totals() == {"judge": {"calls": 1, "retries": 2, "gave_up": 1}}
    h = judge_health(_run_data(_judged([1, 2]), health={"structured": tracker.totals()}))
    assert "judge_gave_up" in h["crossed"] and "gave up on 1 of 1 calls (threshold: any)" in h["warnings"][0]


class _State(TypedDict):
    out: str


class _Pick(BaseModel):
    word: str


async def test_custom_events_reach_the_tracker_through_a_langgraph_node():
    """The node passes only its role config; the graph run's callbacks still hear every structured call."""
    attempts: list[int] = []

    def respond(messages, schema):
        attempts.append(1)
        return "oops" if len(attempts) % 2 else {"word": "ok"}

    model = FakeChatModel(responder=respond, structured_max_attempts=2)

    async def anode(state: _State) -> dict:
        pick = await model.with_structured_output(_Pick).ainvoke("hi", config=role_config("counselor", "n"))
        return {"out": pick.word}

    def node(state: _State) -> dict:
        return {"out": model.with_structured_output(_Pick).invoke("hi", config=role_config("judge", "n")).word}

    for fn, call in ((anode, "ainvoke"), (node, "invoke")):
        builder = StateGraph(_State)
        builder.add_node("pick", fn)
        builder.add_edge(START, "pick")
        builder.add_edge("pick", END)
        tracker = StructuredOutputTracker()
        graph = builder.compile()
        config = {"callbacks": [tracker]}
        result = await graph.ainvoke({"out": ""}, config=config) if call == "ainvoke" else graph.invoke(
            {"out": ""}, config=config)
        assert result["out"] == "ok"
        role = "counselor" if call == "ainvoke" else "judge"
        assert tracker.totals() == {role: {"calls": 1, "retries": 1, "gave_up": 0}}


# -- the seeker -------------------------------------------------------------------------------------------------
async def test_a_seeker_that_echoes_is_regenerated_then_replaced(tmp_path):
    seeker = seeker_model([COUNSELOR_LINE, "I'm so sorry to hear that, it must be hard for you."])
    # one episode at a time: the two scripted lines cycle over every call, so interleaved episodes would each get
    # the same line twice
    run = await run_world(tmp_path, judge_model([2, -1], ["yes", "no"]), seeker, max_turns=3, concurrency=1)
    replies = [t for e in run.episodes for t in e.turns if t.speaker == "seeker" and t.idx > 0]
    assert replies and all(t.extra["seeker_regenerated"] == ["echo", "role_swap"] for t in replies)
    assert all(t.extra["seeker_fallback"] is True for t in replies)
    h = judge_health(run)
    assert h["seeker_replies"] == 6 and h["seeker_regenerated"] == 6 and h["seeker_fallbacks"] == 6
    assert h["seeker_rejections_by_reason"] == {"echo": {"n": 6, "share": 1.0}, "role_swap": {"n": 6, "share": 1.0}}
    assert "seeker_fallback_share" in h["crossed"]
    assert any("100% of seeker replies (6 of 6) were replaced" in w for w in h["warnings"])


# -- where the figures go ---------------------------------------------------------------------------------------
async def test_summary_and_report_show_figures_and_warnings(tmp_path):
    run = await run_world(tmp_path, judge_model([10], ["no"]), seeker_model(SEEKER_LINES), max_turns=3)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["judge_health"]["at_cap_share"] == 1.0 and summary["judge_health"]["healthy"] is False
    html = (tmp_path / "run" / "report.html").read_text()
    assert "id='health'" in html and "Judge health" in html and "Structured output by role" in html
    header = html[html.index("<header>"):html.index("</header>")]
    assert "Judge health: 3 warnings" in header and "contradicts the sign" in header
    assert render_report(run).count("role='alert'") == 1


def test_report_shows_the_smoke_test_warning_in_the_header():
    html = render_report(_run_data(_judged([1, -1, 2]), judge="local"))
    header = html[html.index("<header>"):html.index("</header>")]
    assert "embedded 135M model" in header and "smoke test" in header


def test_simulate_console_prints_health_and_warnings(tmp_path, monkeypatch):
    import escgraph.simulations.runner as runner_module

    # The judge spec says "local" (a smoke test) but the models are fakes: no model file is loaded.
    monkeypatch.setattr(runner_module, "load_role_models", lambda spec, **kw: {
        "counselor": counselor_model(), "seeker": seeker_model(SEEKER_LINES), "judge": judge_model([10], ["no"])})
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--judge-model", "local", "--n", "2",
                                            "--max-turns", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "judge health: 6 judged turns · at ±10 100% (+10 100%, −10 0%)" in result.output
    assert "serves_goal/change contradictions 6 (100%)" in result.output
    assert "structured output: counselor" in result.output and "judge 6 calls, 0 retries, 0 gave up" in result.output
    assert "seeker replies regenerated 0 (0%), replaced 0 (0%)" in result.output
    assert "warning: 100% of judged turns" in result.output
    assert f"warning: {SMOKE_TEST_WARNING}" in result.output
    assert json.loads((out / "summary.json").read_text())["judge_health"]["smoke_test"] is True


# -- old runs ---------------------------------------------------------------------------------------------------
async def test_an_old_run_without_health_data_still_loads_and_reports(tmp_path):
    await run_world(tmp_path, judge_model([3, -2], ["yes", "no"]), seeker_model(SEEKER_LINES), max_turns=3)
    db = tmp_path / "run" / "run.sqlite"
    with sqlite3.connect(db) as conn:  # make it a schema-1 file: no health column, no regeneration reasons
        conn.execute("ALTER TABLE episodes DROP COLUMN health")
        conn.execute("UPDATE turns SET extra = json_remove(extra, '$.seeker_regenerated')")
    old = load_run(tmp_path / "run")
    assert all(e.health == {} for e in old.episodes)
    h = summarize(old)["judge_health"]
    assert h["judged_turns"] == 6 and h["contradictions"] == 0  # computable from the turns
    assert h["structured_output"] is None and h["seeker_regenerated"] is None
    assert h["seeker_rejections_by_reason"] is None and h["seeker_fallbacks"] == 0
    html = render_report(old)
    assert "recorded before structured-output retries were counted" in html and "not recorded" in html
    # opening it for writing (resume) migrates the file in place
    RunStore.create_or_resume(tmp_path / "run", spec(max_turns=3), resume=True).close()
    with sqlite3.connect(db) as conn:
        assert "health" in {row[1] for row in conn.execute("PRAGMA table_info(episodes)")}
    assert load_run(tmp_path / "run").episodes[0].health == {}


async def test_health_crosses_the_process_executor(tmp_path):
    run = await arun_simulation(spec(max_turns=2, executor="process", concurrency=2), tmp_path / "run")
    assert all(e.status == "done" for e in run.episodes)
    assert all(e.health["structured"]["judge"]["calls"] == e.seeker_turns for e in run.episodes)
