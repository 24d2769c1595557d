"""Judge health: can a run's SAGE scores be read as a measurement of support quality?

:func:`judge_health` computes, over the finished episodes:

- ``at_cap_share`` (and ``at_plus_cap_share`` / ``at_minus_cap_share``): judged turns whose clipped change is at
  ±``change_limit``;
- ``contradictions`` / ``contradiction_share``: the judge's ``serves_goal`` disagrees with the sign of its change
  ("no" with a rise, "yes" with a drop; "partly" never contradicts);
- ``distinct_changes``: how many different change values the judge gave;
- ``structured_output``: per role, structured calls, extra attempts (``retries``) and calls that ``gave_up``
  (only models using escgraph's structured runnable report them: local, fake and openai: specs;
  other providers report 0 calls);
- seeker replies whose model line was rejected (``seeker_regenerated``, by reason) or replaced by a canned line
  (``seeker_fallbacks``), and counselor replies that fell back to a template or were regenerated.

Thresholds (crossing any makes ``healthy`` False and adds a plain-English warning):

- ``CAP_SHARE_MAX`` = 0.5: a judge that discriminates uses the middle of its ±limit scale; with more than half the
  turns at a limit the score counts turns rather than weighing replies.
- ``CONTRADICTION_SHARE_MAX`` = 0.15: ``serves_goal`` and the change are one judgement made twice; an occasional
  mismatch is noise, but above about one turn in seven the number is not following the judge's own reasoning.
- ``RETRIES_PER_CALL_MAX`` = 0.2 and ``GAVE_UP_MAX`` = 0 (judge role): frequent retries mean the judge's answers
  are often malformed (and the kept one is a resample); a call that gave up lost an assessment.
- ``SEEKER_FALLBACK_SHARE_MAX`` = 0.25: past a quarter of replies, the seeker side is mostly canned lines, so the
  conversation being judged is not the one a seeker would have had.
- Constant change: the same change on every judged turn means the judge does not tell replies apart.

Share and rate thresholds apply only from ``MIN_SAMPLE`` (5) judged turns / calls / replies, so a tiny demo run is
not flagged on noise; a gave-up call is flagged from the first. A judge spec ``local`` (the embedded 135M model)
sets ``smoke_test`` and adds a warning, but ``healthy`` only reflects the thresholds. Runs recorded before these
figures existed still report: what they cannot compute is ``None``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .results import RunData
from .spec import SageSettings

__all__ = ["judge_health", "health_lines", "is_embedded", "SMOKE_TEST_WARNING", "MIN_SAMPLE", "CAP_SHARE_MAX",
           "CONTRADICTION_SHARE_MAX", "RETRIES_PER_CALL_MAX", "GAVE_UP_MAX", "SEEKER_FALLBACK_SHARE_MAX"]

MIN_SAMPLE = 5
CAP_SHARE_MAX = 0.5
CONTRADICTION_SHARE_MAX = 0.15
RETRIES_PER_CALL_MAX = 0.2
GAVE_UP_MAX = 0
SEEKER_FALLBACK_SHARE_MAX = 0.25
SMOKE_TEST_WARNING = ("The judge is the embedded 135M model: its scores are a smoke test of the pipeline, not a "
                      "measure of support quality.")
_JUDGE = "judge"
_COUNSELOR_FALLBACKS = {"fallback", "critic_fallback"}
_COUNSELOR_REGENERATED = "model_retry"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _limit(config: dict[str, Any]) -> float:
    try:
        return SageSettings.model_validate(config.get("sage") or {}).change_limit
    except ValueError:
        return SageSettings().change_limit


def is_embedded(spec: Any) -> bool:
    return isinstance(spec, str) and (spec == "local" or spec.startswith("local:"))


def _judge_figures(run: RunData, limit: float) -> dict[str, Any]:
    changes: list[float] = []
    goals = contradictions = 0
    for e in run.finished:
        for t in e.turns:
            if t.speaker != "seeker" or t.idx == 0 or t.change is None:
                continue
            changes.append(float(t.change))
            goal = (t.judge or {}).get("serves_goal")
            if goal in ("yes", "partly", "no"):
                goals += 1
                contradictions += (goal == "no" and t.change > 0) or (goal == "yes" and t.change < 0)
    n = len(changes)
    plus = sum(c >= limit for c in changes)
    minus = sum(c <= -limit for c in changes)
    return {
        "judged_turns": n, "change_limit": limit,
        "at_cap": plus + minus, "at_cap_share": _share(plus + minus, n),
        "at_plus_cap": plus, "at_plus_cap_share": _share(plus, n),
        "at_minus_cap": minus, "at_minus_cap_share": _share(minus, n),
        "distinct_changes": len(set(changes)), "only_change": changes[0] if len(set(changes)) == 1 else None,
        "contradictions": contradictions if goals else None, "contradiction_share": _share(contradictions, goals),
    }


def _structured(run: RunData) -> dict[str, dict[str, Any]] | None:
    recorded = [e.health["structured"] for e in run.finished if isinstance((e.health or {}).get("structured"), dict)]
    if not recorded:
        return None  # recorded before these figures existed
    totals: dict[str, Counter] = {}
    for per_role in recorded:
        for role, counts in per_role.items():
            totals.setdefault(role, Counter()).update({k: int(counts.get(k, 0)) for k in ("calls", "retries",
                                                                                           "gave_up")})
    return {role: {"calls": c["calls"], "retries": c["retries"], "gave_up": c["gave_up"],
                   "retries_per_call": _share(c["retries"], c["calls"])} for role, c in sorted(totals.items())}


def _replies(run: RunData) -> dict[str, Any]:
    replies = fallbacks = new_replies = regenerated = 0
    reasons: Counter = Counter()
    turns_with: Counter = Counter()
    counselor = c_fallbacks = c_regenerated = c_known = 0
    for e in run.finished:
        new_style = isinstance((e.health or {}).get("structured"), dict)
        for t in e.turns:
            extra = t.extra or {}
            if t.speaker == "counselor":
                counselor += 1
                source = extra.get("reply_source")
                c_known += source is not None
                c_fallbacks += source in _COUNSELOR_FALLBACKS
                c_regenerated += source == _COUNSELOR_REGENERATED
            elif t.idx > 0:
                replies += 1
                fallbacks += bool(extra.get("seeker_fallback"))
                if new_style:
                    new_replies += 1
                    rejected = [str(r) for r in extra.get("seeker_regenerated") or []]
                    regenerated += bool(rejected)
                    reasons.update(rejected)
                    turns_with.update(set(rejected))
    return {
        "seeker_replies": replies,
        "seeker_regenerated": regenerated if new_replies else None,
        "seeker_regenerated_share": _share(regenerated, new_replies),
        "seeker_rejections_by_reason": ({r: {"n": reasons[r], "share": _share(turns_with[r], new_replies)}
                                         for r in sorted(reasons, key=lambda r: (-reasons[r], r))}
                                        if new_replies else None),
        "seeker_fallbacks": fallbacks, "seeker_fallback_share": _share(fallbacks, replies),
        "counselor_replies": counselor,
        "counselor_fallbacks": c_fallbacks if c_known else None,
        "counselor_fallback_share": _share(c_fallbacks, counselor) if c_known else None,
        "counselor_regenerated": c_regenerated if c_known else None,
    }


def _warnings(h: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure crossing its threshold, warning) pairs."""
    out = []
    n, lim = h["judged_turns"], f"{h['change_limit']:g}"
    enough = n >= MIN_SAMPLE
    if enough and h["at_cap_share"] > CAP_SHARE_MAX:
        out.append(("at_cap_share",
                    f"{_pct(h['at_cap_share'])} of judged turns ({h['at_cap']} of {n}: +{lim} on {h['at_plus_cap']}, "
                    f"−{lim} on {h['at_minus_cap']}) have the change at the ±{lim} limit (threshold: more than "
                    f"{_pct(CAP_SHARE_MAX)}): the judge's scale is saturated, so scores count turns more than they "
                    f"weigh replies."))
    if enough and h["distinct_changes"] == 1:
        only = f"{h['only_change']:+g}".replace("-", "−")
        out.append(("distinct_changes",
                    f"The judge gave the same change ({only}) on all {n} judged turns (threshold: one value over at "
                    f"least {MIN_SAMPLE} turns): it does not tell replies apart."))
    share = h["contradiction_share"]
    if enough and share is not None and share > CONTRADICTION_SHARE_MAX:
        out.append(("contradiction_share",
                    f"The judge's serves_goal contradicts the sign of its change on {_pct(share)} of judged turns "
                    f"({h['contradictions']} of {n}; threshold: more than {_pct(CONTRADICTION_SHARE_MAX)}): its "
                    f"number does not follow its own reasoning."))
    judge = (h["structured_output"] or {}).get(_JUDGE)
    if judge:
        rate, calls = judge["retries_per_call"], judge["calls"]
        if calls >= MIN_SAMPLE and rate is not None and rate > RETRIES_PER_CALL_MAX:
            out.append(("judge_retries_per_call",
                        f"The judge's structured output needed {rate:.2f} retries per call ({judge['retries']} over "
                        f"{calls} calls; threshold: more than {RETRIES_PER_CALL_MAX:g}): its answers are often "
                        f"malformed."))
        if judge["gave_up"] > GAVE_UP_MAX:
            out.append(("judge_gave_up",
                        f"The judge's structured output gave up on {judge['gave_up']} of {calls} calls (threshold: "
                        f"any): those assessments were lost and their steps re-run."))
    fb, replies = h["seeker_fallback_share"], h["seeker_replies"]
    if replies >= MIN_SAMPLE and fb is not None and fb > SEEKER_FALLBACK_SHARE_MAX:
        out.append(("seeker_fallback_share",
                    f"{_pct(fb)} of seeker replies ({h['seeker_fallbacks']} of {replies}) were replaced by a canned "
                    f"in-character line (threshold: more than {_pct(SEEKER_FALLBACK_SHARE_MAX)}): much of the "
                    f"seeker's side is scripted, not simulated."))
    return out


def judge_health(run: RunData) -> dict[str, Any]:
    """The run's judge-health figures, ``warnings``, ``healthy``, ``smoke_test``, ``crossed`` (the figures past
    their threshold) and ``thresholds`` (JSON-ready)."""
    config = run.config or {}
    h: dict[str, Any] = {**_judge_figures(run, _limit(config)), "structured_output": _structured(run),
                         **_replies(run)}
    crossed = _warnings(h)
    smoke = is_embedded((config.get("models") or {}).get(_JUDGE))
    h.update(
        healthy=not crossed, smoke_test=smoke, crossed=[key for key, _ in crossed],
        warnings=[text for _, text in crossed] + ([SMOKE_TEST_WARNING] if smoke else []),
        thresholds={"min_sample": MIN_SAMPLE, "cap_share_max": CAP_SHARE_MAX,
                    "contradiction_share_max": CONTRADICTION_SHARE_MAX,
                    "judge_retries_per_call_max": RETRIES_PER_CALL_MAX, "judge_gave_up_max": GAVE_UP_MAX,
                    "seeker_fallback_share_max": SEEKER_FALLBACK_SHARE_MAX})
    return h


def _maybe(x: float | None) -> str:
    return "n/a" if x is None else _pct(x)


def health_lines(h: dict[str, Any]) -> list[str]:
    """The figures as two plain lines (for the console); warnings are separate (``h["warnings"]``)."""
    lim = f"{h['change_limit']:g}"
    judge = (f"judge health: {h['judged_turns']} judged turns · at ±{lim} {_maybe(h['at_cap_share'])} "
             f"(+{lim} {_maybe(h['at_plus_cap_share'])}, −{lim} {_maybe(h['at_minus_cap_share'])}) · "
             f"serves_goal/change contradictions "
             + ("n/a" if h["contradictions"] is None else f"{h['contradictions']} ({_maybe(h['contradiction_share'])})")
             + f" · {h['distinct_changes']} distinct change(s)")
    structured = h["structured_output"]
    if structured is None:
        retries = "structured output: not recorded"
    else:
        retries = "structured output: " + ("; ".join(
            f"{role} {c['calls']} calls, {c['retries']} retries, {c['gave_up']} gave up"
            for role, c in structured.items()) or "no counted calls")
    reasons = h["seeker_rejections_by_reason"]
    regen = ("n/a" if h["seeker_regenerated"] is None else
             f"{h['seeker_regenerated']} ({_maybe(h['seeker_regenerated_share'])}"
             + ("".join(f", {r.replace('_', ' ')} {v['n']}" for r, v in reasons.items()) if reasons else "") + ")")
    seeker = (f"seeker replies regenerated {regen}, replaced {h['seeker_fallbacks']} "
              f"({_maybe(h['seeker_fallback_share'])}) · counselor fallbacks "
              + ("n/a" if h["counselor_fallbacks"] is None else
                 f"{h['counselor_fallbacks']} ({_maybe(h['counselor_fallback_share'])})"))
    return [judge, f"{retries} · {seeker}"]
