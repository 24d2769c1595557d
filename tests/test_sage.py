"""The SAGE seeker-judge: clipped changes, capped emotion, band styles, and a seeker that stays in character."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from escgraph.llm import FakeChatModel
from escgraph.profiles import SeekerProfile
from escgraph.simulations.sage import JudgeAssessment, SageSeeker, echoes, reveals_too_much, says_goodbye
from escgraph.simulations.spec import SageSettings

PROFILE = SeekerProfile(
    id="p", situation="I was laid off last week. I have not told my family.", personality="passive",
    hidden_intent="wants to hear it is not their fault", first_talk="I lost my job.",
)
DIALOGUE = [HumanMessage("I lost my job."), AIMessage("That must be a shock. What happened?")]


def judge(change: int) -> FakeChatModel:
    return FakeChatModel(responder=lambda messages, schema: JudgeAssessment(
        meaning="asks what happened", serves_goal="partly", inner_reaction="fair question",
        feeling="a bit heard", change=change) if schema is not None else None)


async def test_change_is_clipped_and_emotion_capped():
    seeker = SageSeeker(PROFILE, seeker_model=FakeChatModel(), judge_model=judge(25))
    assert seeker.emotion == 40
    assessment, change, before = await seeker.assess(DIALOGUE)
    assert (assessment.change, change, before, seeker.emotion) == (25, 10, 40, 50)
    for _ in range(10):
        await seeker.assess(DIALOGUE)
    assert seeker.emotion == 100 and seeker.band == "S"
    low = SageSeeker(PROFILE, seeker_model=FakeChatModel(), judge_model=judge(-40))
    for _ in range(6):
        await low.assess(DIALOGUE)
    assert low.emotion == 0 and low.band == "F"


async def test_profile_initial_emotion_and_protocol_default():
    custom = PROFILE.model_copy(update={"initial_emotion": 25})
    custom.__pydantic_fields_set__.add("initial_emotion")
    assert SageSeeker(custom, seeker_model=FakeChatModel(), judge_model=judge(0)).emotion == 25
    settings = SageSettings(initial_emotion=55)
    assert SageSeeker(PROFILE, seeker_model=FakeChatModel(), judge_model=judge(0), sage=settings).emotion == 55


async def test_judge_sees_hidden_intent_and_the_last_reply():
    model = judge(3)
    seeker = SageSeeker(PROFILE, seeker_model=FakeChatModel(), judge_model=model)
    await seeker.assess(DIALOGUE)
    system, user = model.calls[0][0]
    assert "not their fault" in system.text and "40" in system.text
    assert "What happened?" in user.text


async def test_seeker_style_follows_band_and_hides_intent():
    said = FakeChatModel(responses=["I guess it was the budget cuts, but I still feel stupid."])
    seeker = SageSeeker(PROFILE, seeker_model=said, judge_model=judge(-10))
    turn = await seeker.turn(DIALOGUE)
    assert turn.band == "C" and turn.text.startswith("I guess")
    system = said.calls[0][0][0].text
    assert "frustrated" in system  # band C style
    assert "never say it outright" in system


async def test_seeker_line_that_breaks_character_is_replaced():
    for bad in ["As an AI language model I cannot feel.", "What I really need from this conversation is to hear it's not my fault.",
                "I'm so sorry to hear that. Losing a job is hard."]:
        model = FakeChatModel(responses=[bad])
        seeker = SageSeeker(PROFILE, seeker_model=model, judge_model=judge(0))
        text = await seeker.reply(DIALOGUE)
        assert text != bad and seeker.fallbacks == 1 and len(model.calls) == 2  # retried once, then fallback
        assert "laid off last week" in text and "not told my family" not in text  # first sentence only


def test_detectors():
    assert says_goodbye("Thanks, I have to go now. Bye!") and says_goodbye("Goodbye.")
    assert not says_goodbye("I keep thinking about my job.")
    assert reveals_too_much("this is just a simulation", None)
    # acting on the intent is in character; reciting it or naming it is not
    assert not reveals_too_much("It's not my fault, is it?", "wants to hear it is not their fault")
    assert reveals_too_much("What I truly need from you is to hear it is not my fault.", "wants reassurance")
    assert reveals_too_much("I would like guided reflection about my feelings and choices",
                            "wants guided reflection about feelings and choices")
    assert not reveals_too_much("I don't know what to do", "wants practical advice")
    assert echoes("I'm so sorry to hear that.", "anything")
    assert echoes("losing a job can be really tough for anyone", "Losing a job can be really tough for anyone.")
    assert not echoes("I lost my job and I feel awful", "Losing a job is hard.")
