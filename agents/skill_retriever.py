"""Skill retriever node: finds the skills-bank skills that fit the seeker's current state (ESC-Skills).

The bank itself never sits in graph state: the node finds a retriever in its constructor, else in the run
context (``ESCContext.skills_bank``), else the user's default bank. It writes ``retrieved``: ids plus the short
text later nodes need (name, why it matched, a few guidance steps, the main risks).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents._dialogue import message_text

__all__ = ["SkillRetrieverNode", "skill_summary"]


def skill_summary(hit: Any, *, steps: int = 3, risks: int = 2) -> dict[str, Any]:
    """The short, checkpoint-friendly record of one retrieved skill."""
    skill = hit.skill
    return {
        "id": hit.skill_id, "kind": "skill", "name": hit.name, "score": round(float(hit.score), 4),
        "why": hit.why, "summary": skill.summary, "strategies": list(skill.strategies),
        "guidance": list(skill.guidance[:steps]), "risks": list(skill.risks[:risks]),
    }


class SkillRetrieverNode(AgentNode):
    """Retrieves the top ``k`` skills for the seeker state in ``assessment`` and the recent dialogue."""

    name = "skill_retriever"

    def __init__(self, retriever: Any = None, *, k: int = 3, dialogue_turns: int = 4) -> None:
        self.retriever = retriever
        self.k = k
        self.dialogue_turns = dialogue_turns

    def _retriever(self, runtime: Runtime | None) -> Any:
        if self.retriever is not None:
            return self.retriever
        bank = context_of(runtime).skills_bank
        if bank is not None and hasattr(bank, "retrieve"):
            return bank
        from escgraph.skills_bank import default_retriever

        return default_retriever()

    def query_state(self, state: dict) -> dict[str, Any]:
        assessment = state.get("assessment") or {}
        recent = [m for m in state.get("messages", []) if message_text(m).strip()][-self.dialogue_turns:]
        lines = [("Seeker: " if isinstance(m, HumanMessage) else "Supporter: ") + message_text(m) for m in recent]
        return {
            "situation": assessment.get("summary") or state.get("situation") or "",
            "emotion": assessment.get("emotion"), "intensity": assessment.get("intensity"),
            "stage": assessment.get("stage") or state.get("stage"), "problem_type": state.get("problem_type"),
            "dialogue": "\n".join(lines),
        }

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        # embedding the query is CPU work: under ainvoke, AgentNode runs this in a worker thread
        hits = self._retriever(runtime).retrieve(self.query_state(state), k=self.k)
        return {"retrieved": [skill_summary(hit) for hit in hits]}
