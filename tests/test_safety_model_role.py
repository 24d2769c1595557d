"""The safety gate's second opinion chosen per run: the ``safety`` model role, ``--safety-model`` and
``--safety-format`` in simulate, evolve, chat and ``safety check``."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typer.testing import CliRunner

from escgraph.agents.safety import SafetyDetector, default_detector
from escgraph.agents.safety_gate import SafetyGate, detector_of
from escgraph.cli._app import cli_app
from escgraph.llm import FakeChatModel
from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import arun_simulation, load_role_models
from escgraph.simulations.spec import RunSpec
from escgraph.types import ESCContext, ESCState

AMBIGUOUS = "I can't do this anymore."  # one weak rule: the detector asks its model


def _guard(answer: str = "unsafe\nS1") -> FakeChatModel:
    def respond(messages, schema):
        assert schema is None and "<BEGIN UNSAFE CONTENT CATEGORIES>" in messages[-1].content
        return answer

    return FakeChatModel(responder=respond)


def test_context_safety_role_gives_the_default_detector_a_second_opinion():
    guard = _guard()
    context = ESCContext(models={"counselor": "fake", "safety": guard}, safety={"format": "llama_guard"})
    detector = detector_of(context.safety, context.models, context.model)
    assert detector is not default_detector() and detector.model is guard and detector.model_format == "llama_guard"
    assert detector._index is default_detector()._index  # shared, not rebuilt per turn
    verdict = detector.check(AMBIGUOUS)
    assert len(guard.calls) == 1 and verdict.crisis and any("guard: unsafe" in r for r in verdict.reasons)
    assert default_detector().model is None  # the shared default is not changed


def test_context_without_safety_role_keeps_the_default_detector():
    assert detector_of(None, {"counselor": "fake"}, None) is default_detector()
    mine = SafetyDetector(use_embeddings=False)
    assert detector_of(mine, {"safety": _guard()}, None) is mine


@pytest.mark.parametrize("choice, models, message", [
    ("llama_guard", {}, "SafetyDetector or a mapping"),
    ({"fromat": "llama_guard"}, {}, "unknown key"),
    ({"format": "llama_guard"}, {"counselor": "fake"}, "needs a model for the 'safety' role"),
    ({"format": "json"}, {"safety": "fake"}, "model_format must be one of"),
])
def test_bad_context_safety_choices_are_named(choice, models, message):
    with pytest.raises(ValueError, match=message):
        detector_of(choice, models, lambda role: _guard())


def test_gate_node_asks_the_runs_guard():
    guard = _guard()
    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", SafetyGate())
    builder.add_edge(START, "safety_gate")
    builder.add_edge("safety_gate", END)
    out = builder.compile().invoke({"messages": [("human", AMBIGUOUS)]},
                                   context=ESCContext(models={"safety": guard}, safety={"format": "llama_guard"}))
    assert guard.calls and out["safety"]["crisis"] and out["reply_source"] == "safety_gate"


def _spec(**kw) -> RunSpec:
    profile = SeekerProfile(id="p1", problem_type="job", situation="I lost my job.", persona="tired")
    return RunSpec(models={"counselor": "fake"}, profiles=[profile], max_turns=1, **kw)


def test_runspec_safety_fields_hash_only_when_set():
    plain = _spec()
    assert "safety_model" not in plain.result_config()
    assert _spec(safety_format="structured").config_hash() == plain.config_hash()
    guarded = _spec(safety_model="fake", safety_format="llama_guard")
    assert guarded.config_hash() != plain.config_hash()
    assert guarded.result_config()["safety_format"] == "llama_guard"
    assert _spec(safety_model="fake", role_base_urls={"safety": "http://127.0.0.1:9/v1"}).base_url_for("safety")
    with pytest.raises(ValueError, match="needs a safety_model"):
        _spec(safety_format="llama_guard")
    with pytest.raises(ValueError, match="give a model spec"):
        _spec(safety_model="  ")


def test_load_role_models_adds_the_safety_role_only_when_named():
    assert "safety" not in load_role_models(_spec())
    models = load_role_models(_spec(safety_model="fake"))
    assert isinstance(models["safety"], FakeChatModel)


def _probe_graph():
    """Asks the run's detector about a fixed ambiguous message on every turn (the seeker's lines vary)."""

    def probe(state: ESCState, runtime: Runtime[ESCContext]) -> dict:
        context = runtime.context
        verdict = detector_of(context.safety, context.models, context.model).check(AMBIGUOUS)
        reply = f"crisis={verdict.crisis}"
        return {"messages": [AIMessage(reply)], "reply": reply, "reply_source": "model"}

    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("probe", probe)
    builder.add_edge(START, "probe")
    builder.add_edge("probe", END)
    return builder.compile()


async def test_simulation_episodes_reach_the_safety_model(tmp_path):
    guard = _guard()
    spec = _spec(safety_model="fake", safety_format="llama_guard", graph="object:probe")
    fake = FakeChatModel()
    run = await arun_simulation(spec, tmp_path / "run", models={"counselor": fake, "seeker": fake, "judge": fake,
                                                                 "safety": guard},
                                graph=_probe_graph(), write_report=False)
    episode = run.episodes[0]
    assert episode.status == "done" and guard.calls
    assert episode.turns[1].text == "crisis=True"


def test_cli_safety_flags(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["simulate", "--safety-format", "llama_guard", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--safety-format llama_guard needs --safety-model" in result.output
    result = runner.invoke(cli_app(), ["safety", "check", "--safety-model", "fake", "--safety-format", "llama_guard",
                                 "hello there"])
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["crisis"] is False
    result = runner.invoke(cli_app(), ["chat", "--model", "fake", "--safety-model", "fake", "--safety-format", "bogus"],
                           input="hi\n")
    assert result.exit_code == 2 and "bogus" in result.output


# -- concurrent checks are scored in batches -----------------------------------------------------------------------

async def test_concurrent_checks_are_batched_with_the_same_verdicts():
    import asyncio

    detector = SafetyDetector(use_embeddings=False)
    texts = [f"message {i}: I can't do this anymore" if i % 3 == 0 else f"message {i}: nice weather today"
             for i in range(24)]
    batches = []
    score = detector._score_without_model

    def counting(items):
        batches.append(len(items))
        return score(items)

    detector._score_without_model = counting
    verdicts = await asyncio.gather(*(detector.acheck(t) for t in texts))
    assert [v.model_dump() for v in verdicts] == [detector.check(t).model_dump() for t in texts]
    assert sum(batches[:len(batches) - len(texts)]) == len(texts) and len(batches) - len(texts) < len(texts)


async def test_a_cancelled_check_does_not_break_the_batch():
    import asyncio

    detector = SafetyDetector(use_embeddings=False)
    first = asyncio.ensure_future(detector.acheck("I want to die"))
    second = asyncio.ensure_future(detector.acheck("the exam is killing me"))
    await asyncio.sleep(0)
    first.cancel()
    assert not (await second).crisis
    assert (await detector.acheck("I want to die")).crisis


def _assessing(category: str, confidence: float = 0.9) -> FakeChatModel:
    from escgraph.agents.safety._model_check import RiskAssessment

    return FakeChatModel(responder=lambda messages, schema: RiskAssessment(
        category=category, confidence=confidence, reason="test"))


def test_a_model_may_clear_an_ambiguous_crisis_only_when_allowed():
    detector = SafetyDetector(use_embeddings=False, ambiguous=(0.25, 0.99))
    text = "I won't be around much longer"  # a crisis by a rule below the strong weight: the model is asked
    assert detector.check(text).crisis
    kept = detector.with_model(_assessing("none")).check(text)
    assert kept.crisis and any("may only raise" in r for r in kept.reasons)
    cleared = SafetyDetector(model=_assessing("none"), model_may_clear=True, use_embeddings=False,
                             ambiguous=(0.25, 0.99)).check(text)
    assert not cleared.crisis and any("model: no risk" in r for r in cleared.reasons)


@pytest.mark.parametrize("args, message", [
    (["--safety-model", "  "], "--safety-model is empty"),
    (["--safety-base-url", "http://127.0.0.1:9/v1"], "--safety-base-url needs --safety-model"),
    (["--safety-model", "local:/no/such/model.gguf"], "GGUF model file not found"),
])
def test_bad_safety_options_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--n", "1", "--max-turns", "1",
                                            "--out", str(out), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    if "safety-" in message:  # option errors stop before the run folder is made (a model that cannot load is
        assert not out.exists()  # found after it, as for every role: the folder is prepared first by design)
