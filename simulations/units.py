"""Intervention units from a finished simulation run: one per counselor turn (ESC-Skills, ARCHITECTURE.md §1).

Each unit pairs the seeker's state *before* the reply (the tracker's emotion, intensity and stage when the graph
has a tracker, else the profile's emotion, an intensity read from the judge's score, and the counselor's stage),
the action (strategy, skill followed, reply text) and the outcome (the judge's emotion change after the reply and
the seeker's answer). Safety-gate replies are not support moves and give no unit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from escgraph.simulations.results import EpisodeResult, RunData
from escgraph.skills_bank.schema import (
    InterventionOutcome,
    InterventionUnit,
    SeekerState,
    SupportAction,
    UnitSource,
)
from escgraph.types import STAGES

__all__ = ["intervention_units", "write_units", "intensity_from_score"]



def intensity_from_score(score: float | None) -> int:
    """SAGE emotion score (0 worst .. 100 best) -> distress intensity (5 overwhelming .. 1 mild)."""
    if score is None:
        return 3
    return max(1, min(5, 5 - int(score // 20)))


def _episode_units(run_name: str, episode: EpisodeResult) -> Iterable[InterventionUnit]:
    profile = episode.profile
    situation = " ".join(str(profile.get("situation", "")).split())[:300] or "not stated"
    score = episode.initial_emotion
    for i, turn in enumerate(episode.turns):
        if turn.speaker == "seeker":
            score = turn.emotion_after if turn.emotion_after is not None else score
            continue
        if turn.extra.get("safety") or not turn.strategy:
            continue
        answer = episode.turns[i + 1] if i + 1 < len(episode.turns) else None
        judged = answer is not None and answer.speaker == "seeker" and answer.change is not None
        assessment = turn.extra.get("assessment") or {}
        stage = assessment.get("stage") or turn.extra.get("stage")
        yield InterventionUnit(
            id=f"{run_name}:{episode.episode_id}:{turn.idx}",
            state=SeekerState(emotion=str(assessment.get("emotion") or profile.get("emotion_type") or "unknown"),
                              intensity=int(assessment.get("intensity") or intensity_from_score(score)),
                              stage=stage if stage in STAGES else "exploration", situation=situation),
            action=SupportAction(strategy=turn.strategy, skill_id=turn.extra.get("skill_id"), reply=turn.text),
            outcome=InterventionOutcome(emotion_change=answer.change if judged else None,
                                        seeker_feedback=answer.text if judged else None),
            source=UnitSource(kind="run", name=run_name, dialogue=episode.episode_id, turn=turn.idx),
        )


def intervention_units(run: RunData) -> list[InterventionUnit]:
    """Every intervention unit of the run's finished episodes, in episode and turn order."""
    name = Path(run.run_dir).name or run.config.get("run_id", "run")
    return [unit for episode in run.finished for unit in _episode_units(name, episode)]


def write_units(units: Iterable[InterventionUnit], path: str | Path) -> int:
    """Write units as JSON lines (atomically); returns how many were written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for unit in units:
            fh.write(json.dumps(unit.model_dump(mode="json"), ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count
