"""Helpers for tests and benches: a loopback OpenAI-compatible mock server."""

from __future__ import annotations

from .mock_openai import MockOpenAIServer, instance_for_schema

__all__ = ["MockOpenAIServer", "instance_for_schema"]
