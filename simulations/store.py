"""One SQLite results file per run folder (``run.sqlite``), written by one writer (ARCHITECTURE.md §6).

Tables: ``meta`` (config, its hash, dates, versions), ``configs`` (every config the folder has run under),
``episodes`` (one row per episode key with status, outcome, final emotion, tokens per role, error, judge-health
data) and ``turns`` (one row per utterance). Files from before a column existed are migrated when opened for
writing and read as they are (the missing value is empty). An episode's turns and its final row are written in
one transaction, so a killed run never leaves a half-written episode: on resume, episodes still marked ``running``
are reset and played again.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from escgraph._version import __version__
from escgraph.simulations.results import EpisodeResult, RunData, TurnRecord
from escgraph.simulations.spec import EpisodeKey, RunSpec

__all__ = ["RunStore", "RunStoreError", "ConfigChangedError", "RUN_FILE", "load_run"]

RUN_FILE = "run.sqlite"
SCHEMA_VERSION = "2"  # 2: episodes.health

_SCHEMA = """
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


class RunStore:
    """The writer of one run folder. Open it with :meth:`create_or_resume`; read a folder with :func:`load_run`."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection) -> None:
        self.run_dir = run_dir
        self.conn = conn

    # -- opening ----------------------------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")  # readers (a report) never block the writer
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            if "health" not in _columns(conn, "episodes"):  # a run.sqlite from schema 1
                conn.execute("ALTER TABLE episodes ADD COLUMN health TEXT DEFAULT '{}'")
        except sqlite3.DatabaseError as exc:
            raise RunStoreError(f"{path} is not a usable results database: {exc}") from None
        return conn

    @classmethod
    def create_or_resume(cls, run_dir: str | Path, spec: RunSpec, *, resume: bool = False,
                         force: bool = False) -> "RunStore":
        """Create the run folder and its results file, or reopen it to resume.

        Fails before any model is loaded when the folder is unwritable, holds another run (without ``resume``),
        or holds a run with a different config (without ``force``). Episodes left ``running`` or ``infra_error``
        are re-queued; finished ones are kept untouched.
        """
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunStoreError(f"cannot write to run folder {run_dir}: {exc.strerror or exc}") from None
        path = run_dir / RUN_FILE
        existed = path.exists() and path.stat().st_size > 0
        store = cls(run_dir, cls._connect(path))
        config, digest = spec.result_config(), spec.config_hash()
        old_hash = store._meta("config_hash")
        if existed and old_hash is not None:
            if not resume:
                store.close()
                raise RunStoreError(f"{run_dir} already holds a run (config {old_hash}); pass --resume to continue "
                                    f"it or choose another output folder")
            if old_hash != digest and not force:
                changed = _diff_keys(json.loads(store._meta("config") or "{}"), config)
                store.close()
                raise ConfigChangedError(
                    f"{run_dir} was run with a different config (changed: {', '.join(changed) or 'profiles'}); "
                    f"refusing to mix results — use a new folder, or force to continue under the new config")
        store._write_config(spec, config, digest, fresh=old_hash is None)
        store._sync_episodes(spec)
        return store

    def _write_config(self, spec: RunSpec, config: dict, digest: str, *, fresh: bool) -> None:
        with self.conn:
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
        with self.conn:
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
        with self.conn:
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
        with self.conn:
            self.conn.execute("UPDATE episodes SET status='running', started=?, attempts=? WHERE episode_id=?",
                              (_now(), attempt, key.episode_id))

    def mark_requeued(self, key: EpisodeKey, error: str, attempt: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE episodes SET status='pending', error=?, attempts=? WHERE episode_id=?",
                              (error, attempt, key.episode_id))

    def save(self, result: EpisodeResult) -> None:
        """Write an episode's final row and all its turns atomically (replacing any earlier partial attempt)."""
        with self.conn:
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
                 json.dumps(result.tokens), result.error, result.attempts, result.seconds, _now(),
                 json.dumps(result.health), result.episode_id))

    def load(self) -> RunData:
        return _read(self.conn, self.run_dir)

    def close(self) -> None:
        self.conn.close()


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder (read-only); raises :class:`RunStoreError` naming the problem."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunStoreError(f"{run_dir} is not a run folder: {RUN_FILE} not found")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return _read(conn, run_dir)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RunStoreError(f"{path} is not a readable results database: {exc}") from None


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _read(conn: sqlite3.Connection, run_dir: Path) -> RunData:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "config" not in meta:
        raise RunStoreError(f"{run_dir / RUN_FILE} holds no run config")
    turns: dict[str, list[TurnRecord]] = {}
    for row in conn.execute("SELECT episode_id, idx, speaker, text, strategy, emotion_before, emotion_after, change, "
                            "judge, retrieved, latency, extra FROM turns ORDER BY episode_id, idx"):
        turns.setdefault(row[0], []).append(TurnRecord(
            idx=row[1], speaker=row[2], text=row[3], strategy=row[4], emotion_before=row[5], emotion_after=row[6],
            change=row[7], judge=json.loads(row[8]) if row[8] else None, retrieved=json.loads(row[9] or "[]"),
            latency=row[10] or 0.0, extra=json.loads(row[11] or "{}")))
    # read-only readers cannot migrate: an old file simply has no health column
    health = "health" if "health" in _columns(conn, "episodes") else "'{}'"
    episodes = [
        EpisodeResult(episode_id=r[0], profile_id=r[1], trial=r[2], seed=r[3], status=r[4], outcome=r[5],
                      initial_emotion=r[6], final_emotion=r[7], seeker_turns=r[8] or 0,
                      tokens=json.loads(r[9] or "{}"), error=r[10], attempts=r[11] or 0, seconds=r[12] or 0.0,
                      profile=json.loads(r[13]), turns=turns.get(r[0], []), health=json.loads(r[14] or "{}"))
        for r in conn.execute("SELECT episode_id, profile_id, trial, seed, status, outcome, initial_emotion, "
                              f"final_emotion, seeker_turns, tokens, error, attempts, seconds, profile, {health} "
                              "FROM episodes ORDER BY position")
    ]
    other = {k: v for k, v in meta.items() if k not in {"config", "config_hash"}}
    decoded = {}
    for key, value in other.items():
        try:
            decoded[key] = json.loads(value) if key in {"execution", "applied_settings", "seconds"} else value
        except ValueError:
            decoded[key] = value
    return RunData(run_dir=str(run_dir), config=json.loads(meta["config"]), config_hash=meta["config_hash"],
                   episodes=episodes, meta=decoded)
