"""Trace analysis: where did simulated seekers get worse, with which skill, and which seekers were they?

Works on finished episodes of any run (objects shaped like ``escgraph.simulations.results.EpisodeResult``: an
``episode_id``, the ``profile`` as a dict, ``outcome``, ``initial_emotion``/``final_emotion`` and ``turns`` with
``speaker``, ``text``, ``strategy``, ``change``, ``judge`` and ``extra["skill_id"]``), so the skills bank needs
no import of the simulation runner (ARCHITECTURE.md §3).

The analysis selects failed and low-gain episodes, takes the counselor turns after which the judge's emotion fell
most (intervention units), and groups them by the skill followed and by profile traits. A *finding* is a group
worth an edit: a skill whose replies hurt one kind of seeker much more than the others (``skill_in_group``), a
skill that hurts across the board (``skill``), or failures where no skill was followed at all (``no_skill``,
a candidate for a missing skill).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any, Literal

__all__ = ["TRAITS", "FallingTurn", "Finding", "TraceAnalysis", "analyse_traces", "turn_outcomes"]

TRAITS: tuple[str, ...] = ("personality", "problem_type", "hidden_intent")


@dataclass
class FallingTurn:
    """One intervention unit where the seeker's emotion fell: state before, the reply, the reaction after."""

    episode_id: str
    turn: int  # index of the counselor utterance in the episode
    skill_id: str | None
    strategy: str | None
    seeker_before: str
    reply: str
    seeker_after: str
    change: float
    judge_reason: str
    traits: dict[str, str]


@dataclass
class Finding:
    id: str
    kind: Literal["skill_in_group", "skill", "no_skill"]
    skill_id: str | None
    trait: str | None
    value: str | None
    units: list[FallingTurn]
    mean_change: float  # mean emotion change after this skill's replies within the group (all its uses)
    elsewhere_change: float | None  # the same skill's mean change outside the group (None: no uses elsewhere)
    uses: int  # how often the skill was followed within the group

    @property
    def episodes(self) -> list[str]:
        return sorted({u.episode_id for u in self.units})

    @property
    def severity(self) -> float:
        return sum(u.change for u in self.units)

    def describe(self) -> str:
        who = f"{self.trait.replace('_', ' ')} = {self.value}" if self.trait else "all seekers"
        if self.kind == "no_skill":
            return (f"{len(self.units)} falls with no skill followed ({who}) in {len(self.episodes)} episode(s); "
                    f"mean change {self.mean_change:+.1f}")
        other = "" if self.elsewhere_change is None else f" vs {self.elsewhere_change:+.1f} elsewhere"
        return (f"skill {self.skill_id} with {who}: mean change {self.mean_change:+.1f} over {self.uses} use(s)"
                f"{other}; {len(self.units)} falls in {len(self.episodes)} episode(s)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["episodes"] = self.episodes
        data["description"] = self.describe()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        data = {k: v for k, v in data.items() if k not in ("episodes", "description")}
        data["units"] = [FallingTurn(**u) for u in data["units"]]
        return cls(**data)


@dataclass
class TraceAnalysis:
    selected: list[str]  # failed or low-gain episode ids
    findings: list[Finding]
    by_trait: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    by_skill: dict[str, dict[str, Any]] = field(default_factory=dict)
    scored: int = 0

    def refs(self) -> set[tuple[str, int]]:
        """Every (episode id, counselor turn) an edit may cite: all falling turns of the selected episodes."""
        return {(u.episode_id, u.turn) for f in self.findings for u in f.units}

    def to_dict(self) -> dict[str, Any]:
        return {"selected": self.selected, "findings": [f.to_dict() for f in self.findings],
                "by_trait": self.by_trait, "by_skill": self.by_skill, "scored": self.scored}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TraceAnalysis":
        return cls(selected=data["selected"], findings=[Finding.from_dict(f) for f in data["findings"]],
                   by_trait=data.get("by_trait", {}), by_skill=data.get("by_skill", {}),
                   scored=data.get("scored", 0))


def _scored(episodes: Iterable[Any]) -> list[Any]:
    return [e for e in episodes if getattr(e, "status", "done") == "done" and e.final_emotion is not None]


def _gain(episode: Any) -> float:
    return float(episode.final_emotion) - float(episode.initial_emotion or 0)


def _traits(episode: Any) -> dict[str, str]:
    profile = episode.profile or {}
    return {t: str(profile.get(t) or "unspecified") for t in TRAITS}


def _judge_reason(judge: dict | None) -> str:
    if not judge:
        return ""
    parts = [str(judge.get(k) or "").strip() for k in ("meaning", "inner_reaction", "feeling")]
    return "; ".join(p for p in parts if p)[:300]


def turn_outcomes(episode: Any) -> list[FallingTurn]:
    """Every judged counselor turn of an episode (safety-gate replies excluded), with the change after it."""
    turns = list(episode.turns)
    out = []
    for i, turn in enumerate(turns):
        if turn.speaker != "counselor" or (turn.extra or {}).get("safety") or not turn.strategy:
            continue
        after = turns[i + 1] if i + 1 < len(turns) else None
        if after is None or after.speaker != "seeker" or after.change is None:
            continue
        before = next((t.text for t in reversed(turns[:i]) if t.speaker == "seeker"), "")
        out.append(FallingTurn(episode_id=episode.episode_id, turn=turn.idx,
                               skill_id=(turn.extra or {}).get("skill_id"), strategy=turn.strategy,
                               seeker_before=before, reply=turn.text, seeker_after=after.text,
                               change=float(after.change), judge_reason=_judge_reason(after.judge),
                               traits=_traits(episode)))
    return out


def _stats(episodes: Sequence[Any], low_gain: float) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for trait in TRAITS:
        groups: dict[str, list[Any]] = defaultdict(list)
        for e in episodes:
            groups[_traits(e)[trait]].append(e)
        table[trait] = {value: {"episodes": len(es), "failed": sum(e.outcome == "failure" for e in es),
                                "low_gain": sum(_gain(e) <= low_gain for e in es),
                                "mean_gain": round(fmean(_gain(e) for e in es), 2)}
                        for value, es in sorted(groups.items())}
    return table


def analyse_traces(episodes: Iterable[Any], *, low_gain: float = 0.0, units_per_episode: int = 3,
                   min_units: int = 2, group_gap: float = 3.0, max_findings: int = 5) -> TraceAnalysis:
    """Find what to fix. ``low_gain``: an episode whose emotion rose by at most this much counts as low-gain;
    ``units_per_episode``: the worst falls kept per selected episode; ``min_units``: falls a finding needs;
    ``group_gap``: how much worse a skill must do within a trait group than elsewhere to single the group out."""
    scored = _scored(episodes)
    selected = [e for e in scored if e.outcome == "failure" or _gain(e) <= low_gain]
    all_turns = [t for e in scored for t in turn_outcomes(e)]
    falls: list[FallingTurn] = []
    for e in selected:
        worst = sorted((t for t in turn_outcomes(e) if t.change < 0), key=lambda t: (t.change, t.turn))
        falls.extend(worst[:units_per_episode])

    by_skill: dict[str, dict[str, Any]] = {}
    for sid in sorted({t.skill_id or "(none)" for t in all_turns}):
        changes = [t.change for t in all_turns if (t.skill_id or "(none)") == sid]
        by_skill[sid] = {"uses": len(changes), "mean_change": round(fmean(changes), 2),
                         "falls": sum(1 for f in falls if (f.skill_id or "(none)") == sid)}

    candidates: list[Finding] = []
    for sid in sorted({f.skill_id or "" for f in falls}):
        skill_falls = [f for f in falls if (f.skill_id or "") == sid]
        if len(skill_falls) < min_units:
            continue
        uses = [t for t in all_turns if (t.skill_id or "") == sid]
        best_group: Finding | None = None
        for trait in TRAITS:
            for value in sorted({f.traits[trait] for f in skill_falls}):
                inside = [t for t in uses if t.traits[trait] == value]
                outside = [t for t in uses if t.traits[trait] != value]
                group_falls = [f for f in skill_falls if f.traits[trait] == value]
                if len(group_falls) < min_units or value == "unspecified":
                    continue
                mean_in = fmean(t.change for t in inside)
                mean_out = fmean(t.change for t in outside) if outside else None
                if mean_out is None or mean_out - mean_in < group_gap:
                    continue
                found = Finding("", "skill_in_group" if sid else "no_skill", sid or None, trait, value,
                                group_falls, round(mean_in, 2), round(mean_out, 2), len(inside))
                # the group that separates best: the largest gap, then the most falls
                if best_group is None or (mean_out - mean_in, len(group_falls)) > \
                        ((best_group.elsewhere_change or 0) - best_group.mean_change, len(best_group.units)):
                    best_group = found
        if best_group is not None:
            candidates.append(best_group)
        else:
            candidates.append(Finding("", "skill" if sid else "no_skill", sid or None, None, None, skill_falls,
                                      round(fmean(t.change for t in uses), 2), None, len(uses)))
    candidates.sort(key=lambda f: (f.severity, f.skill_id or ""))
    findings = candidates[:max_findings]
    for n, finding in enumerate(findings, 1):
        finding.id = f"F{n}"
    return TraceAnalysis(selected=[e.episode_id for e in selected], findings=findings,
                         by_trait=_stats(scored, low_gain), by_skill=by_skill, scored=len(scored))
