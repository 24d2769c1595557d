"""The safety gate: detector quality on the dev set, figures of speech, the gate as a graph node, replies, bad input."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph

import escgraph.agents.safety as safety_pkg
from escgraph import embeddings
from escgraph.agents.safety import SafetyDetector, load_resources, resolve_locale, safety_reply
from escgraph.agents.safety_gate import SafetyGate, route_after_safety
from escgraph.types import ESCContext, ESCState, SafetyVerdict

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def detector() -> SafetyDetector:
    return SafetyDetector()


def _cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


# -- public surface ------------------------------------------------------------------------------------------------

def test_exported_names_are_pinned():
    assert set(safety_pkg.__all__) == {
        "CATEGORIES", "CrisisResources", "EmbeddingCalibration", "ResourceBook", "SafetyDetector", "SafetyVerdict",
        "default_detector", "guess_language", "load_resources", "resolve_locale", "safety_reply"}
    assert safety_pkg.CATEGORIES == ("suicide", "self_harm", "abuse", "violence", "acute_danger")


# -- quality -------------------------------------------------------------------------------------------------------

def test_dev_set_is_big_enough_and_well_formed():
    cases = _cases("safety_dev.jsonl")
    crisis = [c for c in cases if c["crisis"]]
    assert len(cases) >= 80 and len(crisis) >= 35 and len(cases) - len(crisis) >= 45
    assert all(c["category"] in (*safety_pkg.CATEGORIES, "none") for c in cases)
    assert all((c["category"] == "none") != c["crisis"] for c in cases)


@pytest.mark.parametrize("name", ["safety_dev.jsonl", "safety_holdout.jsonl", "safety_extra.jsonl"])
def test_flags_every_crisis_and_few_ordinary_messages(detector, name):
    cases = _cases(name)
    verdicts = detector.check_many([c["text"] for c in cases])
    missed = [c["text"] for c, v in zip(cases, verdicts) if c["crisis"] and not v.crisis]
    false_alarms = [c["text"] for c, v in zip(cases, verdicts) if not c["crisis"] and v.crisis]
    calm = sum(not c["crisis"] for c in cases)
    assert missed == []
    assert len(false_alarms) <= calm / 20, false_alarms


@pytest.mark.parametrize("text", [
    "This exam is killing me.",
    "I could kill for a coffee.",
    "My feet are killing me after the hike.",
    "I'm dying to see it!",
    "I'm dead tired.",
    "Let's play a game to kill time.",
    "Shoot me an email when you can.",
    "She killed it on stage tonight.",
    "I'd rather die than sing karaoke.",
    "My mom is going to kill me when she sees my report card.",
    "The movie ends with the hero's suicide, it was so sad.",
    "I'm reading the news about the shooting, it's awful.",
    "He beats me at chess every single time.",
])
def test_figures_of_speech_and_media_talk_are_not_crises(detector, text):
    verdict = detector.check(text)
    assert verdict.crisis is False and verdict.category == "none", verdict.reasons


@pytest.mark.parametrize("text, category", [
    ("I want to kill myself", "suicide"),
    ("I took all my pills an hour ago", "acute_danger"),
    ("I've been cutting my arms again", "self_harm"),
    ("My boyfriend hits me when he's drunk", "abuse"),
    ("I'm going to stab him tomorrow, I have the knife ready", "violence"),
    ("The movie made me realise I want to kill myself", "suicide"),  # strong hits survive media talk
])
def test_categories(detector, text, category):
    verdict = detector.check(text)
    assert verdict.crisis and verdict.category == category, verdict.reasons


def test_verdict_explains_itself(detector):
    verdict = detector.check("Everyone would be better off without me.")
    assert isinstance(verdict, SafetyVerdict) and 0.0 <= verdict.score <= 1.0
    assert {"rules", "embedding"} <= verdict.signals.keys()
    assert any("better_off_without_me" in r for r in verdict.reasons)
    assert verdict.language == "en"


def test_rules_only_detector_needs_no_embedder():
    verdict = SafetyDetector(use_embeddings=False).check("quiero morirme")
    assert verdict.crisis and verdict.category == "suicide" and verdict.language == "es"


async def test_acheck_matches_check(detector):
    text = "I have been saving up my sleeping pills."
    assert (await detector.acheck(text)).crisis == detector.check(text).crisis is True
    many = await detector.acheck_many(["hello there", text])
    assert [v.crisis for v in many] == [False, True]


# -- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "", "   ", None, b"\xff\xfe bytes", 12345, "\x00\x01\x02\x1b[31m\x7f", "\ufffd" * 5000,
    "I\u200b want\u200b to\u200b die",
])
def test_odd_input_returns_a_verdict(detector, text):
    verdict = detector.check(text)
    assert isinstance(verdict, SafetyVerdict) and 0.0 <= verdict.score <= 1.0


def test_zero_width_characters_do_not_hide_a_crisis(detector):
    assert detector.check("I\u200b want\u200b to\u200b die").crisis


def test_megabyte_message_is_checked_at_both_ends(detector):
    filler = "I went to the shops and bought some bread. " * 25_000  # ~1 MB
    assert len(filler) > 1_000_000
    assert detector.check(filler).crisis is False
    assert detector.check(filler + " I have decided to kill myself tonight.").crisis is True
    assert detector.check("I want to end my life. " + filler).crisis is True


def test_embedder_is_loaded_once(detector):
    detector.check("warm up")
    first = embeddings.get_embedder()
    found: list[object] = []
    threads = [threading.Thread(target=lambda: found.append(embeddings.get_embedder())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    SafetyDetector().check("another detector shares the same model")
    assert all(model is first for model in found) and embeddings.get_embedder() is first
    assert embeddings.embed([]).shape == (0, embeddings.EMBEDDING_DIM)
    vectors = embeddings.embed(["hello", "world"])
    assert vectors.shape == (2, embeddings.EMBEDDING_DIM)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4


# -- optional model ------------------------------------------------------------------------------------------------

def _model(category: str, confidence: float = 0.9):
    from escgraph.agents.safety._model_check import RiskAssessment
    from escgraph.llm import FakeChatModel

    return FakeChatModel(responder=lambda messages, schema: RiskAssessment(
        category=category, confidence=confidence, reason="test"))


def test_model_is_asked_only_when_ambiguous_and_never_clears_a_strong_rule():
    clearing = _model("none")
    detector = SafetyDetector(model=clearing)
    assert detector.check("I want to kill myself").crisis is True  # strong rule: model not asked
    assert detector.check("What a lovely sunny day").crisis is False  # clearly calm: model not asked
    assert clearing.calls == []
    ambiguous = "I can't do this anymore."  # a weak rule only
    assert SafetyDetector(use_embeddings=False).check(ambiguous).score >= 0.25
    raising = _model("suicide")
    verdict = SafetyDetector(model=raising, use_embeddings=False).check(ambiguous)
    assert len(raising.calls) == 1 and verdict.crisis and verdict.category == "suicide"
    assert "model" in verdict.signals


def test_broken_model_keeps_the_rule_verdict():
    class Broken:
        def with_structured_output(self, schema):
            raise RuntimeError("no network")

    verdict = SafetyDetector(model=Broken(), use_embeddings=False).check("I can't do this anymore.")
    assert isinstance(verdict, SafetyVerdict)


# -- replies -------------------------------------------------------------------------------------------------------

def _verdict(category: str = "suicide", language: str | None = "en") -> SafetyVerdict:
    return SafetyVerdict(crisis=True, category=category, score=0.95, language=language)


@pytest.mark.parametrize("locale, expected", [
    ("en", "988"), ("en-US", "988"), ("en_GB", "116 123"), ("en-IE", "116 123"), ("en-AU", "13 11 14"),
    ("en-CA", "988"), ("es-ES", "024"), ("fr-FR", "3114"), ("de-DE", "0800 111 0 111"),
    ("it-IT", "02 2327 2327"), ("pt-BR", "188"), ("en-IN", "14416"), ("ja-JP", "0120-279-338"),
])
def test_reply_names_local_crisis_line(locale, expected):
    language = locale.replace("_", "-").split("-")[0]
    assert expected in safety_reply(_verdict(language=language), locale)


@pytest.mark.parametrize("locale", ["xx-YY", "klingon", "", None, 42, "de-LU", "pt_PT.UTF-8"])
def test_unknown_locales_fall_back_without_crashing(locale):
    reply = safety_reply(_verdict(), locale)
    assert "findahelpline.com" in reply


def test_locale_resolution():
    assert resolve_locale("en") == "en-US" and resolve_locale("de_DE.UTF-8") == "de-DE"
    assert resolve_locale("de-LU") == "de-DE"  # language default
    assert resolve_locale("xx") == ""  # international


def test_abuse_reply_names_emergency_and_abuse_help():
    reply = safety_reply(_verdict("abuse"), "en-GB")
    assert "999" in reply and "0808 2000 247" in reply
    assert "not your fault" in reply


def test_reply_follows_message_language():
    reply = safety_reply(_verdict(language="es"), "es-ES")
    assert "024" in reply and "Gracias" in reply
    assert "Thank you" in safety_reply(_verdict(language=None), "en")


def test_custom_resources_file(tmp_path):
    path = tmp_path / "resources.yaml"
    path.write_text("locales:\n  en-XX:\n    crisis: ['Test line: 555']\n    emergency: '000-TEST'\n")
    book = load_resources(path)
    reply = safety_reply(_verdict(), "en-XX", resources=book)
    assert "Test line: 555" in reply and "000-TEST" in reply
    (tmp_path / "bad.yaml").write_text("locales: [1, 2]")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_resources(tmp_path / "bad.yaml")


# -- the gate as a graph node --------------------------------------------------------------------------------------

def _graph(gate: SafetyGate):
    def counselor(state):
        return {"reply": "counselor reply", "reply_source": "model", "messages": [AIMessage("counselor reply")]}

    builder = StateGraph(ESCState, context_schema=ESCContext)
    builder.add_node("safety_gate", gate)
    builder.add_node("counselor", counselor)
    builder.add_edge(START, "safety_gate")
    builder.add_conditional_edges("safety_gate", route_after_safety, {"crisis": END, "continue": "counselor"})
    builder.add_edge("counselor", END)
    return builder.compile()


def test_gate_short_circuits_to_the_safety_reply(detector):
    graph = _graph(SafetyGate(detector=detector))
    out = graph.invoke({"messages": [HumanMessage("I've written my goodbye letters, tonight I end it all.")]})
    assert out["safety"]["crisis"] is True and out["reply_source"] == "safety_gate"
    assert out["strategy"] == "Others" and "988" in out["reply"]
    assert out["messages"][-1].content == out["reply"] and out["messages"][-1].name == "safety_gate"

    calm = graph.invoke({"messages": [HumanMessage("This exam is killing me.")]})
    assert calm["safety"]["crisis"] is False and calm["reply"] == "counselor reply"


async def test_gate_uses_context_detector_and_locale(detector):
    graph = _graph(SafetyGate())
    out = await graph.ainvoke({"messages": [HumanMessage("I want to die")]},
                              context=ESCContext(safety=detector, locale="en-GB"))
    assert out["safety"]["crisis"] and "116 123" in out["reply"]


async def test_gate_direct_calls(detector):
    gate = SafetyGate(detector=detector, locale="fr-FR")
    assert gate({"messages": []}) == {"safety": gate({"messages": []})["safety"]}
    assert gate({})["safety"]["category"] == "none"
    only_ai = gate({"messages": [AIMessage("How are you?")]})
    assert only_ai["safety"]["crisis"] is False
    update = await gate.acall({"messages": [HumanMessage("Je veux mourir"), AIMessage("...")]})
    assert update["safety"]["crisis"] and "3114" in update["reply"]
    assert gate({"messages": [{"role": "user", "content": "I want to kill myself"}]})["safety"]["crisis"]
    assert route_after_safety({"safety": update["safety"]}) == "crisis"
    assert route_after_safety({}) == "continue"


async def test_gate_does_not_block_the_event_loop(detector):
    gate = SafetyGate(detector=detector)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await gate.acall({"messages": [HumanMessage("a long message. " * 400)]})
    task.cancel()
    assert ticks > 0
