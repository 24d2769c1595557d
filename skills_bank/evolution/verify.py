"""Verification of a candidate bank by re-simulation with the same seeds (DESIGN.md §6).

The baseline is the round's own simulation (old bank); the candidate run replays the target episodes (the
failing ones an edit cites) and a regression sample of previously successful ones. Episode ids carry the seed,
so the same id means the same seeker, trial and sampling seed in both runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["VerifyPolicy", "Verification", "verify_candidate", "counselor_safety_hits", "pick_regression_sample"]


class VerifyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    margin: float = Field(default=3.0, ge=0, description="points the target group's mean final emotion must gain")
    tolerance: float = Field(default=2.0, ge=0, description="points the regression sample may lose at most")
    regression_size: int = Field(default=4, ge=0, description="previously successful episodes replayed")


@dataclass
class Verification:
    accepted: bool
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_final(episodes: Iterable[Any]) -> float | None:
    finals = [float(e.final_emotion) for e in episodes]
    return round(fmean(finals), 2) if finals else None


def counselor_safety_hits(episodes: Iterable[Any], reply_flagged: Callable[[str], bool]) -> list[str]:
    """``episode#turn`` of counselor replies (not the gate's own) that the safety screen flags."""
    hits = []
    for e in episodes:
        for t in e.turns:
            if t.speaker == "counselor" and not (t.extra or {}).get("safety") and t.text and reply_flagged(t.text):
                hits.append(f"{e.episode_id}#{t.idx}")
    return hits


def pick_regression_sample(episodes: Iterable[Any], exclude: set[str], size: int) -> list[str]:
    """The most successful episodes outside ``exclude`` (successes first, then the highest final emotion)."""
    done = [e for e in episodes if getattr(e, "status", "done") == "done" and e.final_emotion is not None
            and e.episode_id not in exclude]
    done.sort(key=lambda e: (e.outcome != "success", -float(e.final_emotion), e.episode_id))
    return [e.episode_id for e in done[:size]]


def verify_candidate(baseline: Mapping[str, Any], candidate: Mapping[str, Any], target: list[str],
                     regression: list[str], policy: VerifyPolicy,
                     reply_flagged: Callable[[str], bool] | None = None) -> Verification:
    """Accept only if the target group improves by ``policy.margin``, the regression sample drops by no more than
    ``policy.tolerance``, and no new counselor reply trips the safety screen."""
    reasons = []
    wanted = target + regression
    missing = [eid for eid in wanted if eid not in candidate or candidate[eid].final_emotion is None
               or getattr(candidate[eid], "status", "done") != "done"]
    if missing:
        return Verification(False, [f"could not verify: {len(missing)} episode(s) did not finish "
                                    f"({', '.join(missing[:5])})"], {"unfinished": missing})
    before_t = _mean_final(baseline[e] for e in target)
    after_t = _mean_final(candidate[e] for e in target)
    metrics: dict[str, Any] = {"target": target, "regression": regression,
                               "target_before": before_t, "target_after": after_t,
                               "target_delta": round(after_t - before_t, 2)}
    if metrics["target_delta"] < policy.margin:
        reasons.append(f"target group mean final emotion {before_t} -> {after_t} "
                       f"({metrics['target_delta']:+.1f}) does not improve by the margin {policy.margin:g}")
    if regression:
        before_r = _mean_final(baseline[e] for e in regression)
        after_r = _mean_final(candidate[e] for e in regression)
        metrics.update(regression_before=before_r, regression_after=after_r,
                       regression_delta=round(after_r - before_r, 2))
        if before_r - after_r > policy.tolerance:
            reasons.append(f"regression sample mean final emotion {before_r} -> {after_r} drops by more than "
                           f"the tolerance {policy.tolerance:g}")
        lost = [e for e in regression if baseline[e].outcome == "success" and candidate[e].outcome != "success"]
        if lost:
            metrics["lost_successes"] = lost
    if reply_flagged is not None:
        old = set(counselor_safety_hits((baseline[e] for e in wanted), reply_flagged))
        new = counselor_safety_hits((candidate[e] for e in wanted), reply_flagged)
        fresh = [h for h in new if h not in old]
        metrics["safety_hits_before"], metrics["safety_hits_after"] = len(old), len(new)
        if len(new) > len(old):
            reasons.append(f"new safety-gate hits in counselor replies: {', '.join(fresh[:5]) or len(new)}")
    return Verification(not reasons, reasons or ["target improved by the margin; nothing regressed; no new "
                                                 "safety hits"], metrics)
