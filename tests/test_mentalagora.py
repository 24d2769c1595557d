"""MentalAgora with fake models: parallel debaters, R rounds × N stances, preferences in the tailored counselor."""

from __future__ import annotations

import asyncio
import time

from langchain_core.messages import HumanMessage

from escgraph.agents.counselor_creator import stated_preferences
from escgraph.graphs import build_graph
from escgraph.llm import FakeChatModel


class TimedFake(FakeChatModel):
    """Records when each debater call starts and ends; every call takes ``delay`` seconds of event-loop time."""

    delay: float = 0.2
    spans: list = []

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001
        start = time.monotonic()
        await asyncio.sleep(self.delay)
        result = self._generate(messages, stop, None, **kwargs)
        if "debating with counselors" in messages[0].text:
            self.spans.append((start, time.monotonic(), messages[0].text.split(":")[0]))
        return result


def responder(messages, schema):
    name = getattr(getattr(schema, "source", schema), "__name__", "")
    if name == "CounselorDesign":
        return {"strategy": "Providing Suggestions", "stage": "action", "persona": "a practical coach",
                "instruction": "Suggest making a list of three things to do tomorrow."}
    if schema is not None:
        return None
    system = messages[0].text
    if "debating with counselors" in system:
        stance = system.split("holds one stance: ")[1].split(".")[0]
        return f"As {stance}, I would validate the stress first."
    return "That sounds exhausting; I'm here with you."


async def test_debaters_run_concurrently_and_every_round_is_recorded():
    model = TimedFake(responder=responder, spans=[])
    graph = build_graph("mentalagora", models={"counselor": model}, rounds=2)
    out = await graph.ainvoke({"messages": [HumanMessage("My boss yelled at me in front of everyone.")]})
    assert len(out["debate"]) == 2 * 4
    assert sorted({(e["round"], e["stance"]) for e in out["debate"]}) == sorted(
        (r, s) for r in (1, 2) for s in ("reframing", "positive_regard", "solution_focused",
                                         "motivational_interviewing"))
    first_round = sorted(model.spans)[:4]
    latest_start = max(s for s, _, _ in first_round)
    earliest_end = min(e for _, e, _ in first_round)
    assert latest_start < earliest_end  # all four first-round debaters were running at the same time
    assert out["reply"]


async def test_round_two_debaters_see_round_one():
    seen = []

    def spy(messages, schema):
        if schema is None and "debating with counselors" in messages[0].text:
            seen.append(messages[-1].text)
        return responder(messages, schema)

    graph = build_graph("mentalagora", models={"counselor": FakeChatModel(responder=spy)}, rounds=2,
                        stances=[{"key": "a", "name": "Stance A", "view": "view a"},
                                 {"key": "b", "name": "Stance B", "view": "view b"}])
    await graph.ainvoke({"messages": [HumanMessage("I can't sleep.")]})
    round_one = [s for s in seen if s.endswith("(round 1):")]
    round_two = [s for s in seen if s.endswith("(round 2):")]
    assert len(round_one) == len(round_two) == 2
    assert all("nobody has spoken yet" in s for s in round_one)
    assert all("[Stance A, round 1]" in s and "[Stance B, round 1]" in s for s in round_two)


def test_tailored_instruction_honours_just_listen_no_advice():
    graph = build_graph("mentalagora", models={"counselor": FakeChatModel(responder=responder)}, rounds=1)
    out = graph.invoke({"messages": [HumanMessage("Please just listen, no advice. My sister stopped talking to me.")]})
    assert out["plan"]["preferences"] == ["listen_only"]
    assert "give no advice" in out["plan"]["guidance"]
    assert out["strategy"] == "Reflection of feelings"  # the model's "Providing Suggestions" is overridden


def test_tailored_instruction_honours_be_direct():
    graph = build_graph("mentalagora", models={"counselor": FakeChatModel(responder=responder)}, rounds=1)
    out = graph.invoke({"messages": [HumanMessage("Be direct with me. Am I wasting my time in this degree?")]})
    assert "direct" in out["plan"]["preferences"] and "say it plainly" in out["plan"]["guidance"]
    assert out["strategy"] == "Providing Suggestions"


def test_preferences_latest_statement_wins():
    msgs = [HumanMessage("I just want to vent."), HumanMessage("Okay, actually, what should I do?")]
    assert stated_preferences(msgs) == ["wants_advice"]
    assert stated_preferences([HumanMessage("My cat is sick.")]) == []


def test_crisis_goes_to_the_safety_gate_without_a_debate():
    graph = build_graph("mentalagora", models={"counselor": FakeChatModel(responder=responder)})
    out = graph.invoke({"messages": [HumanMessage("I want to kill myself tonight.")]})
    assert out["reply_source"] == "safety_gate" and not out.get("debate")
