"""Run metrics: what ``summary.json`` holds, and run-vs-run comparison (ARCHITECTURE.md sections 5 and 6).

Scores count only finished episodes (status ``done``): an infra-errored episode is never a seeker failure, and a
pending or running one has no result yet. Tokens and seconds count every episode, since they were spent.
"""

from __future__ import annotations

from pathlib import Path

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from escgraph.stats import mean_interval
from escgraph.strategy_metrics import distribution_preferences, preference_bias
from escgraph.types import STRATEGIES

from .health import judge_health
from .results import OUTCOMES, EpisodeResult, RunData
from .spec import SIM_ROLES, SageSettings

__all__ = ["summarize", "compare", "score_interval", "sage_settings", "strategy_counts", "HEADLINE", "UNSPECIFIED"]

UNSPECIFIED = "(unspecified)"  # group name for profiles without a problem type / personality
# Headline numbers compared run against run, with whether higher is better (None: neither).
HEADLINE: dict[str, bool | None] = {
    "sage_score": True, "score_std": None, "success": True, "success_rate": True, "failure": False,
    "failure_rate": False, "goodbye": None, "max_turns": None, "mean_turns": None, "preference_bias_B": False,
    "finished": None, "infra_error": False,
}
_ROUND = 4


def sage_settings(config: dict[str, Any]) -> SageSettings:
    """The run's SAGE settings from its config (defaults where the config has none or cannot be read)."""
    try:
        return SageSettings.model_validate(config.get("sage") or {})
    except ValueError:
        return SageSettings()


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, _ROUND)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _pstdev(xs: list[float]) -> float | None:
    if not xs:
        return None
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def _scored(episodes: Iterable[EpisodeResult]) -> list[EpisodeResult]:
    return [e for e in episodes if e.status == "done" and e.final_emotion is not None]


def _group(episodes: list[EpisodeResult], key: Callable[[EpisodeResult], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[EpisodeResult]] = {}
    for e in episodes:
        groups.setdefault(key(e), []).append(e)
    out = {}
    for name in sorted(groups, key=lambda g: (g == UNSPECIFIED, g.lower())):
        eps = groups[name]
        outcomes = Counter(e.outcome for e in eps)
        out[name] = {"n": len(eps), "mean": _r(_mean([e.final_emotion for e in _scored(eps)])),
                     **{o: outcomes.get(o, 0) for o in OUTCOMES}}
    return out


def _profile_field(name: str) -> Callable[[EpisodeResult], str]:
    return lambda e: str(e.profile.get(name) or UNSPECIFIED)


def strategy_counts(episodes: Iterable[EpisodeResult]) -> tuple[Counter, int]:
    """Counselor strategies over the episodes' counselor turns, and how many turns carried no known strategy."""
    counts: Counter = Counter()
    unlabelled = 0
    for e in episodes:
        for t in e.turns:
            if t.speaker != "counselor":
                continue
            if t.strategy in STRATEGIES:
                counts[t.strategy] += 1
            else:
                unlabelled += 1
    return counts, unlabelled


def _servers(episodes: Iterable[EpisodeResult]) -> dict[str, int] | None:
    """Calls each model server answered, over the run (None when no call went through a server pool)."""
    out: dict[str, int] = {}
    for e in episodes:
        for url, calls in ((e.health or {}).get("servers") or {}).items():
            out[url] = out.get(url, 0) + int(calls)
    return dict(sorted(out.items())) or None


def _tokens(episodes: Iterable[EpisodeResult]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in episodes:
        for role, usage in (e.tokens or {}).items():
            acc = out.setdefault(role, {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
            inp, outp = int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)
            acc["input_tokens"] += inp
            acc["output_tokens"] += outp
            acc["total_tokens"] += int(usage.get("total_tokens", inp + outp) or 0)
    order = {r: i for i, r in enumerate(SIM_ROLES)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def skill_outcomes(episodes: list) -> dict[str, dict[str, Any]]:
    """Per skill followed by the counselor: how often, and the judge's emotion change right after (mean, worst).

    Empty for graphs without a skills bank. Sorted by uses, then id.
    """
    changes: dict[str, list[float]] = {}
    for episode in episodes:
        turns = episode.turns
        for i, turn in enumerate(turns):
            skill = (turn.extra or {}).get("skill_id") if turn.speaker == "counselor" else None
            if not skill:
                continue
            answer = turns[i + 1] if i + 1 < len(turns) else None
            bucket = changes.setdefault(str(skill), [])
            if answer is not None and answer.speaker == "seeker" and answer.change is not None:
                bucket.append(float(answer.change))
    rows = {sid: {"uses": len(v), "mean_change": _r(_mean(v)), "worst_change": _r(min(v)) if v else None}
            for sid, v in changes.items()}
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1]["uses"], kv[0])))


def score_interval(scored: list[EpisodeResult]) -> dict[str, Any]:
    """A 95% bootstrap interval for the SAGE score. When some profile has several trials, whole profiles are
    resampled: trials of one seeker are not independent evidence. ``method`` says which; with fewer than two
    units to resample there is no interval (both ends None)."""
    by_profile: dict[str, list[float]] = {}
    for e in scored:
        by_profile.setdefault(e.profile_id, []).append(float(e.final_emotion))
    clustered = any(len(v) > 1 for v in by_profile.values())
    ci = mean_interval(by_profile if clustered else [float(e.final_emotion) for e in scored])
    if ci["clusters"] < 2:  # one unit to resample: the bootstrap would give a zero-width interval
        ci = {**ci, "ci_low": None, "ci_high": None}
    return ci


def summarize(run: RunData) -> dict[str, Any]:
    """The run's headline numbers and breakdowns, JSON-ready (this is ``summary.json``).

    ``sage_score`` is the mean final emotion over finished episodes (``None`` when none finished); ``success`` /
    ``failure`` / ``goodbye`` / ``max_turns`` count finished episodes by outcome and the ``*_rate`` fields divide
    by the finished count. ``sage_score_ci`` is a 95% interval for ``sage_score`` (:func:`score_interval`).
    ``preference_bias_B`` and ``preferences`` come from
    :func:`escgraph.strategy_metrics.distribution_preferences` over the counselor's strategies — with no gold in
    self-play, B measures how lopsided the strategy distribution is (0: all eight used equally).
    """
    cfg = run.config or {}
    sage = sage_settings(cfg)
    status = Counter(e.status for e in run.episodes)
    done = [e for e in run.episodes if e.status == "done"]
    scored = _scored(done)
    finals = [e.final_emotion for e in scored]
    outcomes = Counter(e.outcome for e in done)
    n_done = len(done)

    bands = {name: 0 for name, _ in sorted(sage.bands.items(), key=lambda kv: -kv[1])}
    for x in finals:
        bands[sage.band(x)] += 1

    counts, unlabelled = strategy_counts(done)
    total_strats = sum(counts.values())
    prefs = distribution_preferences(counts) if total_strats else None

    models = dict(cfg.get("models") or {})
    settings = {role: {k: v for k, v in (s or {}).items() if v is not None}
                for role, s in (cfg.get("settings") or {}).items()}
    seconds = run.meta.get("seconds")
    return {
        "run_name": Path(run.run_dir).name,  # the folder: what a person calls the run
        "run_id": cfg.get("run_id") or run.meta.get("run_id"),  # what episode seeds derive from
        "graph": cfg.get("graph"),
        "models": models,
        "settings": settings,
        "config_hash": run.config_hash,
        "bank_version": cfg.get("bank_version"),
        "created": run.meta.get("created"),
        "max_turns_limit": cfg.get("max_turns"),
        "sage": sage.model_dump(),
        "episodes": len(run.episodes),
        "status": {s: status.get(s, 0) for s in ("done", "infra_error", "running", "pending")},
        "finished": n_done,
        "infra_error": status.get("infra_error", 0),
        "sage_score": _r(_mean(finals)),
        "score_std": _r(_pstdev(finals)),
        "sage_score_ci": score_interval(scored),
        **{o: outcomes.get(o, 0) for o in OUTCOMES},
        "success_rate": _r(outcomes.get("success", 0) / n_done) if n_done else None,
        "failure_rate": _r(outcomes.get("failure", 0) / n_done) if n_done else None,
        "mean_turns": _r(_mean([e.seeker_turns for e in done])),
        "bands": bands,
        "by_problem_type": _group(done, _profile_field("problem_type")),
        "by_personality": _group(done, _profile_field("personality")),
        "strategies": {
            "total": total_strats,
            "unlabelled": unlabelled,
            "counts": {s: counts.get(s, 0) for s in STRATEGIES},
            "shares": {s: _r(counts.get(s, 0) / total_strats) if total_strats else None for s in STRATEGIES},
        },
        "preference_bias_B": _r(preference_bias(prefs)) if prefs else None,
        "preferences": {s: _r(v) for s, v in prefs.items()} if prefs else None,
        "skills": skill_outcomes(done),
        "tokens": _tokens(run.episodes),
        "servers": _servers(run.episodes),
        "judge_health": judge_health(run),  # can the scores be trusted (see simulations.health)
        "seconds": _r(float(seconds) if seconds is not None else sum(e.seconds for e in run.episodes)),
    }


def _delta(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _r(b - a)
    return None


def _group_deltas(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict[str, Any]]:
    names = list(a) + [n for n in b if n not in a]
    out = {}
    for name in names:
        ga, gb = a.get(name) or {}, b.get(name) or {}
        out[name] = {"n_a": ga.get("n", 0), "n_b": gb.get("n", 0), "a": ga.get("mean"), "b": gb.get("mean"),
                     "delta": _delta(ga.get("mean"), gb.get("mean")),
                     "success_a": ga.get("success", 0), "success_b": gb.get("success", 0),
                     "failure_a": ga.get("failure", 0), "failure_b": gb.get("failure", 0)}
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Run ``b`` against run ``a`` (two :func:`summarize` results): every delta is ``b - a``.

    ``a`` is the baseline. A delta is ``None`` where either side has no number (e.g. no finished episodes, or a
    problem type only one run has). ``better`` says whether higher is better for a headline number.
    """
    headline = {k: {"a": a.get(k), "b": b.get(k), "delta": _delta(a.get(k), b.get(k)), "better": better}
                for k, better in HEADLINE.items()}
    sa = (a.get("strategies") or {}).get("shares") or {}
    sb = (b.get("strategies") or {}).get("shares") or {}
    return {
        "a": {k: a.get(k) for k in ("run_name", "run_id", "graph", "config_hash", "models")},
        "b": {k: b.get(k) for k in ("run_name", "run_id", "graph", "config_hash", "models")},
        "same_config": a.get("config_hash") == b.get("config_hash"),
        "headline": headline,
        "by_problem_type": _group_deltas(a.get("by_problem_type") or {}, b.get("by_problem_type") or {}),
        "by_personality": _group_deltas(a.get("by_personality") or {}, b.get("by_personality") or {}),
        "strategy_shares": {s: {"a": sa.get(s), "b": sb.get(s), "delta": _delta(sa.get(s), sb.get(s))}
                            for s in STRATEGIES},
    }
