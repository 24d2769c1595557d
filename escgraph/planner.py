"""Strategy planners behind one interface: given a next-strategy case (ARCHITECTURE.md §5), a probability for each of
the eight ESConv strategies.

- :class:`TrainedPlanner` — escgraph's external planner (``escgraph planner train``), loaded from its folder;
- ``LLMPlanner`` — zero-shot choice by any chat model (the distribution is one-hot on its answer); it is an agent,
  so it lives in :mod:`escgraph.agents.llm_planner`, with the ``load_planner`` / ``resolve_planner`` that also
  accept ``llm:<model spec>`` (this core module never imports agents);
- the *hybrid* lives in the agents that choose strategies (``StrategyCounselor(planner=...,
  planner_mode="hybrid")``, :mod:`escgraph.agents.planner_guidance`): the trained planner proposes its
  distribution and the LLM may override it, with a reason.

:func:`case_from_state` turns a live graph state into a case, so every graph can use a planner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from escgraph.config import split_pin
from escgraph.types import STRATEGIES

__all__ = ["StrategyPlanner", "TrainedPlanner", "PlannerError", "predict", "case_from_state", "top_strategies",
           "resolve_planner", "pin_planner"]


class PlannerError(ValueError):
    """A planner folder is missing, incomplete, or was changed after training."""


class StrategyPlanner(Protocol):
    kind: str

    def distributions(self, cases: Sequence[dict[str, Any]]) -> list[dict[str, float]]: ...


def predict(planner: StrategyPlanner, cases: Sequence[dict[str, Any]]) -> list[str]:
    return [max(d, key=d.get) for d in planner.distributions(cases)]


def top_strategies(distribution: dict[str, float], n: int = 3) -> list[tuple[str, float]]:
    return sorted(distribution.items(), key=lambda kv: -kv[1])[:n]


class TrainedPlanner:
    kind = "trained"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest_path, weights_path = self.folder / "manifest.json", self.folder / "planner.npz"
        if not manifest_path.is_file() or not weights_path.is_file():
            raise PlannerError(f"{self.folder} is not a strategy planner (needs manifest.json and planner.npz; "
                               f"train one with `escgraph planner train`)")
        from escgraph.planner_train import PLANNER_FORMAT, PLANNER_FORMAT_VERSION, FeatureSpace, PlannerModel

        try:
            self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PlannerError(f"{manifest_path} is not valid JSON ({exc})") from None
        if self.manifest.get("format") != PLANNER_FORMAT or self.manifest.get("labels") != list(STRATEGIES):
            raise PlannerError(f"{manifest_path} is not an escgraph strategy planner")
        if self.manifest.get("format_version") != PLANNER_FORMAT_VERSION:
            raise PlannerError(f"{self.folder} was trained by another escgraph version (planner format "
                               f"{self.manifest.get('format_version')}, this one reads {PLANNER_FORMAT_VERSION}); "
                               f"train it again with `escgraph planner train`")
        data = weights_path.read_bytes()
        if hashlib.sha256(data).hexdigest()[:16] != self.manifest.get("content_hash"):
            raise PlannerError(f"{weights_path} does not match its manifest (changed after training?)")
        space = FeatureSpace(self.manifest["features"]["emotions"], self.manifest["features"]["problems"])
        try:
            with np.load(weights_path, allow_pickle=False) as npz:  # arrays only: never unpickles anything
                self.model = PlannerModel.from_arrays(npz, space)
        except (KeyError, ValueError) as exc:
            raise PlannerError(f"{weights_path} is incomplete or damaged ({exc})") from None

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]

    def distributions(self, cases: Sequence[dict[str, Any]], *, debiased: bool = True) -> list[dict[str, float]]:
        """Each case's probability per strategy; ``debiased=False`` leaves out the preference offsets."""
        if not cases:
            return []
        z = self.model.log_probs(list(cases), debiased=debiased)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return [{s: round(float(p), 4) for s, p in zip(STRATEGIES, row)} for row in probs]

    def distribution(self, case: dict[str, Any]) -> dict[str, float]:
        return self.distributions([case])[0]


def case_from_state(state: dict[str, Any]) -> dict[str, Any]:
    """The next-strategy case for a live conversation: its dialogue so far as context."""
    from langchain_core.messages import AIMessage, HumanMessage

    context = []
    for m in state.get("messages", []):
        if isinstance(m, HumanMessage):
            context.append({"role": "seeker", "text": m.text})
        elif isinstance(m, AIMessage) and m.text:
            strategy = (m.response_metadata or {}).get("strategy")
            context.append({"role": "supporter", "text": m.text, **({"strategy": strategy} if strategy else {})})
    assessment = state.get("assessment") or {}
    return {"id": "live", "situation": state.get("situation") or "", "context": context,
            "emotion_type": assessment.get("emotion"), "problem_type": None}


def pin_planner(folder: str | Path) -> str:
    """``"<absolute folder>@<content hash>"``: what a simulation records, so a changed planner fails on resume."""
    planner = TrainedPlanner(folder)
    return f"{Path(folder).resolve()}@{planner.content_hash}"


def resolve_planner(spec: Any) -> Any:
    """A planner object from a graph option: an object (returned as is), a folder, or a pinned ``folder@hash``
    (checked). ``llm:<spec>`` is :func:`escgraph.agents.llm_planner.resolve_planner`'s."""
    if spec is None or not isinstance(spec, (str, Path)):
        return spec
    text = str(spec)
    if text.startswith("llm:"):
        raise PlannerError(f"{text!r} names the zero-shot LLM planner, an agent: resolve it with "
                           f"escgraph.agents.llm_planner.resolve_planner")
    folder, expected = split_pin(text)
    planner = TrainedPlanner(folder)
    if expected and planner.content_hash != expected:
        raise PlannerError(f"planner {folder} has content {planner.content_hash}, not {expected} (retrained?)")
    return planner
