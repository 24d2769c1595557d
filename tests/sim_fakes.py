"""Deterministic fake models for simulation tests (importable by subprocesses: tests/ is put on sys.path).

``SeededFake`` answers from a hash of the prompt and its ``seed`` (the runner sets a seed per episode), so a run's
outcomes depend only on the spec — never on timing, concurrency or which calls failed and were retried.
``fail_rate`` makes that share of calls time out, raise, or return malformed JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import PrivateAttr

from escgraph.llm import FakeChatModel
from escgraph.types import STRATEGIES

_REPLIES = [
    "That sounds like a lot to carry. What has been the hardest part?",
    "I hear how tired you are of this.",
    "It makes sense that you feel this way after all of that.",
    "Maybe we could look at one small step you could take this week.",
]
_SEEKER = [
    "I guess. It's been weighing on me for weeks.",
    "I don't know, nobody really listens to me about it.",
    "Thanks, that actually helps a bit.",
    "I think I have to go now, bye.",
    "It's mostly at night that it gets bad.",
]


def _digest(messages: list[BaseMessage], seed: int) -> int:
    text = f"{seed}|" + "|".join(f"{m.type}:{m.text}" for m in messages)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class SeededFake(FakeChatModel):
    seed: int = 0
    delay: float = 0.0
    fail_rate: float = 0.0
    timeout_sleep: float = 30.0

    _faults: random.Random = PrivateAttr(default_factory=lambda: random.Random(1234))
    _injected: list = PrivateAttr(default_factory=list)  # kinds of faults injected (shared by seeded copies)

    @property
    def injected(self) -> list[str]:
        return self._injected

    def _choose(self, messages: list[BaseMessage], schema: Any, call: Any = None) -> Any:
        h = _digest(messages, self.seed)
        name = getattr(schema.source, "__name__", "") if schema is not None else ""
        if name == "JudgeAssessment":
            change = (h % 23) - 8  # drifts upwards, so successes, failures and middles all occur
            return {"meaning": "a reply", "serves_goal": ["yes", "partly", "no"][h % 3],
                    "inner_reaction": "I notice how that lands", "feeling": ["tense", "calmer", "flat"][h % 3],
                    "change": change}
        if name == "StrategyDecision":
            return {"strategy": STRATEGIES[h % len(STRATEGIES)], "stage": ["exploration", "comforting",
                                                                       "action"][h % 3],
                    "rationale": "it fits what the seeker just said", "repeat_reason": "it still fits"}
        if schema is not None:
            return None
        is_seeker = "talking to a supporter" in (messages[0].text if messages else "")
        pool = _SEEKER if is_seeker else _REPLIES
        return pool[h % len(pool)]

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_rate and self._faults.random() < self.fail_rate:
            kind = self._faults.randrange(3)
            self._injected.append(["timeout", "exception", "malformed"][kind])
            if kind == 0:
                await asyncio.sleep(self.timeout_sleep)  # the runner's step timeout must cut this off
            elif kind == 1:
                raise ConnectionError("fake upstream reset the connection")
            elif kwargs.get("output_schema") is not None:
                return self._generate_text(messages, '{"meaning": "cut off', stop)
            else:
                raise ValueError("fake returned an empty choice list")
        return self._generate(messages, stop, run_manager, **kwargs)  # run_manager: who is calling

    def _generate_text(self, messages, text, stop):  # noqa: ANN001
        from langchain_core.outputs import ChatGeneration, ChatResult

        return ChatResult(generations=[ChatGeneration(message=self._message(messages, text))])


def fake_models(**options: Any) -> dict[str, SeededFake]:
    model = SeededFake(**options)
    return {"counselor": model, "seeker": model, "judge": model}


def finished_episodes(db_path) -> dict[str, tuple]:  # noqa: ANN001
    """Rows of the episodes a run database marks done (for kill -9 tests that poll it while the run starts)."""
    import sqlite3
    from pathlib import Path

    if not Path(db_path).exists():
        return {}
    try:  # the file can exist a moment before its tables do
        with sqlite3.connect(db_path) as db:
            return {r[0]: r[1:] for r in db.execute(
                "SELECT episode_id, final_emotion, outcome, finished FROM episodes WHERE status = 'done'")}
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise
