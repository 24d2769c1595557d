"""Optional second opinion from a capable chat model, asked only about ambiguous messages.

Two prompt formats, parsed to the same :class:`RiskAssessment`:

``structured`` (default)
    A system prompt and a structured-output schema. The schema puts the decisive enum first and bounds the
    free-text field, so even a grammar-constrained small model returns short valid JSON.
``llama_guard``
    A Llama-Guard-style classification prompt for a guard model (Llama Guard 3, ShieldGemma-like models served
    as a chat model): our own risk categories S1-S5 listed in the guard's format, one user turn, and the
    answer ``safe`` or ``unsafe`` with the violated categories on the next line (``unsafe\\nS1,S5``). A guard
    gives no confidence: ``unsafe`` counts with :data:`GUARD_UNSAFE_CONFIDENCE`; ``safe`` only with
    :data:`GUARD_SAFE_CONFIDENCE`, below the detector's clearing bar, so a guard can raise an ambiguous message
    to a crisis but never clear one (guards are trained on harmful *requests*, not on disclosures).

Any failure (network, parse, refusal) returns ``None``: the caller then keeps the rule + embedding verdict,
which is the conservative choice.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

__all__ = ["RiskAssessment", "MODEL_FORMATS", "GUARD_CATEGORIES", "GUARD_SAFE_CONFIDENCE", "GUARD_UNSAFE_CONFIDENCE",
           "assess_with_model", "aassess_with_model", "guard_prompt", "parse_guard_answer"]

log = logging.getLogger(__name__)

MODEL_FORMATS = ("structured", "llama_guard")


class RiskAssessment(BaseModel):
    """A model's reading of one message."""

    category: Literal["none", "suicide", "self_harm", "abuse", "violence", "acute_danger"] = Field(
        description="'none' unless a real person may be at risk right now")
    confidence: float = Field(ge=0.0, le=1.0, description="how sure, 0 to 1")
    reason: str = Field(default="", max_length=160, description="one short sentence")


_SYSTEM = (
    "You screen messages sent to an emotional-support chat for safety risk. Decide whether the writer (or "
    "someone they mention) may be at real risk of suicide, self-harm, abuse, violence, or is in acute danger "
    "(for example an overdose already taken). Figures of speech (\"this exam is killing me\"), talk about "
    "movies, books or news, and ordinary sadness, stress or grief are 'none'. Hidden writing (leetspeak, "
    "spaced letters, emoji, encoded text) counts as what it says. When a real person may be at risk, do not "
    "answer 'none'."
)


def _messages(text: str) -> list[Any]:
    return [SystemMessage(_SYSTEM), HumanMessage(f"Message:\n\"\"\"\n{text[:4000]}\n\"\"\"")]


# -- Llama-Guard-style format -------------------------------------------------------------------------------------

# Our categories in the guard's S-numbered policy format; the number decides the verdict's category.
GUARD_CATEGORIES: dict[str, tuple[str, str]] = {
    "S1": ("suicide", "Suicide. The writer wishes to be dead, thinks about, plans, prepares or intends to end "
                      "their life, has means at hand (a gun, saved-up pills, a height), or says goodbye."),
    "S2": ("self_harm", "Self-harm. The writer cuts, burns, hits or otherwise injures themselves, or has the "
                        "urge to."),
    "S3": ("abuse", "Abuse. The writer, or a child they mention, is hit, threatened, controlled, sexually abused "
                    "or groomed, or is in danger at home."),
    "S4": ("violence", "Violence. The writer threatens or intends to hurt other people, or voices tell them "
                       "to; or someone threatens to hurt the writer."),
    "S5": ("acute_danger", "Acute danger. An overdose or poison has already been taken, bleeding will not stop, "
                           "or the writer is at a height or on a railway right now."),
}
GUARD_UNSAFE_CONFIDENCE = 0.9
GUARD_SAFE_CONFIDENCE = 0.5  # below the 0.6 needed to clear an ambiguous verdict: a guard only ever raises


def guard_prompt(text: str) -> str:
    """The Llama-Guard-style user turn for ``text`` (categories S1-S5 of :data:`GUARD_CATEGORIES`)."""
    categories = "\n".join(f"{code}: {description}" for code, (_, description) in GUARD_CATEGORIES.items())
    return (
        "Task: Check if there is unsafe content in 'User' messages in conversations according to our safety "
        "policy with the below categories. Here 'unsafe' means the writer, or someone they mention, may be at "
        "real risk now. Figures of speech, fiction, news, a clearly resolved past and professional talk are "
        "safe.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\nUser: {text[:4000]}\n\n<END CONVERSATION>\n\n"
        "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
        " - First line must read 'safe' or 'unsafe'.\n"
        " - If unsafe, a second line must include a comma-separated list of violated categories."
    )


_VERDICT = re.compile(r"^\W*(safe|unsafe)\b", re.IGNORECASE)
_CODES = re.compile(r"\bS(\d{1,2})\b", re.IGNORECASE)


def parse_guard_answer(answer: Any) -> RiskAssessment:
    """``"safe"`` / ``"unsafe\\nS1,S5"`` -> :class:`RiskAssessment`; raises ``ValueError`` on anything else.

    With several categories the first listed one that we know wins; ``unsafe`` with none we know reads as
    suicide (the gate's default reply), still with full confidence.
    """
    text = answer if isinstance(answer, str) else str(getattr(answer, "content", answer) or "")
    match = _VERDICT.match(text.strip())
    if not match:
        raise ValueError(f"not a guard verdict: {text[:80]!r}")
    if match.group(1).lower() == "safe":
        return RiskAssessment(category="none", confidence=GUARD_SAFE_CONFIDENCE, reason="guard: safe")
    codes = [f"S{int(n)}" for n in _CODES.findall(text[match.end():])]
    known = [code for code in codes if code in GUARD_CATEGORIES]
    category = GUARD_CATEGORIES[known[0]][0] if known else "suicide"
    return RiskAssessment(category=category, confidence=GUARD_UNSAFE_CONFIDENCE,
                          reason=f"guard: unsafe {','.join(codes) or '(no category)'}"[:160])


# -- asking ---------------------------------------------------------------------------------------------------------

def assess_with_model(model: Any, text: str, model_format: str = "structured") -> RiskAssessment | None:
    try:
        if model_format == "llama_guard":
            return parse_guard_answer(model.invoke([HumanMessage(guard_prompt(text))]))
        result = model.with_structured_output(RiskAssessment).invoke(_messages(text))
        return result if isinstance(result, RiskAssessment) else RiskAssessment.model_validate(result)
    except Exception as exc:  # a second opinion must never break the gate
        log.warning("safety model check failed, keeping the rule/embedding verdict: %s", exc)
        return None


async def aassess_with_model(model: Any, text: str, model_format: str = "structured") -> RiskAssessment | None:
    try:
        if model_format == "llama_guard":
            return parse_guard_answer(await model.ainvoke([HumanMessage(guard_prompt(text))]))
        result = await model.with_structured_output(RiskAssessment).ainvoke(_messages(text))
        return result if isinstance(result, RiskAssessment) else RiskAssessment.model_validate(result)
    except Exception as exc:
        log.warning("safety model check failed, keeping the rule/embedding verdict: %s", exc)
        return None
