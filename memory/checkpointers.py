"""Checkpointers that let a conversation continue across calls by thread id."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from escgraph.config import data_dir

__all__ = ["CheckpointDBError", "default_db_path", "open_sqlite_checkpointer"]


class CheckpointDBError(RuntimeError):
    """The checkpoint database cannot be opened or is not a SQLite database."""


def default_db_path() -> Path:
    return data_dir() / "checkpoints.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise CheckpointDBError(f"cannot open checkpoint database {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointDBError(f"cannot create folder for checkpoint database {path}: {exc.strerror}") from exc
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails fast on a non-database file
        conn.execute("PRAGMA journal_mode=WAL")  # readers never see a half-written checkpoint
    except sqlite3.Error as exc:
        raise CheckpointDBError(f"cannot open checkpoint database {path}: {exc}") from exc
    return conn


def open_sqlite_checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """A LangGraph ``SqliteSaver`` on ``path`` (default: the user's data folder), checked before use."""
    path = Path(path).expanduser() if path is not None else default_db_path()
    conn = _connect(path)
    saver = SqliteSaver(conn)
    try:
        saver.setup()
    except sqlite3.Error as exc:
        conn.close()
        raise CheckpointDBError(f"cannot use checkpoint database {path}: {exc}") from exc
    return saver
