"""Reading the dialogue out of graph state, from the counselor's or the seeker's side."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage

__all__ = ["last_seeker_text", "dialogue_lines", "as_chat", "message_text"]


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    # multimodal content blocks: keep the text parts
    return " ".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()


def _is_seeker(message: BaseMessage) -> bool:
    return isinstance(message, HumanMessage)


def _dialogue(messages: Sequence[AnyMessage]) -> list[BaseMessage]:
    return [m for m in messages if isinstance(m, (HumanMessage, AIMessage)) and message_text(m).strip()]


def last_seeker_text(messages: Sequence[AnyMessage]) -> str:
    for message in reversed(messages):
        if _is_seeker(message):
            return message_text(message)
    return ""


def dialogue_lines(messages: Sequence[AnyMessage], max_turns: int = 8, max_chars: int = 400) -> str:
    """The last ``max_turns`` turns as ``Seeker: ...`` / ``Supporter: ...`` lines, each clipped."""
    turns = _dialogue(messages)[-max_turns:]
    lines = []
    for message in turns:
        who = "Seeker" if _is_seeker(message) else "Supporter"
        text = " ".join(message_text(message).split())
        lines.append(f"{who}: {text[:max_chars]}")
    return "\n".join(lines) if lines else "(no messages yet)"


def as_chat(
    messages: Sequence[AnyMessage], system: str, *, speaker: str = "counselor", max_turns: int = 8,
    max_chars: int = 600,
) -> list[BaseMessage]:
    """Chat messages for a model playing ``speaker``: its own turns become assistant turns."""
    out: list[BaseMessage] = [SystemMessage(system)]
    for message in _dialogue(messages)[-max_turns:]:
        text = message_text(message)[:max_chars]
        mine = _is_seeker(message) == (speaker == "seeker")
        out.append(AIMessage(text) if mine else HumanMessage(text))
    if speaker == "seeker" and len(out) == 1:
        out.append(HumanMessage("Hi, I'm here to listen. What's on your mind?"))
    return out
