"""Knowledge retrieval node (KEMI): cases like the seeker's from the HEAL-schema knowledge graph.

The graph comes from the constructor, else the run context's ``knowledge_graph``, else escgraph's authored default
graph. Retrieved stressors and their best responses go to ``state["retrieved"]`` as ``kind: "knowledge"`` items
(ids + short text), which the initiative decision and the supporter read.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from escgraph.agents._base import AgentNode, context_of
from escgraph.agents._dialogue import message_text

__all__ = ["KnowledgeRetrieverNode"]


class KnowledgeRetrieverNode(AgentNode):
    name = "knowledge_retriever"

    def __init__(self, knowledge_graph: Any = None, *, k: int = 2, responses: int = 2, threshold: float = 0.35,
                 seeker_turns: int = 2) -> None:
        self.knowledge_graph = knowledge_graph
        self.k, self.responses, self.threshold, self.seeker_turns = k, responses, threshold, seeker_turns

    def _graph(self, runtime: Runtime | None) -> Any:
        if self.knowledge_graph is not None:
            return self.knowledge_graph
        if (ctx := context_of(runtime).knowledge_graph) is not None:
            return ctx
        from escgraph.memory.knowledge_graph import default_knowledge_graph

        return default_knowledge_graph()

    def run(self, state: dict, runtime: Runtime | None = None) -> dict:
        said = [message_text(m) for m in state.get("messages", []) if isinstance(m, HumanMessage)]
        query = " ".join([state.get("situation") or "", *said[-self.seeker_turns:]]).strip()
        hits = self._graph(runtime).retrieve(query, k=self.k, responses=self.responses, threshold=self.threshold)
        kept = [r for r in state.get("retrieved") or [] if r.get("kind") != "knowledge"]
        items = [{"kind": "knowledge", "id": h.stressor_id, "text": h.stressor[:200],
                  "similarity": h.similarity, "expectations": h.expectations[:2],
                  "responses": [{"id": r.id, "text": r.text, "score": r.score} for r in h.responses]}
                 for h in hits]
        return {"retrieved": kept + items}
