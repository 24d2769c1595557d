"""Runs against a faulty model server (the loopback mock's fault injection): retries, fail-fast, outages, secrets."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.profiles import SeekerProfile
from escgraph.simulations.faults import ModelRequestRejected, ServerUnreachable
from escgraph.simulations.runner import load_role_models, run_simulation
from escgraph.simulations.spec import RunSpec
from escgraph.simulations.store import load_run
from escgraph.testing import FAULT_KINDS, Faults, MockOpenAIServer

pytest.importorskip("langchain_openai")

PROFILES = [SeekerProfile(id=f"s{i}", situation=f"I failed exam number {i} and my parents are upset.",
                          first_talk=f"I failed exam {i}.") for i in range(4)]


pytestmark = pytest.mark.usefixtures("loopback_openai_client")  # conftest: no proxy, any key


def make_spec(server: MockOpenAIServer, **overrides) -> RunSpec:
    options = dict(run_id="faults", models={"counselor": "openai:mock"}, base_url=server.base_url,
                   profiles=PROFILES, trials=2, max_turns=3, concurrency=4, call_retries=3, requeues=2,
                   backoff=0.05, step_timeout=1.0)
    options.update(overrides)
    return RunSpec(**options)


def outcomes(run) -> dict[str, tuple]:
    return {e.episode_id: (e.status, e.outcome, e.final_emotion,
                           [(t.speaker, t.text, t.emotion_after) for t in e.turns]) for e in run.episodes}


# -- the mock's faults, seen on the wire -------------------------------------------------------------------------
def _post(server: MockOpenAIServer, body: dict, *, timeout: float = 10, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json", **(headers or {})})
    return conn.getresponse()


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
STRUCTURED = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
    "type": "object", "properties": {"mood": {"type": "string", "enum": ["calm", "tense"]}}}}}}


def test_each_fault_kind_on_the_wire():
    with MockOpenAIServer(delay=0, faults=Faults(server_error=1.0)) as server:
        assert _post(server, CHAT).status in (500, 502, 503)
    with MockOpenAIServer(delay=0, faults=Faults(rate_limit=1.0, retry_after=2.5)) as server:
        response = _post(server, CHAT)
        assert response.status == 429 and response.getheader("Retry-After") == "2.5"
    with MockOpenAIServer(delay=0, faults=Faults(non_json=1.0)) as server:
        response = _post(server, CHAT)
        assert response.status == 200
        with pytest.raises(ValueError):
            json.loads(response.read())
    with MockOpenAIServer(delay=0, faults=Faults(truncated=1.0)) as server:
        with pytest.raises(http.client.IncompleteRead):
            _post(server, CHAT).read()
    with MockOpenAIServer(delay=0, faults=Faults(hang=1.0)) as server:
        with pytest.raises(socket.timeout):
            _post(server, CHAT, timeout=0.3)
    with MockOpenAIServer(delay=0, faults=Faults(malformed=1.0)) as server:
        content = json.loads(_post(server, STRUCTURED).read())["choices"][0]["message"]["content"]
        with pytest.raises(ValueError):
            json.loads(content)
        assert json.loads(_post(server, CHAT).read())["choices"][0]["message"]["content"]  # plain text: answered
        assert server.injected == {"malformed": 1}
    assert set(FAULT_KINDS) == {"server_error", "rate_limit", "hang", "non_json", "truncated", "malformed"}


def test_faults_are_seeded_and_rates_checked():
    def kinds(seed: int) -> list:
        with MockOpenAIServer(delay=0, faults=Faults.uniform(0.6, seed=seed)) as server:
            for _ in range(30):
                try:
                    _post(server, STRUCTURED, timeout=0.2).read()
                except (socket.timeout, http.client.IncompleteRead):
                    pass  # a hang or a cut-off body
            return sorted(server.injected.items())

    assert kinds(3) == kinds(3)
    with pytest.raises(ValueError):
        Faults(hang=0.7, server_error=0.7)


def test_wrong_api_key_is_401():
    with MockOpenAIServer(delay=0, api_key="right") as server:
        assert _post(server, CHAT, headers={"Authorization": "Bearer wrong"}).status == 401
        assert _post(server, CHAT, headers={"Authorization": "Bearer right"}).status == 200
        assert server.unauthorized == 1


# -- a run at 20 % faults ends where a clean run does ------------------------------------------------------------
@pytest.mark.parametrize("executor", ["local", "process"])
def test_run_at_20_percent_faults_matches_a_clean_run(tmp_path, executor):
    with MockOpenAIServer(delay=0) as server:
        clean = outcomes(run_simulation(make_spec(server), tmp_path / "clean", write_report=False))
    with MockOpenAIServer(delay=0, faults=Faults.uniform(0.2, seed=11, retry_after=0.1)) as server:
        run = run_simulation(make_spec(server, executor=executor, concurrency=4 if executor == "local" else 2),
                             tmp_path / "faulty")
        injected = dict(server.injected)
    # the faults really happened (every kind but, by chance, at most one)
    assert sum(injected.values()) >= 10 and len(injected) >= len(FAULT_KINDS) - 1, injected
    faulty = outcomes(run)
    assert {status for status, *_ in faulty.values()} <= {"done", "infra_error"}
    finished = [key for key, value in faulty.items() if value[0] == "done"]
    assert finished, "retries should carry most episodes through 20 % faults"
    for key in finished:  # a fault never changes what a finished episode says or scores
        assert faulty[key] == clean[key], key
    for episode in run.episodes:
        if episode.status == "infra_error":
            assert episode.outcome is None and episode.final_emotion is None and episode.error
    summary = json.loads((tmp_path / "faulty" / "summary.json").read_text())
    assert summary["failure"] == sum(faulty[k][1] == "failure" for k in finished)


# -- a server that never answers: the breaker stops the run ------------------------------------------------------
class _HangAfterFirst:
    """Progress hook: after the first finished episode the server stops answering."""

    def __init__(self, server: MockOpenAIServer) -> None:
        self.server = server

    def start(self, total, finished): ...
    def episode_started(self, key): ...
    def episode_requeued(self, key, error): ...

    def episode_finished(self, result):
        self.server.faults = Faults(hang=1.0)


@pytest.mark.parametrize("executor", ["local", "process"])
def test_a_hanging_server_stops_the_run_and_keeps_finished_episodes(tmp_path, executor):
    out = tmp_path / "run"
    with MockOpenAIServer(delay=0) as server:
        spec = make_spec(server, concurrency=1, step_timeout=0.5, max_outage=1.5, executor=executor)
        with pytest.raises(ServerUnreachable) as caught:
            run_simulation(spec, out, progress=_HangAfterFirst(server))
        message = str(caught.value)
        assert "has not answered" in message and "--max-outage 1.5" in message and "1 of 8" in message
        assert server.base_url in message
        with sqlite3.connect(out / "run.sqlite") as db:
            statuses = dict(db.execute("SELECT status, COUNT(*) FROM episodes GROUP BY status").fetchall())
            kept = db.execute("SELECT episode_id, finished FROM episodes WHERE status = 'done'").fetchall()
        assert statuses == {"done": 1, "pending": 7}  # nothing in flight was scored or marked as an infra error
        server.faults = None  # the server is back: resume finishes the run, the finished episode untouched
        resumed = run_simulation(spec, out, resume=True, write_report=False)
    assert all(e.status == "done" for e in resumed.episodes)
    with sqlite3.connect(out / "run.sqlite") as db:
        assert db.execute("SELECT episode_id, finished FROM episodes WHERE episode_id = ?",
                          (kept[0][0],)).fetchall() == kept


def test_cli_stops_with_exit_4_when_the_server_is_down(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "run"
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "openai:mock", "--base-url",
                                            f"http://127.0.0.1:{port}/v1", "--n", "2", "--max-turns", "2",
                                            "--max-outage", "1", "--step-timeout", "2", "--out", str(out)])
    assert result.exit_code == 4, result.output
    assert "has not answered" in result.output and "--resume" in result.output and str(out) in result.output
    assert "Traceback" not in result.output


# -- refused requests fail fast ----------------------------------------------------------------------------------
def test_wrong_api_key_stops_the_run_at_once_and_scores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with MockOpenAIServer(delay=0, api_key="right") as server:
        with pytest.raises(ModelRequestRejected, match="401"):
            run_simulation(make_spec(server, concurrency=1, call_retries=5), tmp_path / "run")
        assert server.unauthorized == 1  # not retried
    run = load_run(tmp_path / "run")
    assert {e.status for e in run.episodes} == {"pending"}


def test_cli_wrong_base_path_is_one_line_exit_2(tmp_path):
    with MockOpenAIServer(delay=0) as server:
        result = CliRunner().invoke(cli_app(), ["simulate", "--model", "openai:mock", "--base-url",
                                                server.base_url.replace("/v1", "/nope"), "--n", "1",
                                                "--concurrency", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "refused the request" in result.output and "404" in result.output and "--base-url" in result.output
    assert "Traceback" not in result.output


# -- request timeout from --step-timeout; credentials never stored -----------------------------------------------
def test_step_timeout_is_the_request_timeout_and_the_sdk_does_not_retry(tmp_path):
    with MockOpenAIServer(delay=0) as server:
        spec = make_spec(server, step_timeout=7.5)
        model = load_role_models(spec)["counselor"]
        assert model.request_timeout.read == 7.5 and model.max_retries == 0
        model.invoke("hello")
        assert server.last_request["headers"]["x-stainless-read-timeout"] == "7.5"


def _run_folder_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in folder.iterdir() if p.is_file())


def test_credentials_in_base_url_are_used_but_never_stored(tmp_path):
    with MockOpenAIServer(delay=0) as server:
        url = server.base_url.replace("http://", "http://alice:s3cr3t-pw@")
        run = run_simulation(make_spec(server, base_url=url, trials=1, max_turns=1), tmp_path / "run")
        assert server.last_request["headers"]["authorization"] == \
            "Basic " + base64.b64encode(b"alice:s3cr3t-pw").decode()  # the requests used them
    assert all(e.status == "done" for e in run.episodes)
    assert run.config["base_url"] == server.base_url
    assert "s3cr3t-pw" not in _run_folder_text(tmp_path / "run")
    # a token in the query string is masked too (the fake model never calls the URL)
    fake = RunSpec(run_id="t", models={"counselor": "fake"}, profiles=PROFILES[:1], max_turns=1,
                   base_url="https://api.example.com/v1?api_key=tok-123&region=eu")
    stored = run_simulation(fake, tmp_path / "fake")
    assert stored.config["base_url"] == "https://api.example.com/v1?api_key=***&region=eu"
    assert "tok-123" not in _run_folder_text(tmp_path / "fake")
