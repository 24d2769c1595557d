"""Reading a run folder's results file into :class:`~escgraph.simulations.results.RunData`, read-only, with every
JSON column decoded and shape-checked (errors name the file, ``table.column`` and the episode).
``escgraph.simulations.store`` re-exports :func:`load_run`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from escgraph.simulations._store_file import RUN_FILE, RunStoreError, columns
from escgraph.simulations.results import OUTCOMES, EpisodeResult, RunData, TurnRecord

__all__ = ["load_run", "read_run"]


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
            return read_run(conn, run_dir)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RunStoreError(f"{path} is not a readable results database: {exc}") from None


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


def read_run(conn: sqlite3.Connection, run_dir: Path) -> RunData:
    """The run in an open results file (``run_dir`` names it in errors)."""
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
    health = "health" if "health" in columns(conn, "episodes") else "'{}'"
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
