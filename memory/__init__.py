"""Memory: conversation checkpointers (long-term seeker memory and the knowledge graph come later)."""

from escgraph.memory.checkpointers import CheckpointDBError, default_db_path, open_sqlite_checkpointer

__all__ = ["CheckpointDBError", "default_db_path", "open_sqlite_checkpointer"]
