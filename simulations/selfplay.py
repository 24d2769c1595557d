"""Quick self-play: a simple simulated seeker per profile talks to a registered graph for a few turns.

This is the short demo job; the full SAGE seeker-judge runner (resumable, concurrent, scored) builds on the same
agents and graphs.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from escgraph._version import __version__
from escgraph.agents import SimulatedSeeker
from escgraph.graphs import build_graph
from escgraph.llm import UsageTracker
from escgraph.profiles import SeekerProfile, load_profiles
from escgraph.types import ESCContext

__all__ = ["SelfPlayTurn", "SelfPlayEpisode", "SelfPlayResult", "demo_profiles", "run_selfplay"]


@dataclass
class SelfPlayTurn:
    turn: int
    seeker: str
    reply: str
    strategy: str | None
    rationale: str | None
    reply_source: str | None
    crisis: bool
    safety_category: str
    seconds: float


@dataclass
class SelfPlayEpisode:
    profile: dict[str, Any]
    turns: list[SelfPlayTurn] = field(default_factory=list)


@dataclass
class SelfPlayResult:
    graph: str
    model: str
    seeker_model: str
    max_turns: int
    started: str
    seconds: float
    escgraph_version: str
    episodes: list[SelfPlayEpisode]
    tokens: dict[str, dict[str, int]]

    def strategy_counts(self) -> Counter:
        return Counter(t.strategy for e in self.episodes for t in e.turns if t.strategy)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def demo_profiles() -> list[SeekerProfile]:
    with resources.as_file(resources.files("escgraph.simulations").joinpath("demo_profiles.yaml")) as path:
        return load_profiles(path)


def run_selfplay(
    graph: str,
    profiles: list[SeekerProfile],
    *,
    counselor_model: BaseChatModel,
    seeker_model: BaseChatModel,
    model_label: str = "",
    seeker_label: str = "",
    turns: int = 3,
    on_turn: Any = None,
) -> SelfPlayResult:
    """Play ``turns`` seeker turns per profile against ``graph``; each profile gets its own thread."""
    compiled = build_graph(graph, checkpointer=InMemorySaver())
    tracker = UsageTracker()
    context = ESCContext(models={"counselor": counselor_model, "seeker": seeker_model})
    started, t0 = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    episodes = []
    for profile in profiles:
        seeker = SimulatedSeeker(profile, seeker_model)
        episode = SelfPlayEpisode(profile=profile.model_dump(exclude_none=True))
        history: list = []
        config = {"configurable": {"thread_id": f"selfplay-{profile.id}"}, "callbacks": [tracker]}
        for turn in range(1, turns + 1):
            said = seeker.invoke({"messages": history}, config={"callbacks": [tracker]})["messages"][0]
            begin = time.perf_counter()
            state = compiled.invoke({"messages": [HumanMessage(said.content)]}, config=config, context=context)
            history = state["messages"]
            safety = state.get("safety") or {}
            record = SelfPlayTurn(
                turn=turn, seeker=said.content, reply=state.get("reply", ""), strategy=state.get("strategy"),
                rationale=state.get("strategy_rationale"), reply_source=state.get("reply_source"),
                crisis=bool(safety.get("crisis")), safety_category=safety.get("category", "none"),
                seconds=round(time.perf_counter() - begin, 2),
            )
            episode.turns.append(record)
            if on_turn:
                on_turn(profile, record)
            if record.crisis:
                break  # the safety reply ends a self-play episode
        episodes.append(episode)
    tokens = {role: usage.model_dump() for role, usage in tracker.totals().items()}
    return SelfPlayResult(graph=graph, model=model_label, seeker_model=seeker_label or model_label, max_turns=turns,
                          started=started, seconds=round(time.perf_counter() - t0, 1),
                          escgraph_version=__version__, episodes=episodes, tokens=tokens)
