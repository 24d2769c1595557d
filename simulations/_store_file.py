"""The run folder's results file as a file: its schema and migration, how it is created and checked before use,
the folder's writer lock, and the errors a run store raises (``escgraph.simulations.store`` re-exports them).

A new file is built under another name and renamed into place, so a run never leaves an empty one; an existing
one must pass SQLite's ``quick_check`` and hold a run's tables before anything is written to it.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

__all__ = ["RUN_FILE", "LOCK_FILE", "SCHEMA_VERSION", "SCHEMA", "RunStoreError", "ConfigChangedError",
           "RunLockedError", "RunWriteError", "is_disk_full", "write_error", "FolderLock", "check_existing",
           "create_file", "apply_schema", "columns"]

RUN_FILE = "run.sqlite"
LOCK_FILE = "run.lock"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SQLITE_FULL = 13
SCHEMA_VERSION = "2"  # 2: episodes.health

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (config_hash TEXT NOT NULL, config TEXT NOT NULL, recorded TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    episode_id TEXT PRIMARY KEY, profile_id TEXT NOT NULL, trial INTEGER NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL, outcome TEXT, initial_emotion REAL, final_emotion REAL, seeker_turns INTEGER DEFAULT 0,
    tokens TEXT DEFAULT '{}', error TEXT, attempts INTEGER DEFAULT 0, seconds REAL DEFAULT 0,
    profile TEXT NOT NULL, started TEXT, finished TEXT, position INTEGER NOT NULL, health TEXT DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS turns (
    episode_id TEXT NOT NULL, idx INTEGER NOT NULL, speaker TEXT NOT NULL, text TEXT NOT NULL, strategy TEXT,
    emotion_before REAL, emotion_after REAL, change REAL, judge TEXT, retrieved TEXT, latency REAL, extra TEXT,
    PRIMARY KEY (episode_id, idx)
);
"""


class RunStoreError(RuntimeError):
    """The run folder or its results file cannot be used (the message says why)."""


class ConfigChangedError(RunStoreError):
    """The folder holds a run made with a different config; resuming would mix incomparable results."""


class RunLockedError(RunStoreError):
    """Another process is writing this run folder."""


class RunWriteError(RunStoreError):
    """Writing the results file failed (``disk_full`` tells whether the disk was full); committed data is intact."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def is_disk_full(exc: BaseException) -> bool:
    return (getattr(exc, "errno", None) == errno.ENOSPC or getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
            or "disk is full" in str(exc).lower() or "no space left" in str(exc).lower())


def write_error(path: Path, exc: BaseException) -> RunWriteError:
    """The one-line error for a failed write to ``path`` (a file of the run folder)."""
    detail = getattr(exc, "strerror", None) or str(exc)
    if is_disk_full(exc):
        return RunWriteError(f"the disk is full: cannot write {path} ({detail}); the episodes finished so far are "
                             f"saved — free some space, then resume the run", disk_full=True)
    return RunWriteError(f"cannot write {path} ({detail}); the episodes finished so far are saved — fix the "
                         f"problem, then resume the run")


class FolderLock:
    """An exclusive ``flock`` on the folder's lock file, holding the owner's pid (no lock where fcntl is missing)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> "FolderLock":
        try:
            import fcntl
        except ImportError:  # not a POSIX system: runs are not protected against a second writer
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunStoreError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            held = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() if held else ""
            os.close(fd)
            if not held:  # a file system without flock (some network mounts): run unprotected, as before
                return self
            raise RunLockedError(
                f"{self.path.parent} is in use by another run (pid {holder or 'unknown'}); only one process may "
                f"write a run folder — wait for it to finish or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def check_existing(path: Path) -> None:
    """Refuse a results file that is empty, not SQLite, damaged or not a run's — without changing a byte of it."""
    if path.stat().st_size == 0:
        raise RunStoreError(f"{path} is empty (0 bytes): it is not a run database and holds nothing to resume; "
                            f"delete it to start a new run in {path.parent}, or choose another --out folder")
    with open(path, "rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header != _SQLITE_HEADER:
        raise RunStoreError(f"{path} is not a run database (not an SQLite file); it was left untouched — choose "
                            f"another --out folder")
    # without a -wal file the main file is everything: immutable=1 reads it without creating -wal/-shm files
    wal = path.with_name(path.name + "-wal")
    uri = path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
    problems: list[str] = []
    tables: set[str] = set()
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            problems = [" ".join(str(row[0]).split()) for row in conn.execute("PRAGMA quick_check").fetchall()
                        if row[0] != "ok"]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise RunStoreError(
            f"{path} is damaged (SQLite integrity check: {problems[0]}{more}); it was not changed and nothing "
            f"will be written to it. Keep a copy; `sqlite3 {path} .recover | sqlite3 recovered.sqlite` may save "
            f"finished episodes — or start the run again in a new --out folder")
    if not {"meta", "episodes"} <= tables:
        raise RunStoreError(f"{path} is an SQLite file but not a run database (no meta and episodes tables); it was "
                            f"left untouched — choose another --out folder")


def create_file(path: Path) -> None:
    """A new results file with the schema, built under another name and renamed into place (never left empty)."""
    tmp = path.with_name(f".{path.name}.new")
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()
        os.replace(tmp, path)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def apply_schema(conn: sqlite3.Connection) -> None:
    """Create the tables a file lacks and add the columns a file from an older schema lacks."""
    conn.executescript(SCHEMA)
    if "health" not in columns(conn, "episodes"):  # a run.sqlite from schema 1
        conn.execute("ALTER TABLE episodes ADD COLUMN health TEXT DEFAULT '{}'")


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
