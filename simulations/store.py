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
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from escgraph import __version__
from escgraph.llm import redact_text
from escgraph.simulations.results import OUTCOMES, EpisodeResult, RunData, TurnRecord
from escgraph.simulations.spec import EpisodeKey, RunSpec

__all__ = ["RunStore", "RunStoreError", "ConfigChangedError", "RunLockedError", "RunWriteError", "RUN_FILE",
           "LOCK_FILE", "load_run"]

RUN_FILE = "run.sqlite"
LOCK_FILE = "run.lock"
_SQLITE_HEADER = b"SQLite format 3\x00"
_SQLITE_FULL = 13
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


class RunLockedError(RunStoreError):
    """Another process is writing this run folder."""


class RunWriteError(RunStoreError):
    """Writing the results file failed (``disk_full`` tells whether the disk was full); committed data is intact."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def _is_disk_full(exc: BaseException) -> bool:
    return (getattr(exc, "errno", None) == errno.ENOSPC or getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
            or "disk is full" in str(exc).lower() or "no space left" in str(exc).lower())


def write_error(path: Path, exc: BaseException) -> RunWriteError:
    """The one-line error for a failed write to ``path`` (a file of the run folder)."""
    detail = getattr(exc, "strerror", None) or str(exc)
    if _is_disk_full(exc):
        return RunWriteError(f"the disk is full: cannot write {path} ({detail}); the episodes finished so far are "
                             f"saved — free some space, then resume the run", disk_full=True)
    return RunWriteError(f"cannot write {path} ({detail}); the episodes finished so far are saved — fix the "
                         f"problem, then resume the run")


class _FolderLock:
    """An exclusive ``flock`` on the folder's lock file, holding the owner's pid (no lock where fcntl is missing)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> "_FolderLock":
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


def _check_existing(path: Path) -> None:
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


def _create(path: Path) -> None:
    """A new results file with the schema, built under another name and renamed into place (never left empty)."""
    tmp = path.with_name(f".{path.name}.new")
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(_SCHEMA)
        finally:
            conn.close()
        os.replace(tmp, path)
    except (sqlite3.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


class RunStore:
    """The writer of one run folder. Open it with :meth:`create_or_resume`; read a folder with :func:`load_run`."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, lock: _FolderLock | None = None) -> None:
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
            conn.executescript(_SCHEMA)
            if "health" not in _columns(conn, "episodes"):  # a run.sqlite from schema 1
                conn.execute("ALTER TABLE episodes ADD COLUMN health TEXT DEFAULT '{}'")
        except sqlite3.DatabaseError as exc:
            if _is_disk_full(exc):
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
            if _is_disk_full(exc):
                raise write_error(run_dir / ".write-test", exc) from None
            raise RunStoreError(f"cannot write to run folder {run_dir}: {exc.strerror or exc}") from None
        lock = _FolderLock(run_dir).acquire()
        try:
            path = run_dir / RUN_FILE
            existed = path.exists()
            if existed:
                _check_existing(path)
            else:
                _create(path)
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
        return _read(self.conn, self.run_dir)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self._lock is not None:
                self._lock.release()


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder (read-only); raises :class:`RunStoreError` naming file, table, column and episode."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunStoreError(f"{run_dir} is not a run folder: {RUN_FILE} not found")
    if path.stat().st_size == 0:
        raise RunStoreError(f"{path} is empty (0 bytes): it is not a run database")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return _read(conn, run_dir)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RunStoreError(f"{path} is not a readable results database: {exc}") from None


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


class _Decoder:
    """JSON columns decoded and shape-checked, every error naming the file, ``table.column`` and the row."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> RunStoreError:
        return RunStoreError(f"{self.path}: {where} {problem} (the file is damaged or was edited by hand)")

    def json(self, raw: Any, where: str, kind: type, default: Any) -> Any:
        if raw is None or raw == "":
            return default
        try:
            value = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise self.fail(where, f"is not valid JSON ({getattr(exc, 'msg', exc)})") from None
        if value is None:
            return default
        if not isinstance(value, kind):
            raise self.fail(where, f"holds a JSON {type(value).__name__} where a JSON "
                                   f"{'object' if kind is dict else 'array'} belongs")
        return value

    def mapping_of_mappings(self, value: dict, where: str) -> dict:
        for key, inner in value.items():
            if not isinstance(inner, dict):
                raise self.fail(where, f"has {key!r} = {json.dumps(inner)[:40]} where an object of counts belongs")
            for name, count in inner.items():
                if count is not None and not isinstance(count, (int, float)):
                    raise self.fail(where, f"has {key}.{name} = {json.dumps(count)[:40]} where a number belongs")
        return value


def _read(conn: sqlite3.Connection, run_dir: Path) -> RunData:
    path = run_dir / RUN_FILE
    check = _Decoder(path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    for key in ("config", "config_hash"):
        if key not in meta:
            raise RunStoreError(f"{path}: table meta has no {key!r} row, so it holds no usable run config")
    config = check.json(meta["config"], "meta.value of key 'config'", dict, None)
    if config is None:
        raise check.fail("meta.value of key 'config'", "is empty")
    turns: dict[str, list[TurnRecord]] = {}
    for row in conn.execute("SELECT episode_id, idx, speaker, text, strategy, emotion_before, emotion_after, change, "
                            "judge, retrieved, latency, extra FROM turns ORDER BY episode_id, idx"):
        where = f"turn {row[1]} of episode {row[0]!r}: turns."
        turns.setdefault(row[0], []).append(TurnRecord(
            idx=row[1], speaker=row[2], text=row[3], strategy=row[4], emotion_before=row[5], emotion_after=row[6],
            change=row[7], judge=check.json(row[8], where + "judge", dict, None),
            retrieved=check.json(row[9], where + "retrieved", list, []), latency=row[10] or 0.0,
            extra=check.json(row[11], where + "extra", dict, {})))
    # read-only readers cannot migrate: an old file simply has no health column
    health = "health" if "health" in _columns(conn, "episodes") else "'{}'"
    episodes = []
    for r in conn.execute("SELECT episode_id, profile_id, trial, seed, status, outcome, initial_emotion, "
                          f"final_emotion, seeker_turns, tokens, error, attempts, seconds, profile, {health} "
                          "FROM episodes ORDER BY position"):
        where = f"episode {r[0]!r}: episodes."
        if r[4] == "done":  # a scored episode must carry what scores it
            if r[5] not in OUTCOMES:
                raise check.fail(where + "outcome", f"is {r[5]!r}, not one of {', '.join(OUTCOMES)}, though the "
                                                    f"episode is done")
            for column, value in (("initial_emotion", r[6]), ("final_emotion", r[7])):
                if not isinstance(value, (int, float)):
                    raise check.fail(where + column, f"is {value!r}, not a number, though the episode is done")
        profile = check.json(r[13], where + "profile", dict, None)
        if profile is None:
            raise check.fail(where + "profile", "is empty")
        tokens = check.mapping_of_mappings(check.json(r[9], where + "tokens", dict, {}), where + "tokens")
        episode_health = check.json(r[14], where + "health", dict, {})
        if "structured" in episode_health:
            if not isinstance(episode_health["structured"], dict):
                raise check.fail(where + "health", "has 'structured' that is not an object")
            check.mapping_of_mappings(episode_health["structured"], where + "health")
        episodes.append(EpisodeResult(
            episode_id=r[0], profile_id=r[1], trial=r[2], seed=r[3], status=r[4], outcome=r[5],
            initial_emotion=r[6], final_emotion=r[7], seeker_turns=r[8] or 0, tokens=tokens, error=r[10],
            attempts=r[11] or 0, seconds=r[12] or 0.0, profile=profile, turns=turns.get(r[0], []),
            health=episode_health))
    other = {k: v for k, v in meta.items() if k not in {"config", "config_hash"}}
    decoded = {}
    for key, value in other.items():
        try:
            decoded[key] = json.loads(value) if key in {"execution", "applied_settings", "seconds"} else value
        except (TypeError, ValueError):
            decoded[key] = value
    return RunData(run_dir=str(run_dir), config=config, config_hash=meta["config_hash"], episodes=episodes,
                   meta=decoded)
