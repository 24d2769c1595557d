"""Errors raised by model loading and structured output."""

from __future__ import annotations

__all__ = ["ModelSpecError", "StructuredOutputError"]


class ModelSpecError(ValueError):
    """A model spec cannot be turned into a chat model (bad syntax, missing file, missing integration)."""


class StructuredOutputError(ValueError):
    """A structured-output call produced no value that parses and validates against the schema."""
