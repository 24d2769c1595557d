"""Run folders that survive faults and bad files: full disks, damaged or empty databases, two writers, orphans."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.simulations import runner as runner_module
from escgraph.simulations.runner import arun_simulation, run_simulation
from escgraph.simulations.store import RunLockedError, RunStore, RunStoreError, RunWriteError, load_run

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import fake_models, finished_episodes  # noqa: E402
from test_sim_runner import make_spec  # noqa: E402

cli = CliRunner()


def simulate(*args: str):
    return cli.invoke(cli_app(), ["simulate", "--model", "fake", *args])


def one_line_error(result) -> str:
    """The error the CLI printed: exactly one line, no traceback."""
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("escgraph: error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- disk full ---------------------------------------------------------------------------------------------------
class _FillingConnection:
    """A sqlite3 connection whose writes fail as on a full disk once ``after`` episodes have been saved."""

    def __init__(self, conn: sqlite3.Connection, after: int) -> None:
        self._conn, self._after, self.saved = conn, after, 0

    def _check(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and self.saved >= self._after:
            raise sqlite3.OperationalError("database or disk is full")
        if sql.lstrip().upper().startswith("UPDATE EPISODES SET STATUS=?"):  # an episode's final row
            self.saved += 1

    def execute(self, sql: str, *args):
        self._check(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args):
        self._check(sql)
        return self._conn.executemany(sql, *args)

    def __enter__(self):
        return self._conn.__enter__()

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_disk_full_mid_run_is_one_line_exit_2_and_resume_completes(tmp_path, monkeypatch):
    out = tmp_path / "run"
    connect = RunStore._connect
    monkeypatch.setattr(RunStore, "_connect", staticmethod(lambda path: _FillingConnection(connect(path), 2)))
    result = simulate("--n", "3", "--trials", "2", "--max-turns", "2", "--concurrency", "1", "--out", str(out))
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert "disk is full" in line and str(out) in line and "--resume" in line
    before = finished_episodes(out / "run.sqlite")
    assert len(before) == 2  # what was committed stays, nothing half-written
    with sqlite3.connect(out / "run.sqlite") as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    monkeypatch.setattr(RunStore, "_connect", staticmethod(connect))  # space freed
    resumed = simulate("--n", "3", "--trials", "2", "--max-turns", "2", "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    after = finished_episodes(out / "run.sqlite")
    assert len(after) == 6 and {k: after[k] for k in before} == before


async def test_a_really_full_database_raises_run_write_error(tmp_path, monkeypatch):
    """SQLite's own SQLITE_FULL (a page limit stands in for the disk) takes the same path."""
    connect = RunStore._connect

    def capped(path):
        conn = connect(path)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(RunStore, "_connect", staticmethod(capped))
    with pytest.raises(RunWriteError, match="disk is full") as caught:
        await arun_simulation(make_spec(), tmp_path / "run", models=fake_models())
    assert caught.value.disk_full
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_no_space_for_the_report_is_one_line_exit_2(tmp_path, monkeypatch):
    def no_space(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner_module, "atomic_write", no_space)
    out = tmp_path / "run"
    result = simulate("--n", "1", "--max-turns", "1", "--out", str(out))
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "disk is full" in line and str(out) in line
    assert len(finished_episodes(out / "run.sqlite")) == 1


# -- every episode an infra error --------------------------------------------------------------------------------
def test_all_infra_errors_is_a_clean_summary_and_exit_3(tmp_path, monkeypatch):
    from escgraph.simulations import episode
    from escgraph.testing import Faults, MockOpenAIServer

    pytest.importorskip("langchain_openai")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setattr(episode, "backoff_delay", lambda *args, **kwargs: 0.0)  # no waiting between retries
    out = tmp_path / "run"
    with MockOpenAIServer(delay=0, faults=Faults(server_error=1.0)) as server:
        result = cli.invoke(cli_app(), ["simulate", "--model", "openai:mock", "--base-url", server.base_url,
                                        "--n", "2", "--max-turns", "1", "--out", str(out)])
    assert result.exit_code == 3, result.output
    line = one_line_error(result)
    assert "all 2 episodes are infra errors" in line and "nothing was scored" in line
    assert "first error" in line and ("500" in line or "502" in line or "503" in line) and "--resume" in line
    assert "infra errors (not scored)" in result.output  # the summary table still printed


# -- report on damaged values ------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path) -> Path:
    out = tmp_path / "run"
    assert simulate("--n", "2", "--max-turns", "2", "--out", str(out)).exit_code == 0
    return out


def _tamper(run: Path, sql: str, *args) -> None:
    with sqlite3.connect(run / "run.sqlite") as db:
        db.execute(sql, args)


@pytest.mark.parametrize("sql, expected", [
    ("UPDATE episodes SET tokens = '{\"judge\": {\"input_tokens\": ' WHERE episode_id = ?",
     ["episodes.tokens", "not valid JSON"]),
    ("UPDATE episodes SET tokens = '{\"judge\": 5}' WHERE episode_id = ?", ["episodes.tokens", "'judge'"]),
    ("UPDATE episodes SET profile = '[1, 2]' WHERE episode_id = ?", ["episodes.profile", "list"]),
    ("UPDATE episodes SET final_emotion = NULL WHERE episode_id = ?", ["episodes.final_emotion", "done"]),
    ("UPDATE turns SET judge = '{\"change\": ' WHERE episode_id = ? AND idx = 2", ["turns.judge", "turn 2"]),
])
def test_report_names_file_column_and_episode_of_a_bad_value(finished_run, sql, expected):
    episode_id = load_run(finished_run).episodes[0].episode_id
    _tamper(finished_run, sql, episode_id)
    result = cli.invoke(cli_app(), ["report", str(finished_run)])
    assert result.exit_code == 2
    line = one_line_error(result)
    assert str(finished_run / "run.sqlite") in line and episode_id in line
    assert all(part in line for part in expected), line


def test_report_names_a_missing_meta_key(finished_run):
    _tamper(finished_run, "DELETE FROM meta WHERE key = 'config_hash'")
    result = cli.invoke(cli_app(), ["report", str(finished_run)])
    assert result.exit_code == 2
    line = one_line_error(result)
    assert str(finished_run / "run.sqlite") in line and "meta" in line and "config_hash" in line


# -- damaged, empty or foreign results files ---------------------------------------------------------------------
def test_resume_refuses_a_corrupt_database_and_leaves_it_byte_for_byte(finished_run):
    db_path = finished_run / "run.sqlite"
    data = bytearray(db_path.read_bytes())
    page = 4096
    assert len(data) >= 4 * page
    data[2 * page: 3 * page] = bytes([0x5A]) * page  # a b-tree page of garbage, header intact
    db_path.write_bytes(bytes(data))
    before, files = digest(db_path), sorted(p.name for p in finished_run.iterdir())
    result = simulate("--n", "2", "--max-turns", "2", "--out", str(finished_run), "--resume")
    assert result.exit_code == 2
    line = one_line_error(result)
    assert "damaged" in line and "not changed" in line and ".recover" in line and str(db_path) in line
    assert digest(db_path) == before
    assert sorted(p.name for p in finished_run.iterdir()) == files  # no -wal or -shm left behind either


def test_an_empty_results_file_is_refused_not_taken_for_a_new_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.sqlite").write_bytes(b"")
    for extra in ((), ("--resume",)):
        result = simulate("--n", "1", "--max-turns", "1", "--out", str(out), *extra)
        assert result.exit_code == 2
        line = one_line_error(result)
        assert "empty (0 bytes)" in line and "not a run database" in line
    assert (out / "run.sqlite").stat().st_size == 0
    report = cli.invoke(cli_app(), ["report", str(out)])
    assert report.exit_code == 2 and "empty" in one_line_error(report)


def test_a_foreign_file_is_refused_untouched(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.sqlite").write_text("these are my notes, not a database\n" * 200)
    before = digest(out / "run.sqlite")
    result = simulate("--n", "1", "--out", str(out), "--resume")
    assert result.exit_code == 2 and "not a run database" in one_line_error(result)
    other = out / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    other.replace(out / "run.sqlite")
    before = digest(out / "run.sqlite")
    result = simulate("--n", "1", "--out", str(out), "--resume")
    assert result.exit_code == 2 and "not a run database" in one_line_error(result)
    assert digest(out / "run.sqlite") == before


def test_a_new_folder_never_holds_an_empty_results_file(tmp_path, monkeypatch):
    """The results file is built aside and renamed in: a run killed while creating it leaves nothing to refuse."""
    from escgraph.simulations import _store_file as store_module  # where the file is created

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        run_simulation(make_spec(), tmp_path / "run", models=fake_models())
    assert not (tmp_path / "run" / "run.sqlite").exists()
    monkeypatch.undo()
    run = run_simulation(make_spec(trials=1), tmp_path / "run", models=fake_models(), write_report=False)
    assert all(e.status == "done" for e in run.episodes)


# -- one writer per folder ---------------------------------------------------------------------------------------
_RUN_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from sim_fakes import fake_models
from test_sim_runner import make_spec
from escgraph.simulations.runner import arun_simulation
asyncio.run(arun_simulation(make_spec(concurrency=1), {out!r}, models=fake_models(delay=0.2), resume=True,
                            write_report=False))
"""


def _start_run(tmp_path: Path, out: Path) -> subprocess.Popen:
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": tests + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", _RUN_SCRIPT.format(tests=tests, out=str(out))], env=env)


def _wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_second_writer_is_refused_with_the_holders_pid_and_a_dead_holders_lock_is_free(tmp_path):
    out = tmp_path / "run"
    holder = _start_run(tmp_path, out)
    try:
        _wait_for(lambda: len(finished_episodes(out / "run.sqlite")) >= 1)
        models = fake_models()
        with pytest.raises(RunLockedError) as caught:
            run_simulation(make_spec(concurrency=1), out, models=models, resume=True)
        assert str(out) in str(caught.value) and f"pid {holder.pid}" in str(caught.value)
        assert models["counselor"].calls == []  # refused before playing anything
        cli_result = simulate("--out", str(out), "--resume")
        assert cli_result.exit_code == 2 and f"pid {holder.pid}" in one_line_error(cli_result)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released the dead holder's lock: resuming works and finishes the run
    run = run_simulation(make_spec(concurrency=1), out, models=fake_models(), resume=True, write_report=False)
    assert all(e.status == "done" for e in run.episodes)


# -- workers die with their parent -------------------------------------------------------------------------------
_PROCESS_RUN = """
import sys
from escgraph.profiles import SeekerProfile
from escgraph.simulations.runner import run_simulation
from escgraph.simulations.spec import RunSpec
if __name__ == "__main__":
    profiles = [SeekerProfile(id=f"s{{i}}", situation="I failed my exam.", first_talk="I failed my exam.")
                for i in range(40)]
    spec = RunSpec(run_id="orphans", models={{"counselor": "openai:mock"}}, base_url={url!r}, profiles=profiles,
                   max_turns=10, concurrency=2, executor="process")
    run_simulation(spec, {out!r})
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; it only waits for its new parent to reap it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_their_parent_is_killed(tmp_path, monkeypatch):
    from escgraph.testing import MockOpenAIServer

    pytest.importorskip("langchain_openai")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["OPENAI_API_KEY"] = "x"
    with MockOpenAIServer(delay=0.2) as server:
        script = tmp_path / "run.py"
        script.write_text(_PROCESS_RUN.format(url=server.base_url, out=str(tmp_path / "run")))
        parent = subprocess.Popen([sys.executable, str(script)], env=env)
        try:
            _wait_for(lambda: server.requests >= 4)  # the workers are up and playing
            workers = _children(parent.pid)
            assert 1 <= len(workers) <= 2, workers
        finally:
            parent.send_signal(signal.SIGKILL)
            parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived their parent"


_WATCHDOG = """
import multiprocessing, os, sys, time
from escgraph.simulations.workers import exit_with_parent

def child(parent_pid):
    exit_with_parent(parent_pid, pdeathsig=False)  # only the portable watchdog
    time.sleep(600)

if __name__ == "__main__":
    proc = multiprocessing.get_context("spawn").Process(target=child, args=(os.getpid(),))
    proc.start()
    print(proc.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_portable_watchdog_alone_ends_an_orphan(tmp_path):
    script = tmp_path / "watchdog.py"
    script.write_text(_WATCHDOG)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # let the child arm its watchdog
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def test_store_errors_are_run_store_errors():
    assert issubclass(RunLockedError, RunStoreError) and issubclass(RunWriteError, RunStoreError)
