"""Supporter (SweetieChat): writes the reply, following the strategy the strategy counselor chose."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage
from langgraph.runtime import Runtime

from escgraph.agents._base import AgentNode
from escgraph.agents._dialogue import as_chat, last_seeker_text, message_text
from escgraph.agents._flow import Flow, ask
from escgraph.agents._models import resolve_model, resolve_prompt, role_config
from escgraph.agents._text import clean_reply, is_degenerate
from escgraph.agents.strategy_counselor import strategy_definitions
from escgraph.prompts import PromptTemplate

__all__ = ["Supporter"]

# Where a small model starts writing the other side of the dialogue or a commentary on its own reply.
# At most four: OpenAI-compatible servers reject more.
STOP_SEQUENCES = ["\nSeeker:", "\nUser:", "\" This response", "\" This is"]
_RETRY_NUDGE = ("Your last reply was empty or repeated itself. Write one fresh, warm reply of one or two "
                "sentences about what they just said.")


class Supporter(AgentNode):
    """Writes a short, warm reply specific to the seeker's last message, following ``state["strategy"]``.

    Extra guidance (e.g. a retrieved skill's steps, a critic's feedback) can be put in ``state["plan"]["guidance"]``.
    A reply that comes back empty or looping is asked for again (``retries`` times) with a nudge; the last
    resort is a short reflective reply built from the seeker's own words, marked ``reply_source: fallback``.
    """

    name = prompt_name = "supporter"

    def __init__(self, model: BaseChatModel | None = None, *, prompt: PromptTemplate | str | None = None,
                 max_sentences: int = 2, retries: int = 2, history_turns: int = 8, role: str = "counselor") -> None:
        self.model = model
        self.prompt = resolve_prompt(prompt, self.prompt_name)
        self.max_sentences = max_sentences
        self.retries = retries
        self.history_turns = history_turns
        self.role = role

    def messages(self, state: dict) -> list:
        strategy = state.get("strategy") or "Reflection of feelings"
        definition = strategy_definitions().get(strategy, {})
        plan = state.get("plan") or {}
        guidance = str(plan.get("guidance", "")).strip() if isinstance(plan, dict) else ""
        system = self.prompt.render(
            "system", strategy=strategy, instruction=definition.get("instruction", ""), guidance=guidance,
        ).strip()
        if memories := [m.get("text", "") for m in state.get("memories") or [] if m.get("text")]:
            # long-term memory: what this seeker told us in earlier conversations
            system += "\nYou remember about them from earlier conversations: " + " ".join(memories)
        return as_chat(state.get("messages", []), system, speaker="counselor", max_turns=self.history_turns)

    def _accept(self, raw: str) -> str | None:
        reply = clean_reply(raw, max_sentences=self.max_sentences)
        return None if is_degenerate(reply) else reply

    def _update(self, state: dict, reply: str, source: str) -> dict:
        return {
            "messages": [AIMessage(reply, name=self.name, response_metadata={"strategy": state.get("strategy")})],
            "reply": reply,
            "draft": reply,
            "reply_source": source,
            "turn": int(state.get("turn") or 0) + 1,
        }

    def flow(self, state: dict, runtime: Runtime | None) -> Flow[dict]:
        model = resolve_model(self.model, runtime, self.role)
        messages = self.messages(state)
        for attempt in range(self.retries + 1):
            ai = yield ask(model, messages, config=role_config(self.role, self.name), stop=STOP_SEQUENCES)
            reply = self._accept(message_text(ai))
            if reply:
                return self._update(state, reply, "model" if attempt == 0 else "model_retry")
            messages = [*messages, SystemMessage(_RETRY_NUDGE)]
        return self._update(state, fallback_reply(state), "fallback")


def fallback_reply(state: dict) -> str:
    """A short reflective reply when the model produced nothing usable; never empty."""
    said = " ".join(last_seeker_text(state.get("messages", [])).split())
    if not said:
        return "I'm here and I'm listening. What would you like to talk about?"
    gist = said if len(said) <= 80 else said[:80].rsplit(" ", 1)[0] + "…"
    return f"It sounds like a lot is weighing on you right now: \"{gist}\". Can you tell me more about how that feels?"
