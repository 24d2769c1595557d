"""`langgraph dev` serves the registered graphs; a run through its HTTP API on loopback returns a reply.

A run's context (or config configurable) chooses the model per role by spec, with an optional base URL.
"""

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


# -- models chosen per run through the API's context ---------------------------------------------------------------
SAID = "I had a fight with my sister and feel awful."


def _sdk_client(server):
    sdk = pytest.importorskip("langgraph_sdk")  # installed with langgraph-cli ('escgraph[server]')
    return sdk.get_client(url=server)


async def test_run_context_selects_the_fake_model_for_the_counselor(server):
    client = _sdk_client(server)
    thread = await client.threads.create()
    state = await client.runs.wait(thread["thread_id"], "sweetiechat",
                                   input={"messages": [{"role": "human", "content": SAID}]},
                                   context={"models": {"counselor": "fake"}})
    assert state["reply"] == f"I hear you. You said: {SAID}", state  # the fake's deterministic echo
    assert state["messages"][-1]["content"] == state["reply"]


async def test_config_configurable_selects_a_model_too(server):
    client = _sdk_client(server)
    state = await client.runs.wait(None, "sweetiechat", input={"messages": [{"role": "human", "content": SAID}]},
                                   config={"configurable": {"models": {"counselor": {"spec": "fake"}}}})
    assert state["reply"] == f"I hear you. You said: {SAID}", state


async def test_base_url_per_role_through_the_served_graph(server):
    pytest.importorskip("langchain_openai")
    from escgraph.testing import MockOpenAIServer

    client = _sdk_client(server)
    with MockOpenAIServer(delay=0) as mock:
        state = await client.runs.wait(None, "sweetiechat",
                                       input={"messages": [{"role": "human", "content": SAID}]},
                                       context={"models": {"counselor": {"spec": "openai:mock-model",
                                                                         "base_url": mock.base_url}}})
        assert state.get("reply") and mock.requests >= 2, state


async def test_a_bad_spec_fails_the_run_naming_role_and_spec(server):
    client = _sdk_client(server)
    state = await client.runs.wait(None, "sweetiechat", input={"messages": [{"role": "human", "content": SAID}]},
                                   context={"models": {"judge": "gpt4"}}, raise_error=False)
    error = state["__error__"]
    assert error["error"] == "ModelSpecError", state
    assert "ESCContext.models['judge']" in error["message"] and "'gpt4'" in error["message"], state
