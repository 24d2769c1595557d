"""Optional second opinion from a capable chat model, asked only about ambiguous messages.

The schema puts the decisive enum first and bounds the free-text field, so even a grammar-constrained small
model returns short valid JSON. Any failure (network, parse, refusal) returns ``None``: the caller then keeps
the rule + embedding verdict, which is the conservative choice.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

__all__ = ["RiskAssessment", "assess_with_model", "aassess_with_model"]

log = logging.getLogger(__name__)


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
    "movies, books or news, and ordinary sadness, stress or grief are 'none'. When a real person may be at "
    "risk, do not answer 'none'."
)


def _messages(text: str) -> list[Any]:
    return [SystemMessage(_SYSTEM), HumanMessage(f"Message:\n\"\"\"\n{text[:4000]}\n\"\"\"")]


def assess_with_model(model: Any, text: str) -> RiskAssessment | None:
    try:
        result = model.with_structured_output(RiskAssessment).invoke(_messages(text))
        return result if isinstance(result, RiskAssessment) else RiskAssessment.model_validate(result)
    except Exception as exc:  # a second opinion must never break the gate
        log.warning("safety model check failed, keeping the rule/embedding verdict: %s", exc)
        return None


async def aassess_with_model(model: Any, text: str) -> RiskAssessment | None:
    try:
        result = await model.with_structured_output(RiskAssessment).ainvoke(_messages(text))
        return result if isinstance(result, RiskAssessment) else RiskAssessment.model_validate(result)
    except Exception as exc:
        log.warning("safety model check failed, keeping the rule/embedding verdict: %s", exc)
        return None
