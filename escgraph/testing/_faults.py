"""Fault injection for the mock OpenAI server: which share of requests fails, and how (ARCHITECTURE.md §4).

Which request gets which fault comes from a seeded RNG (:meth:`Faults.draw`); every request that is answered normally
is answered exactly as without faults, so a client that retries faults ends up where a clean run does.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

__all__ = ["FAULT_KINDS", "Faults", "malformed"]

# The kinds of fault the server can inject, in the order the RNG's draw is matched against their rates.
FAULT_KINDS: tuple[str, ...] = ("server_error", "rate_limit", "hang", "non_json", "truncated", "malformed")


@dataclass
class Faults:
    """Per-request fault rates (each 0..1, summing to at most 1) and the seed of the RNG that draws them.

    ``server_error``: 500, 502 or 503. ``rate_limit``: 429 with ``Retry-After: retry_after`` seconds. ``hang``: no
    answer at all until the client closes the connection. ``non_json``: 200 with an HTML body. ``truncated``: the
    body (or event stream) is cut off mid-way and the connection closed. ``malformed``: for requests that want
    structured output (a JSON schema, JSON mode or a forced tool), content or arguments that do not parse; other
    requests are answered normally (and the fault is not counted).
    """

    server_error: float = 0.0
    rate_limit: float = 0.0
    hang: float = 0.0
    non_json: float = 0.0
    truncated: float = 0.0
    malformed: float = 0.0
    retry_after: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rates = [getattr(self, kind) for kind in FAULT_KINDS]
        if any(not 0 <= r <= 1 for r in rates) or sum(rates) > 1 + 1e-9:
            raise ValueError("fault rates must each be within 0..1 and sum to at most 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must be 0 or more seconds")

    @classmethod
    def uniform(cls, rate: float, **options: Any) -> "Faults":
        """``rate`` spread evenly over every kind of fault."""
        return cls(**{kind: rate / len(FAULT_KINDS) for kind in FAULT_KINDS}, **options)

    def draw(self, rng: random.Random) -> str | None:
        """The fault for the next request (None: answer it normally)."""
        x, edge = rng.random(), 0.0
        for kind in FAULT_KINDS:
            edge += getattr(self, kind)
            if x < edge:
                return kind
        return None


def malformed(result: dict[str, Any]) -> dict[str, Any]:
    """The completion with its structured content (JSON content, tool arguments) cut in half: it no longer parses."""
    result = json.loads(json.dumps(result))
    for choice in result["choices"]:
        message = choice["message"]
        for call in message.get("tool_calls") or []:
            arguments = call["function"]["arguments"]
            call["function"]["arguments"] = arguments[: max(1, len(arguments) // 2)]
        if isinstance(message.get("content"), str):
            message["content"] = message["content"][: max(1, len(message["content"]) // 2)]
    return result
