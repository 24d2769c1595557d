"""A simple simulated seeker that plays a profile. The SAGE seeker-judge (simulations) builds on it."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import as_chat, message_text
from escgraph.agents._flow import Flow, ask
from escgraph.agents._models import resolve_model, resolve_prompt, role_config
from escgraph.agents._text import clean_reply, is_degenerate
from escgraph.profiles import SeekerProfile
from escgraph.prompts import PromptTemplate

__all__ = ["SimulatedSeeker"]


class SimulatedSeeker(AgentNode):
    """Writes the seeker's next message in character. Its first message is the profile's ``first_talk`` when
    given; it never reveals that it is simulated or what its hidden intent is (the intent is not in its prompt
    here; the SAGE seeker-judge reasons about it separately)."""

    name = prompt_name = "seeker"

    def __init__(self, profile: SeekerProfile, model: BaseChatModel | None = None, *,
                 prompt: PromptTemplate | str | None = None, role: str = "seeker", retries: int = 1) -> None:
        self.profile = profile
        self.model = model
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.role = role
        self.retries = retries

    def system_prompt(self) -> str:
        p = self.profile
        return self.prompt.render(
            "system", persona=p.persona.describe(), situation=p.situation,
            emotion=p.emotion_type or "upset", personality=p.personality or "open and honest",
        )

    def _opening(self, state: dict) -> str | None:
        has_dialogue = any(isinstance(m, HumanMessage) for m in state.get("messages", []))
        if not has_dialogue and self.profile.first_talk:
            return self.profile.first_talk
        return None

    def _update(self, text: str) -> dict:
        return {"messages": [HumanMessage(text, name=self.name)], "situation": self.profile.situation,
                "seeker_id": self.profile.id}

    def _fallback(self) -> str:
        return self.profile.first_talk or self.profile.situation

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        if (opening := self._opening(state)) is not None:
            return self._update(opening)
        model = resolve_model(self.model, runtime, self.role)
        messages = as_chat(state.get("messages", []), self.system_prompt(), speaker="seeker")
        for _ in range(self.retries + 1):
            ai = yield ask(model, messages, config=role_config(self.role, self.name))
            text = clean_reply(message_text(ai), max_sentences=2)
            if not is_degenerate(text):
                return self._update(text)
        return self._update(self._fallback())
