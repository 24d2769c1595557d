"""Shared fixtures: an isolated data folder per test, fake chat models, and a guard against the embedded model."""

from __future__ import annotations

import os
import threading
import traceback

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Markers that let a test load a real llama.cpp model (the embedded SmolLM2 GGUF); every other test may not.
EMBEDDED_MARKERS = ("embedded", "allows_embedded")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "allows_embedded: may load the embedded model without being an `embedded` test (say why)")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Nothing a test does may touch the user's real escgraph data folder."""
    monkeypatch.setenv("ESCGRAPH_HOME", str(tmp_path / "escgraph-home"))


class EmbeddedModelForbidden(RuntimeError):
    """A test not marked ``embedded`` (or ``allows_embedded``) tried to load the embedded model."""


class EmbeddedModelGuard:
    """Refuses every llama.cpp model load in this process and remembers each attempt.

    ``ESCContext.model(role)`` falls back to the embedded model for a role with no model; in a test that is almost
    always a forgotten ``models={...}`` entry, which then runs SmolLM2 for seconds where a fake would answer in
    microseconds. Loads are stopped where every route meets (``load_model`` behind ``ChatLlamaCpp``:
    ``default_chat_model()``, ``load_chat_model("local")``, a ``{"spec": "local"}`` context entry, a direct
    ``ChatLlamaCpp(...)``), and models cached by earlier tests are hidden. An attempt swallowed by the code under
    test (an episode recorded as failed, a worker thread) still fails the test at teardown, unless the test
    clears :attr:`attempts` because it expected them.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> None:
        from escgraph.llm import _cached, _llamacpp, _spec

        monkeypatch.setattr(_llamacpp, "load_model", self._refuse)
        monkeypatch.setattr(_spec, "_default_model", None)  # loaded by an earlier embedded test: not reused here
        monkeypatch.setattr(_cached, "_models", {})

    def _refuse(self, path, **options):
        chain = _call_chain()
        with self._lock:
            self.attempts.append(f"{path} via {chain}")
        raise EmbeddedModelForbidden(
            f"This test tried to load the embedded model ({os.path.basename(str(path))}) via {chain}. "
            "If it should not run a real model, give every role a model, e.g. "
            "ESCContext(models={'counselor': FakeChatModel(), 'seeker': ..., 'judge': ...}) — a role without one "
            "falls back to the embedded model (ESCContext(..., fallback_model=None) makes that an error). If it should, mark it @pytest.mark.embedded "
            "(or @pytest.mark.allows_embedded, saying why).")


def _call_chain() -> str:
    """The escgraph functions (and the test) on the way to the load, outermost first."""
    frames = [f for f in traceback.extract_stack()[:-2]
              if ("escgraph" in f.filename or "/tests/" in f.filename or "/agents/" in f.filename
                  or "/simulations/" in f.filename or "/graphs/" in f.filename)
              and "conftest" not in f.filename and "site-packages/_pytest" not in f.filename]
    names = [f.name for f in frames][-6:]
    return " -> ".join(names) or "an unknown caller"


@pytest.fixture(autouse=True)
def embedded_guard(request, monkeypatch):
    """On by default: loading the embedded model fails the test unless it is marked ``embedded``/``allows_embedded``.

    Yields the :class:`EmbeddedModelGuard` (``None`` for a marked test); a test that expects a refused load may
    request this fixture and clear ``embedded_guard.attempts``.
    """
    if any(request.node.get_closest_marker(name) for name in EMBEDDED_MARKERS):
        yield None
        return
    guard = EmbeddedModelGuard()
    guard.install(monkeypatch)
    yield guard
    if guard.attempts:
        pytest.fail("tried to load the embedded model without @pytest.mark.embedded: "
                    + "; ".join(guard.attempts), pytrace=False)


@pytest.fixture
def scripted_model():
    """A fake counselor model: structured calls get a fixed strategy decision, text calls a fixed reply."""
    from escgraph.agents.strategy_counselor import StrategyDecision
    from escgraph.llm import FakeChatModel

    def make(strategy: str = "Reflection of feelings", reply: str = "That sounds really hard. I'm here with you.",
             stage: str = "comforting", repeat_reason: str = ""):
        def respond(messages, schema):
            if schema is not None:
                return StrategyDecision(strategy=strategy, stage=stage, rationale="fits what they said",
                                        repeat_reason=repeat_reason)
            return reply

        return FakeChatModel(responder=respond)

    return make


_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def loopback_openai_client(monkeypatch):
    """An OpenAI client reaches the loopback mock directly: no proxy or base URL from the environment, any key."""
    for name in _PROXY_VARS + ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
