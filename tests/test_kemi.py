"""KEMI: initiative labels and measures (hand-computed), the initiative decision's bounds, and the kemi graph."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from escgraph.agents.initiative import InitiativeDecider
from escgraph.agents.initiative_measures import content_words, initiative_measures, label_utterance
from escgraph.graphs import build_graph, get_graph_info
from escgraph.llm import FakeChatModel

DIALOGUE = [
    ("seeker", "I failed my driving test again."),                       # expression
    ("counselor", "That sounds frustrating after all your practice."),   # reflection
    ("seeker", "Thanks. It was the parking that went wrong."),          # feedback
    ("counselor", "Maybe try booking two extra parking lessons?"),       # action (suggest)
    ("seeker", "Yes, good idea."),                                      # feedback
    ("counselor", "What worries you most about the next test?"),         # action (ask)
]


def test_labels():
    after = [None, "seeker", "counselor", "seeker", "counselor", "seeker"]
    labels = [label_utterance(s, t, after_counselor=a == "counselor") for (s, t), a in zip(DIALOGUE, after)]
    assert labels == ["expression", "reflection", "feedback", "action", "feedback", "action"]
    assert label_utterance("counselor", "Many people find this stage very common.") == "action"  # informs


def test_measures_match_a_hand_computation():
    m = initiative_measures(DIALOGUE, relaxation=12.0)
    assert m.proactivity == round(2 / 3, 4)
    # content words: turn 2 {sounds, frustrating, practice} all new (3); turn 4 {maybe, try, booking, two, extra,
    # parking, lessons} - parking said before -> 6 new; turn 6 {worries, next, test} - test said before -> 2 new
    assert content_words("Maybe try booking two extra parking lessons?") == [
        "maybe", "try", "booking", "two", "extra", "parking", "lessons"]
    assert m.information == round((3 + 6 + 2) / 3, 4)
    # repetition: share of a counselor turn's words in the seeker's previous turn: 0/3, 1/7 (parking), 0/3
    assert m.repetition == round((0 + 1 / 7 + 0) / 3, 4)
    assert m.relaxation == 12.0 and len(m.labels) == 6


def decider(move: str, strategy: str):
    return InitiativeDecider(FakeChatModel(responses=[{"move": move, "strategy": strategy, "stage": "action",
                                                       "rationale": "the problem is clear now"}]))


def test_no_suggestion_before_the_seeker_has_said_enough():
    out = decider("suggest", "Providing Suggestions")({"messages": [HumanMessage("I feel awful.")]})
    assert out["plan"]["initiative"] == "ask" and out["strategy"] == "Question"


def test_reflect_after_too_many_initiative_moves_in_a_row():
    msgs = [HumanMessage("I feel awful."), AIMessage("What happened?"), HumanMessage("My exam."),
            AIMessage("Maybe try a study group?"), HumanMessage("Maybe.")]
    out = decider("suggest", "Providing Suggestions")({"messages": msgs})
    assert out["plan"]["initiative"] == "reflect" and out["strategy"] == "Reflection of feelings"


def test_kemi_graph_uses_retrieved_cases_in_the_reply_prompt():
    seen = []

    def respond(messages, schema):
        if schema is None:
            seen.append(messages[0].text)
            return "That sounds so painful; I'm here."
        if getattr(getattr(schema, "source", schema), "__name__", "") == "InitiativeDecision":
            return {"move": "reflect", "strategy": "Reflection of feelings", "stage": "comforting",
                    "rationale": "they need to feel heard"}
        return None

    graph = build_graph("kemi", models={"counselor": FakeChatModel(responder=respond)})
    out = graph.invoke({"messages": [HumanMessage("My partner of many years left me and the flat feels empty.")]})
    cases = [r for r in out["retrieved"] if r["kind"] == "knowledge"]
    assert cases and cases[0]["id"] == "t2"
    assert out["plan"]["initiative"] == "reflect" and "t2" in out["plan"]["cases"]
    assert cases[0]["responses"][0]["text"] in seen[-1]  # the supporter saw what helped in similar cases
    assert get_graph_info("kemi").name == "kemi"
