"""Shared fixtures: an isolated data folder per test and fake chat models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Nothing a test does may touch the user's real escgraph data folder."""
    monkeypatch.setenv("ESCGRAPH_HOME", str(tmp_path / "escgraph-home"))


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
