"""`langgraph dev` serves the registered graphs; a run through its HTTP API on loopback returns a reply."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.server, pytest.mark.embedded]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    exe = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    if exe is None:
        pytest.skip("langgraph CLI not installed (pip install 'escgraph[server]')")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("langgraph-dev")
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LANGSMITH_TRACING": "false",
           "ESCGRAPH_HOME": str(workdir / "home")}
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [exe, "dev", "--port", str(port), "--host", "127.0.0.1", "--no-browser", "--no-reload",
         "--config", str(ROOT / "langgraph.json")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # poll for readiness, bounded
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited: {(workdir / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"langgraph dev did not start: {(workdir / 'server.log').read_text()[-3000:]}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_server_lists_sweetiechat(server):
    found = httpx.post(f"{server}/assistants/search", json={"graph_id": "sweetiechat"}, timeout=30).json()
    assert any(a["graph_id"] == "sweetiechat" for a in found)


def test_run_through_http_api_returns_a_reply(server):
    thread = httpx.post(f"{server}/threads", json={}, timeout=30).json()["thread_id"]
    body = {"assistant_id": "sweetiechat",
            "input": {"messages": [{"role": "human", "content": "I had a fight with my sister and feel awful."}]}}
    state = httpx.post(f"{server}/threads/{thread}/runs/wait", json=body, timeout=300).json()
    assert state.get("reply"), state
    assert state["messages"][-1]["type"] == "ai" and state["messages"][-1]["content"] == state["reply"]
    assert state["safety"]["crisis"] is False
