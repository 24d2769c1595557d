"""Helpers for tests and benches: a loopback OpenAI-compatible mock server (with fault injection)."""

from __future__ import annotations

from .mock_openai import FAULT_KINDS, Faults, MockOpenAIServer, instance_for_schema

__all__ = ["MockOpenAIServer", "Faults", "FAULT_KINDS", "instance_for_schema"]
