"""Skill discovery: cluster intervention units by seeker state and support action, and have an analyst distil the
clusters that helped into skills in the bank schema — written as a proposal file a person reviews and imports
(``escgraph skills import PROPOSAL --merge``); nothing is merged silently.

The analyst is passed in (``Distiller`` protocol), so the skills bank does not import agents; escgraph's own is
:class:`escgraph.agents.skill_analyst.SkillDistiller`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any, Protocol

import numpy as np

from escgraph.skills_bank.schema import InterventionUnit, Skill

__all__ = ["UnitCluster", "Distiller", "cluster_units", "discover_skills"]


@dataclass
class UnitCluster:
    id: str
    units: list[InterventionUnit]
    strategy: str  # the most common action strategy
    stage: str
    mean_change: float | None  # mean emotion change after the action, where known
    top_emotions: list[str]

    def describe(self) -> str:
        change = "unknown" if self.mean_change is None else f"{self.mean_change:+.2f}"
        return (f"{len(self.units)} units · {self.strategy} in {self.stage} · emotions "
                f"{', '.join(self.top_emotions)} · mean change after {change}")


class Distiller(Protocol):
    def distil(self, cluster: UnitCluster, existing: Sequence[str]) -> Skill | None: ...


def _text(unit: InterventionUnit) -> str:
    s, a = unit.state, unit.action
    return f"{s.emotion}, {s.stage}: {s.situation[:200]} || {a.strategy}: {a.reply[:200]}"


def cluster_units(units: Sequence[InterventionUnit], *, clusters: int = 8, seed: int = 13,
                  embed: Any = None) -> list[UnitCluster]:
    """K-means over embeddings of state + action text, clusters ordered by mean emotion change (best first)."""
    from sklearn.cluster import KMeans

    if not units:
        return []
    if embed is None:
        from escgraph.embeddings import embed
    k = max(1, min(clusters, len(units)))
    vectors = np.asarray(embed([_text(u) for u in units]))
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors)
    out = []
    for c in range(k):
        members = [u for u, label in zip(units, labels) if label == c]
        if not members:
            continue
        changes = [u.outcome.emotion_change for u in members if u.outcome.emotion_change is not None]
        out.append(UnitCluster(
            id=f"C{c + 1}", units=members,
            strategy=Counter(u.action.strategy for u in members).most_common(1)[0][0],
            stage=Counter(u.state.stage for u in members).most_common(1)[0][0],
            mean_change=round(fmean(changes), 3) if changes else None,
            top_emotions=[e for e, _ in Counter(u.state.emotion for u in members).most_common(3)]))
    out.sort(key=lambda c: (-(c.mean_change if c.mean_change is not None else -1e9), -len(c.units)))
    return out


def discover_skills(units: Sequence[InterventionUnit], distiller: Distiller, *, existing: Sequence[str] = (),
                    clusters: int = 8, min_units: int = 3, min_change: float = 0.0, seed: int = 13
                    ) -> tuple[list[Skill], list[dict[str, Any]]]:
    """Skills distilled from the clusters that helped (mean change above ``min_change``, at least ``min_units``
    units), each checked by the evolution loop's screen (including spans copied from the units' seeker text).
    Returns (skills, a log line per cluster)."""
    from escgraph.skills_bank.evolution.edits import EvidenceRef, SkillEdit, validate_edit

    found: list[Skill] = []
    log: list[dict[str, Any]] = []
    taken = set(existing)
    for cluster in cluster_units(units, clusters=clusters, seed=seed):
        entry: dict[str, Any] = {"cluster": cluster.id, "summary": cluster.describe()}
        if len(cluster.units) < min_units or (cluster.mean_change is not None and cluster.mean_change <= min_change):
            entry["result"] = "skipped: too small or did not help"
            log.append(entry)
            continue
        skill = distiller.distil(cluster, sorted(taken))
        if skill is None:
            entry["result"] = "the analyst gave no usable skill"
            log.append(entry)
            continue
        refs = [EvidenceRef(episode_id=u.source.dialogue, turn=u.source.turn) for u in cluster.units[:20]]
        # the units' seeker text is data the distiller read: long spans copied from it are rejected by the screen
        seeker = [t for u in cluster.units for t in (u.state.situation, u.outcome.seeker_feedback) if t]
        edit = SkillEdit(kind="add", skill_id=skill.id, rationale=cluster.describe(), evidence=refs, skill=skill,
                         quoted=seeker)
        problems = validate_edit(edit, {}, {(r.episode_id, r.turn) for r in refs})
        if problems:
            entry["result"] = "rejected: " + "; ".join(problems[:3])
        else:
            skill = skill.model_copy(update={"provenance": skill.provenance.model_copy(update={
                "units": [u.id for u in cluster.units[:50]]})})
            found.append(skill)
            taken.add(skill.id)
            entry["result"] = f"proposed {skill.id}"
        log.append(entry)
    return found, log
