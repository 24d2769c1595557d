"""One SQLite results file per run folder (``run.sqlite``), written by one writer (ARCHITECTURE.md §6).

Tables: ``meta`` (config, its hash, dates, versions), ``configs`` (every config the folder has run under),
``episodes`` (one row per episode key with status, outcome, final emotion, tokens per role, error, judge-health
data) and ``turns`` (one row per utterance). Files from before a column existed are migrated when opened for
writing and read as they are (the missing value is empty). An episode's turns and its final row are written in
one transaction, so a killed run never leaves a half-written episode: on resume, episodes still marked ``running``
are reset and played again.

Safety: a writer holds an exclusive lock on ``run.lock`` in the folder for its whole life (``flock``, released by
the kernel when the process dies, so a lock is never stale), and a second writer is refused with the holder's pid.
An existing results file must pass SQLite's ``quick_check`` before anything is written to it — a damaged or
foreign file is refused and left byte-for-byte as it was — and an empty one is refused rather than taken for a
new run (a new file is built under another name and renamed into place, so the run itself never leaves an empty
one). A failed write (a full disk, an I/O error) raises :class:`RunWriteError`: the transaction rolls back and
what was committed stays. Reading validates every JSON column, naming file, table, column and episode.

The file itself (schema, migration, creation, checks, lock, errors) is in ``_store_file``, reading it in
``_store_read``; this module is the writer and re-exports their public names.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from escgraph import __version__
from escgraph.llm import redact_text
from escgraph.simulations._store_file import (
    LOCK_FILE,
    RUN_FILE,
    SCHEMA_VERSION,
    ConfigChangedError,
    FolderLock,
    RunLockedError,
    RunStoreError,
    RunWriteError,
    apply_schema,
    check_existing,
    create_file,
    is_disk_full,
    write_error,
)
from escgraph.simulations._store_read import load_run, read_run
from escgraph.simulations.results import EpisodeResult, RunData
from escgraph.simulations.spec import EpisodeKey, RunSpec

__all__ = ["RunStore", "RunStoreError", "ConfigChangedError", "RunLockedError", "RunWriteError", "RUN_FILE",
           "LOCK_FILE", "load_run", "write_error"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


class RunStore:
    """The writer of one run folder. Open it with :meth:`create_or_resume`; read a folder with :func:`load_run`."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, lock: FolderLock | None = None) -> None:
        self.run_dir = run_dir
        self.path = run_dir / RUN_FILE
        self.conn = conn
        self._lock = lock

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a failed write (full disk, I/O error) rolls back and raises :class:`RunWriteError`."""
        try:
            with self.conn:
                yield self.conn
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.rollback()
            raise write_error(self.path, exc) from None

    # -- opening ----------------------------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")  # readers (a report) never block the writer
            conn.execute("PRAGMA busy_timeout=10000")
            apply_schema(conn)  # tables and columns an older file lacks
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise write_error(path, exc) from None
            raise RunStoreError(f"{path} is not a usable results database: {exc}") from None
        return conn

    @classmethod
    def create_or_resume(cls, run_dir: str | Path, spec: RunSpec, *, resume: bool = False,
                         force: bool = False) -> "RunStore":
        """Create the run folder and its results file, or reopen it to resume.

        Fails before any model is loaded when the folder is unwritable or locked by another writer, when its
        results file is empty, damaged or not a run's, holds another run (without ``resume``), or holds a run with
        a different config (without ``force``). Episodes left ``running`` or ``infra_error`` are re-queued;
        finished ones are kept untouched.
        """
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            if is_disk_full(exc):
                raise write_error(run_dir / ".write-test", exc) from None
            raise RunStoreError(f"cannot write to run folder {run_dir}: {exc.strerror or exc}") from None
        lock = FolderLock(run_dir).acquire()
        try:
            path = run_dir / RUN_FILE
            existed = path.exists()
            if existed:
                check_existing(path)
            else:
                create_file(path)
            store = cls(run_dir, cls._connect(path), lock)
        except BaseException:
            lock.release()
            raise
        try:
            config, digest = spec.result_config(), spec.config_hash()
            old_hash = store._meta("config_hash")
            if existed and old_hash is not None:
                if not resume:
                    raise RunStoreError(f"{run_dir} already holds a run (config {old_hash}); pass --resume to "
                                        f"continue it or choose another output folder")
                if old_hash != digest and not force:
                    changed = _diff_keys(json.loads(store._meta("config") or "{}"), config)
                    raise ConfigChangedError(
                        f"{run_dir} was run with a different config (changed: {', '.join(changed) or 'profiles'}); "
                        f"refusing to mix results — use a new folder, or force to continue under the new config")
            store._write_config(spec, config, digest, fresh=old_hash is None)
            store._sync_episodes(spec)
        except BaseException:
            store.close()
            raise
        return store

    def _write_config(self, spec: RunSpec, config: dict, digest: str, *, fresh: bool) -> None:
        with self._writing():
            self.conn.execute("BEGIN IMMEDIATE")
            values = {"config": json.dumps(config, ensure_ascii=False), "config_hash": digest,
                      "execution": json.dumps(spec.model_dump(mode="json", include=set(spec._EXECUTION_ONLY))),
                      "escgraph_version": __version__, "schema_version": SCHEMA_VERSION, "updated": _now()}
            if fresh:
                values["created"] = _now()
            self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())
            known = {r[0] for r in self.conn.execute("SELECT config_hash FROM configs")}
            if digest not in known:
                self.conn.execute("INSERT INTO configs VALUES (?, ?, ?)", (digest, values["config"], _now()))

    def _sync_episodes(self, spec: RunSpec) -> None:
        """Insert the spec's episodes not yet known; reset unfinished ones to pending."""
        with self._writing():
            self.conn.execute("BEGIN IMMEDIATE")
            for position, key in enumerate(spec.episodes()):
                profile = spec.profile(key.profile_id).model_dump(mode="json", exclude_none=True)
                self.conn.execute(
                    "INSERT OR IGNORE INTO episodes (episode_id, profile_id, trial, seed, status, profile, position)"
                    " VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (key.episode_id, key.profile_id, key.trial, key.seed, json.dumps(profile, ensure_ascii=False),
                     position))
                self.conn.execute("UPDATE episodes SET profile = ?, position = ? WHERE episode_id = ? AND status != "
                                  "'done'", (json.dumps(profile, ensure_ascii=False), position, key.episode_id))
            restart = [r[0] for r in self.conn.execute(
                "SELECT episode_id FROM episodes WHERE status IN ('running', 'infra_error')")]
            for episode_id in restart:
                self.conn.execute("DELETE FROM turns WHERE episode_id = ?", (episode_id,))
            self.conn.execute("UPDATE episodes SET status='pending', error=NULL, attempts=0 "
                              "WHERE status IN ('running', 'infra_error')")

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._writing():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- episodes ---------------------------------------------------------------------------------------------
    def pending(self, spec: RunSpec) -> list[EpisodeKey]:
        """Episodes of ``spec`` still to play, in spec order."""
        wanted = {k.episode_id: k for k in spec.episodes()}
        rows = self.conn.execute("SELECT episode_id FROM episodes WHERE status = 'pending' ORDER BY position")
        return [wanted[r[0]] for r in rows if r[0] in wanted]

    def counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM episodes GROUP BY status").fetchall())

    def mark_running(self, key: EpisodeKey, attempt: int) -> None:
        with self._writing():
            self.conn.execute("UPDATE episodes SET status='running', started=?, attempts=? WHERE episode_id=?",
                              (_now(), attempt, key.episode_id))

    def mark_requeued(self, key: EpisodeKey, error: str, attempt: int) -> None:
        with self._writing():
            self.conn.execute("UPDATE episodes SET status='pending', error=?, attempts=? WHERE episode_id=?",
                              (redact_text(error), attempt, key.episode_id))

    def release_running(self) -> None:
        """Put episodes a stopped run left ``running`` back to ``pending`` (best effort: resume does it too)."""
        with contextlib.suppress(RunWriteError), self._writing():
            self.conn.execute("UPDATE episodes SET status='pending' WHERE status='running'")

    def save(self, result: EpisodeResult) -> None:
        """Write an episode's final row and all its turns atomically (replacing any earlier partial attempt)."""
        with self._writing():
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM turns WHERE episode_id = ?", (result.episode_id,))
            self.conn.executemany(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(result.episode_id, t.idx, t.speaker, t.text, t.strategy, t.emotion_before, t.emotion_after,
                  t.change, json.dumps(t.judge) if t.judge is not None else None, json.dumps(t.retrieved),
                  t.latency, json.dumps(t.extra, ensure_ascii=False)) for t in result.turns])
            self.conn.execute(
                "UPDATE episodes SET status=?, outcome=?, initial_emotion=?, final_emotion=?, seeker_turns=?, "
                "tokens=?, error=?, attempts=?, seconds=?, finished=?, health=? WHERE episode_id=?",
                (result.status, result.outcome, result.initial_emotion, result.final_emotion, result.seeker_turns,
                 json.dumps(result.tokens), redact_text(result.error), result.attempts, result.seconds, _now(),
                 json.dumps(result.health), result.episode_id))

    def load(self) -> RunData:
        return read_run(self.conn, self.run_dir)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()


