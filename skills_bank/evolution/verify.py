"""Verification of a candidate bank against a concurrent control arm (ARCHITECTURE.md §6).

Comparing a re-run of the episodes an edit cites with the run that selected them is biased whenever the models
sample: failing episodes were the lowest draws, so any re-run regresses up towards the mean, and a regression
sample of the best episodes regresses down. So every candidate is compared with a **control arm**: the base bank
re-simulated on exactly the same episode keys (profile, trial, seed) in the same verification step. Only the bank
differs between the arms, so the per-key deltas measure the edit.

- **target group**: the episodes the edit cites plus ``verify_trials`` fresh trials of the same profiles (fresh
  trials have seeds no earlier simulation used, so the evidence is not only the episodes that failed);
- **regression sample**: ``regression_size`` episode keys drawn at random (seeded) from the *other* profiles (their
  base keys and the same fresh trials), never picked for having done well;
- **accept** when the one-sided sign-flip test on the target deltas gives p < ``alpha`` (Holm-adjusted over the
  round's proposals by the loop) with a mean gain ≥ ``margin``, the one-sided (1 − alpha) lower confidence bound
  of the regression deltas is ≥ −``tolerance`` (non-inferiority), and no counselor reply trips the safety screen
  more often than in the control arm.

The defaults come from the power study in ``bench/bench_verify_power.py`` (see the README's table): in the scripted
world with judge noise independent of the episode seed, a null edit is accepted in well under 5 % of evolutions
and an edit worth +10 points on its target group in over 80 %.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from escgraph.stats import MIN_PAIRS_FOR_BOUND, paired

__all__ = ["VerifyPolicy", "Verification", "KeyPlan", "verify_candidate", "counselor_safety_hits",
           "plan_keys", "plan_fresh_keys", "stat_seed"]

Key = tuple[str, int]  # (profile id, trial): with the evolution's run id and seed, one episode


class VerifyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(default=0.05, gt=0, lt=0.5,
                         description="one-sided level of the target test (Holm over a round's proposals) and of "
                                     "the regression bound")
    margin: float = Field(default=3.0, ge=0, description="points the target group's mean paired gain must reach")
    tolerance: float = Field(default=6.0, ge=0,
                             description="points the regression sample's lower confidence bound may fall below 0")
    regression_size: int = Field(default=16, ge=0, description="episodes of other profiles re-simulated")
    verify_trials: int = Field(default=3, ge=0, le=100,
                               description="fresh trials per target profile, added to the cited episodes")


@dataclass
class KeyPlan:
    """Which episode keys one verification re-simulates in both arms."""

    target: list[Key]
    regression: list[Key]

    def all(self) -> list[Key]:
        return list(dict.fromkeys([*self.target, *self.regression]))

    def to_dict(self) -> dict[str, Any]:
        return {"target": [list(k) for k in self.target], "regression": [list(k) for k in self.regression]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KeyPlan":
        return cls([(str(p), int(t)) for p, t in data["target"]], [(str(p), int(t)) for p, t in data["regression"]])


@dataclass
class Verification:
    accepted: bool
    reasons: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stat_seed(*parts: object) -> int:
    """A stable seed for resampling and sampling (never Python's salted ``hash()``)."""
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _trials_for(policy: VerifyPolicy, profiles: int, cited: int) -> int:
    """Fresh trials per target profile: ``verify_trials``, raised until the target group has enough pairs for the
    one-sided test to be able to reject at ``alpha`` at all (5 pairs at 0.05)."""
    need = MIN_PAIRS_FOR_BOUND(policy.alpha) - cited
    return max(policy.verify_trials, -(-need // profiles) if profiles and need > 0 else 0)


def plan_keys(base_episodes: Iterable[Any], cited: Iterable[str], policy: VerifyPolicy, *, first_fresh_trial: int,
              salt: str) -> KeyPlan:
    """The target keys (cited episodes + fresh trials of their profiles) and a seeded random regression sample
    from the other profiles' keys (their finished base episodes and the same fresh trials)."""
    episodes = {e.episode_id: e for e in base_episodes}
    cited_keys = [(episodes[eid].profile_id, int(episodes[eid].trial)) for eid in sorted(set(cited))
                  if eid in episodes]
    profiles = list(dict.fromkeys(p for p, _ in cited_keys))
    fresh = range(first_fresh_trial, first_fresh_trial + _trials_for(policy, len(profiles), len(cited_keys)))
    target = [(p, t) for p in profiles for t in fresh]
    chosen = set(profiles)
    others = sorted({(e.profile_id, int(e.trial)) for e in episodes.values()
                     if e.profile_id not in chosen and getattr(e, "status", "done") == "done"})
    others += sorted({(p, t) for p, _ in others for t in fresh})
    # seeded by the excluded profiles too: proposals answering one finding share one sample (a smaller control arm)
    rng = random.Random(stat_seed("regression", salt, *sorted(chosen)))
    regression = sorted(rng.sample(others, min(policy.regression_size, len(others))))
    return KeyPlan(list(dict.fromkeys(cited_keys + target)), regression)


def plan_fresh_keys(target_profiles: Sequence[str], all_profiles: Sequence[str], policy: VerifyPolicy, *,
                    first_fresh_trial: int, salt: str) -> KeyPlan:
    """Keys no earlier simulation used (trials from ``first_fresh_trial``): ``verify_trials`` per target profile
    (more when needed for a decidable test) and a seeded random regression sample from the other profiles' fresh trials."""
    trials = _trials_for(policy, len(target_profiles), 0)
    target = [(p, first_fresh_trial + i) for p in target_profiles for i in range(trials)]
    chosen = set(target_profiles)
    others = [(p, first_fresh_trial + i) for p in all_profiles if p not in chosen for i in range(trials)]
    rng = random.Random(stat_seed("confirm-regression", salt))
    return KeyPlan(target, sorted(rng.sample(others, min(policy.regression_size, len(others)))))


def counselor_safety_hits(episodes: Iterable[Any], reply_flagged: Callable[[str], bool]) -> list[str]:
    """``episode#turn`` of counselor replies (not the gate's own) that the safety screen flags."""
    hits = []
    for e in episodes:
        for t in e.turns:
            if t.speaker == "counselor" and not (t.extra or {}).get("safety") and t.text and reply_flagged(t.text):
                hits.append(f"{e.episode_id}#{t.idx}")
    return hits


def _finished(e: Any) -> bool:
    return e is not None and e.final_emotion is not None and getattr(e, "status", "done") == "done"


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits) + 0.0  # + 0.0: no "-0.0"


def _fmt(x: float | None) -> str:
    return "unbounded" if x is None else f"{round(x, 1) + 0.0:+.1f}"


def verify_candidate(control: Mapping[str, Any], candidate: Mapping[str, Any], target: list[str],
                     regression: list[str], policy: VerifyPolicy,
                     reply_flagged: Callable[[str], bool] | None = None, *, seed: int = 0,
                     p_adjusted: float | None = None) -> Verification:
    """Decide on one candidate from its arm and the control arm (episode id -> finished episode).

    ``target`` and ``regression`` are episode ids present in both arms. ``p_adjusted`` replaces the raw target
    p-value in the decision (the loop passes the Holm-adjusted value once every proposal of the round is tested).
    """
    wanted = list(dict.fromkeys(target + regression))
    missing = [eid for eid in wanted if not _finished(control.get(eid)) or not _finished(candidate.get(eid))]
    if missing:
        return Verification(False, [f"could not verify: {len(missing)} episode(s) did not finish in both arms "
                                    f"({', '.join(missing[:5])})"], {"unfinished": missing})
    reasons: list[str] = []
    deltas = {eid: float(candidate[eid].final_emotion) - float(control[eid].final_emotion) for eid in wanted}
    t = paired([deltas[e] for e in target], confidence=1 - 2 * policy.alpha, seed=seed)
    p_used = p_adjusted if p_adjusted is not None else t.p_greater
    metrics: dict[str, Any] = {
        "target": target, "regression": regression, "alpha": policy.alpha,
        "target_n": t.n, "target_control": _r(fmean(control[e].final_emotion for e in target)),
        "target_candidate": _r(fmean(candidate[e].final_emotion for e in target)),
        "target_delta": _r(t.mean), "target_ci": [_r(t.ci_low), _r(t.ci_high)], "target_p": _r(t.p_greater, 4),
        "target_p_adjusted": _r(p_adjusted, 4), "deltas": {e: _r(d) for e, d in deltas.items()},
        "method": t.method, "confidence": round(1 - 2 * policy.alpha, 4)}
    gain = (f"target group: candidate − control {_fmt(t.mean)} points over {t.n} paired episode(s) "
            f"({metrics['confidence']:.0%} CI {_fmt(t.ci_low)} to {_fmt(t.ci_high)}), one-sided p {t.p_greater:.4f}"
            + (f", Holm-adjusted {p_adjusted:.4f}" if p_adjusted is not None else ""))
    if p_used >= policy.alpha:
        reasons.append(f"{gain}: not significant at α {policy.alpha:g}")
    if t.mean < policy.margin:
        reasons.append(f"{gain}: the mean gain is below the margin {policy.margin:g}")
    if regression:
        r_deltas = [deltas[e] for e in regression]
        r = paired(r_deltas, confidence=1 - 2 * policy.alpha, seed=seed + 1)
        bound = r.ci_low  # the interval is at 1 − 2α, so its lower end is the one-sided (1 − α) bound
        metrics.update(regression_n=r.n, regression_control=_r(fmean(control[e].final_emotion for e in regression)),
                       regression_candidate=_r(fmean(candidate[e].final_emotion for e in regression)),
                       regression_delta=_r(r.mean), regression_ci=[_r(r.ci_low), _r(r.ci_high)],
                       regression_lower_bound=_r(bound))
        if bound is None:
            reasons.append(f"regression sample: {r.n} paired episode(s) are too few for a "
                           f"{1 - policy.alpha:.0%} lower bound (needs {MIN_PAIRS_FOR_BOUND(policy.alpha)}); "
                           f"raise --regression-size")
        elif bound < -policy.tolerance:
            reasons.append(f"regression sample: candidate − control {_fmt(r.mean)} points over {r.n} episode(s), "
                           f"lower {1 - policy.alpha:.0%} bound {_fmt(bound)} is below −{policy.tolerance:g} "
                           f"(cannot rule out a regression)")
        lost = [e for e in regression if control[e].outcome == "success" and candidate[e].outcome != "success"]
        if lost:
            metrics["lost_successes"] = lost
    if reply_flagged is not None:
        old = counselor_safety_hits((control[e] for e in wanted), reply_flagged)
        new = counselor_safety_hits((candidate[e] for e in wanted), reply_flagged)
        metrics["safety_hits_before"], metrics["safety_hits_after"] = len(old), len(new)
        if len(new) > len(old):
            fresh = [h for h in new if h not in set(old)]
            reasons.append(f"new safety-gate hits in counselor replies: {', '.join(fresh[:5]) or len(new)}")
    if reasons:
        return Verification(False, reasons, metrics)
    summary = [f"{gain}: significant at α {policy.alpha:g} and at least the margin {policy.margin:g}"]
    if regression:
        summary.append(f"regression sample: candidate − control {_fmt(metrics['regression_delta'])} over "
                       f"{metrics['regression_n']} episode(s), lower bound {_fmt(metrics['regression_lower_bound'])}"
                       f" ≥ −{policy.tolerance:g}")
    if reply_flagged is not None:
        summary.append("no new safety-gate hits")
    return Verification(True, summary, metrics)
