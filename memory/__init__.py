"""Memory: conversation checkpointers, the HEAL-schema knowledge graph, and long-term seeker memory."""

from escgraph.memory.checkpointers import CheckpointDBError, default_db_path, open_sqlite_checkpointer
from escgraph.memory.knowledge_graph import (
    KnowledgeGraph,
    KnowledgeGraphError,
    KnowledgeHit,
    LoadReport,
    default_knowledge_graph,
    load_heal,
)

__all__ = [
    "CheckpointDBError",
    "KnowledgeGraph",
    "KnowledgeGraphError",
    "KnowledgeHit",
    "LoadReport",
    "default_db_path",
    "default_knowledge_graph",
    "load_heal",
    "open_sqlite_checkpointer",
]
