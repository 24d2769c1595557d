"""The SAGE seeker-judge (Sentient Agent as a Judge): the simulated seeker *is* the judge (ARCHITECTURE.md §5).

Each seeker turn first assesses the counselor's last reply as structured output — what it meant, whether it serves
the seeker's goal and hidden intent, the inner reaction, the feeling, and a signed change clipped to
±``change_limit`` — updates the emotion score (capped at ``success_at``), then replies in character in the style
of its emotion band. The seeker and the judge are separate model roles (``seeker``, ``judge``) so a run can use a
stronger judge than seeker. The hidden intent steers both, but the seeker never states it nor says it is simulated;
a reply that would is regenerated, then replaced by a neutral in-character line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from langchain_core.callbacks import Callbacks
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.agents import as_chat, clean_reply, dialogue_lines, is_degenerate, message_text, role_config
from escgraph.profiles import SeekerProfile
from escgraph.prompts import PromptTemplate, load_data, load_prompt
from escgraph.simulations.spec import SageSettings

__all__ = ["JudgeAssessment", "SageSeeker", "SeekerTurn", "says_goodbye", "reveals_too_much", "echoes",
           "rejection_reason", "REJECTION_REASONS"]

# Why a seeker line was rejected: empty or looping; says it is simulated or recites its hidden intent; opens in
# the supporter's voice; repeats the counselor's last reply.
REJECTION_REASONS: tuple[str, ...] = ("degenerate", "reveals", "role_swap", "echo")

_PROMPTS = "escgraph.simulations.prompts"


class JudgeAssessment(BaseModel):
    """The judge's private assessment of one counselor reply. Strings are bounded so constrained decoding on a
    small model always closes the JSON; the reasoning comes before the number, as in SAGE."""

    meaning: str = Field(max_length=160, description="what the supporter's reply said or asked, in a few words")
    serves_goal: Literal["yes", "partly", "no"] = Field(description="does it serve what the seeker truly needs")
    inner_reaction: str = Field(max_length=200, description="the seeker's honest inner thoughts about the reply")
    feeling: str = Field(max_length=100, description="how the seeker feels now, in a few words")
    # The bounds guide constrained decoding and the model's instructions; a value outside them (a strong model
    # answering 15) is clipped by the protocol, not rejected, so it is not validated here.
    change: int = Field(description="signed change of the emotion score, from -10 to 10",
                        json_schema_extra={"minimum": -10, "maximum": 10})


@dataclass
class SeekerTurn:
    """One judged seeker turn: the assessment, the emotion before and after, and the seeker's reply."""

    assessment: JudgeAssessment
    change: float
    emotion_before: float
    emotion_after: float
    band: str
    text: str


_GOODBYE = re.compile(
    r"\b(?:good ?bye|bye(?: now)?|see you|talk (?:to you )?later|i(?:'ve| have) (?:got )?to go|gotta go|"
    r"i'?ll (?:leave|stop) (?:it )?(?:here|there)|i'?m (?:going to |gonna )?(?:log off|leave now|done here))\b",
    re.IGNORECASE,
)
_SIMULATION_TELL = re.compile(
    r"\b(?:as an ai|language model|simulat\w*|role[- ]?play\w*|hidden intent|my (?:secret|hidden) (?:goal|need)|"
    r"i am (?:an? )?(?:ai|bot|chatbot)|what i (?:really |truly )?need from (?:you|this(?: conversation| chat)?))\b",
    re.IGNORECASE,
)
# Openers of a supporter's voice: a seeker line starting this way has swapped roles (common on small models).
_SUPPORTER_VOICE = re.compile(
    r"^\W*(?:i'?m (?:so |really |very )?sorry (?:to hear|that you|for what)|it'?s (?:completely |totally |perfectly )?"
    r"(?:understandable|normal to feel|okay to feel)|i (?:can |completely |totally )?understand (?:how|that|what|your)|"
    r"(?:that|it) sounds (?:like|really|so)|i hear (?:you|that)|thank you for sharing)",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[a-z']{4,}")


def says_goodbye(text: str) -> bool:
    return bool(_GOODBYE.search(text))


def reveals_too_much(text: str, hidden_intent: str | None) -> bool:
    """True when a seeker line admits being simulated or recites its hidden intent (most of its content words)."""
    if _SIMULATION_TELL.search(text):
        return True
    if not hidden_intent:
        return False
    intent = set(_WORDS.findall(hidden_intent.lower())) - {"wants", "want", "that", "with", "what", "their", "them"}
    said = set(_WORDS.findall(text.lower()))
    return len(intent) >= 3 and len(intent & said) / len(intent) >= 0.75


def echoes(text: str, other: str, *, threshold: float = 0.35) -> bool:
    """True when ``text`` speaks in the supporter's voice or largely repeats ``other`` (small models playing
    the seeker parrot the counselor)."""
    return swaps_role(text) or repeats(text, other, threshold=threshold)


def swaps_role(text: str) -> bool:
    """True when a seeker line opens in the supporter's voice ("I'm sorry to hear...")."""
    return bool(_SUPPORTER_VOICE.search(text))


def repeats(text: str, other: str, *, threshold: float = 0.35) -> bool:
    """True when at least ``threshold`` of ``text``'s word trigrams also occur in ``other``."""
    def trigrams(value: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z']+", value.lower())
        return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}

    mine, theirs = trigrams(text), trigrams(other)
    return bool(mine) and len(mine & theirs) / len(mine) >= threshold


def rejection_reason(text: str, hidden_intent: str | None, last_reply: str) -> str | None:
    """Why a seeker line cannot be used (one of :data:`REJECTION_REASONS`), or None when it can."""
    if is_degenerate(text):
        return "degenerate"
    if reveals_too_much(text, hidden_intent):
        return "reveals"
    if swaps_role(text):
        return "role_swap"
    if repeats(text, last_reply):
        return "echo"
    return None


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class SageSeeker:
    """A simulated seeker that judges every counselor reply before answering it.

    ``emotion`` holds the current score. Use :meth:`opening`, then per counselor reply :meth:`assess` and
    :meth:`reply` (or :meth:`turn`, which does both). All calls are async; model calls are tagged with the
    ``judge`` and ``seeker`` roles for token accounting. ``callbacks`` is a handler list or a callback manager (an
    episode passes its trace's, so the calls nest under the episode's run).
    """

    def __init__(self, profile: SeekerProfile, *, seeker_model: BaseChatModel, judge_model: BaseChatModel,
                 sage: SageSettings | None = None, judge_prompt: PromptTemplate | str | None = None,
                 seeker_prompt: PromptTemplate | str | None = None, callbacks: Callbacks = None,
                 retries: int = 1) -> None:
        self.profile = profile
        self.sage = sage or SageSettings()
        self.seeker_model = seeker_model
        self.judge_model = judge_model
        self.judge_prompt = _prompt(judge_prompt, "sage_judge")
        self.seeker_prompt = _prompt(seeker_prompt, "sage_seeker")
        self.band_styles: dict[str, str] = load_data("sage_seeker", _PROMPTS)["bands"]
        self.callbacks = callbacks or []
        self.retries = retries
        start = profile.initial_emotion if "initial_emotion" in profile.model_fields_set else None
        self.emotion = float(start if start is not None else self.sage.initial_emotion)
        self.feeling = profile.emotion_type or "upset"
        self.fallbacks = 0  # replies the model could not write in character (recorded per turn)
        self.last_rejections: list[str] = []  # why each model line of the latest reply was rejected, in order

    # -- prompts ---------------------------------------------------------------------------------------------
    def _persona_values(self) -> dict[str, str]:
        p = self.profile
        return {
            "persona": p.persona.describe(),
            "situation": p.situation,
            "personality": p.personality or "ordinary, fairly open",
            "hidden_intent": p.hidden_intent or "to feel understood",
        }

    def judge_messages(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        reply = next((message_text(m) for m in reversed(messages) if isinstance(m, AIMessage)), "")
        system = self.judge_prompt.render("system", emotion=round(self.emotion), **self._persona_values())
        user = self.judge_prompt.render("user", dialogue=dialogue_lines(messages[:-1] or messages), reply=reply)
        return [SystemMessage(system), HumanMessage(user)]

    def seeker_messages(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        style = self.band_styles[self.sage.band(self.emotion)]
        system = self.seeker_prompt.render("system", feeling=self.feeling, band_style=style,
                                           **self._persona_values())
        return as_chat(messages, system, speaker="seeker")

    def _config(self, role: str, agent: str) -> dict:
        return {**role_config(role, agent, profile_id=self.profile.id), "callbacks": self.callbacks}

    # -- turns ------------------------------------------------------------------------------------------------
    async def opening(self) -> str:
        """The first seeker message: the profile's ``first_talk``, else one written in character."""
        if self.profile.first_talk:
            return self.profile.first_talk
        return await self._say([])

    async def assess(self, messages: list[BaseMessage]) -> tuple[JudgeAssessment, float, float]:
        """Judge the last counselor reply in ``messages``; returns (assessment, clipped change, emotion before)."""
        judge = self.judge_model.with_structured_output(JudgeAssessment)
        assessment = await judge.ainvoke(self.judge_messages(messages), config=self._config("judge", "sage_judge"))
        limit = self.sage.change_limit
        change = _clip(float(assessment.change), -limit, limit)
        before = self.emotion
        self.emotion = _clip(before + change, 0.0, self.sage.success_at)
        self.feeling = assessment.feeling.strip() or self.feeling
        return assessment, change, before

    async def reply(self, messages: list[BaseMessage]) -> str:
        return await self._say(messages)

    async def turn(self, messages: list[BaseMessage]) -> SeekerTurn:
        assessment, change, before = await self.assess(messages)
        text = await self.reply(messages)
        return SeekerTurn(assessment, change, before, self.emotion, self.sage.band(self.emotion), text)

    async def _say(self, messages: list[BaseMessage]) -> str:
        prompt = self.seeker_messages(messages)
        last_reply = next((message_text(m) for m in reversed(messages) if isinstance(m, AIMessage)), "")
        self.last_rejections = []
        for _ in range(self.retries + 1):
            raw = await self.seeker_model.ainvoke(prompt, config=self._config("seeker", "sage_seeker"))
            text = clean_reply(message_text(raw), max_sentences=2)
            reason = rejection_reason(text, self.profile.hidden_intent, last_reply)
            if reason is None:
                return text
            self.last_rejections.append(reason)
        self.fallbacks += 1
        return self._fallback_line(len(messages))

    def _fallback_line(self, position: int) -> str:
        """An in-character line for when the model cannot produce a usable one, grounded in the profile."""
        band = self.sage.band(self.emotion)
        if band == "S":
            return "Thank you, this really helped. I think I can take it from here. Goodbye."
        if band == "F":
            return "I don't think this is helping. I'll stop here."
        # the situation's first sentence: a whole multi-sentence situation reads like a recited file
        situation = re.split(r"(?<=[.!?])\s+", self.profile.situation.strip())[0].rstrip(".!? ")
        lines = {
            "A": ["That helps a little. {s}, and I'm trying to see it more clearly.",
                  "Okay, that makes sense. It's still hard: {s}."],
            "B": ["I don't know. {s}, and it keeps going round in my head.",
                  "It's hard to explain. {s}."],
            "C": ["That doesn't really help. {s}.", "I'm not sure talking changes anything. {s}."],
        }.get(band, ["{s}."])
        return lines[position % len(lines)].format(s=situation[0].upper() + situation[1:])

    @property
    def band(self) -> str:
        return self.sage.band(self.emotion)


def _prompt(value: PromptTemplate | str | None, default: str) -> PromptTemplate:
    if isinstance(value, PromptTemplate):
        return value
    return load_prompt(value) if value else load_prompt(default, _PROMPTS)

