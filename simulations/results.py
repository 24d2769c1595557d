"""What a simulation run produces, as plain data: what the store writes and the metrics and report read.

These records are the contract between the runner (writer), the SQLite store, ``metrics`` and ``report``; they
hold only JSON-friendly values so a run folder can be read without the models that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["TurnRecord", "EpisodeResult", "RunData", "Outcome", "EpisodeStatus", "OUTCOMES"]

# How a finished episode ended (SAGE termination, ARCHITECTURE.md section 5).
Outcome = Literal["success", "failure", "goodbye", "max_turns"]
OUTCOMES: tuple[str, ...] = ("success", "failure", "goodbye", "max_turns")
# pending: not started; running: started, not finished (restarted on resume); done: scored;
# infra_error: model/infrastructure errors exhausted the retries (never scored as a seeker failure).
EpisodeStatus = Literal["pending", "running", "done", "infra_error"]


@dataclass
class TurnRecord:
    """One utterance. ``idx`` counts utterances from 0 (the seeker's opening).

    Seeker turns after the opening carry the judge's assessment of the counselor reply just before them:
    ``emotion_before`` / ``emotion_after`` / ``change`` and ``judge`` (meaning, serves_goal, inner_reaction,
    feeling, ...). Counselor turns carry ``strategy``, ``retrieved`` (ids of skills / knowledge used) and, in
    ``extra``, ``stage``, ``rationale``, ``reply_source`` and ``safety`` (the gate's category when it fired).
    Seeker turns' ``extra`` has ``seeker_regenerated`` (the reason each rejected model line was rejected) and
    ``seeker_fallback`` (the last one was replaced by a canned in-character line).
    """

    idx: int
    speaker: Literal["seeker", "counselor"]
    text: str
    strategy: str | None = None
    emotion_before: float | None = None
    emotion_after: float | None = None
    change: float | None = None
    judge: dict[str, Any] | None = None
    retrieved: list[str] = field(default_factory=list)
    latency: float = 0.0  # seconds spent producing this utterance (judge + reply for a seeker turn)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EpisodeResult:
    """One episode, keyed ``(profile_id, trial, seed)``; ``episode_id`` is ``f"{profile_id}#{trial}#{seed}"``."""

    episode_id: str
    profile_id: str
    trial: int
    seed: int
    status: EpisodeStatus
    profile: dict[str, Any]  # the SeekerProfile as played (model_dump, None fields dropped)
    outcome: Outcome | None = None
    initial_emotion: float | None = None
    final_emotion: float | None = None
    seeker_turns: int = 0  # judged seeker turns (the opening is not judged)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # role -> {input_tokens, output_tokens, ...}
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    turns: list[TurnRecord] = field(default_factory=list)
    # Judge-health data of the episode: {"structured": {role: {calls, retries, gave_up}}}; empty for episodes
    # recorded before it existed (see ``simulations.health``).
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def trajectory(self) -> list[float]:
        """Emotion after the opening and after every judged turn."""
        points = [self.initial_emotion] if self.initial_emotion is not None else []
        points += [t.emotion_after for t in self.turns if t.speaker == "seeker" and t.emotion_after is not None
                   and t.idx > 0]
        return points

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunData:
    """A whole run as read back from its folder: config (with ``config_hash``), episodes and their turns."""

    run_dir: str
    config: dict[str, Any]
    config_hash: str
    episodes: list[EpisodeResult]
    meta: dict[str, Any] = field(default_factory=dict)  # created, escgraph_version, seconds, ...

    @property
    def finished(self) -> list[EpisodeResult]:
        return [e for e in self.episodes if e.status == "done"]
