"""Run against run, with uncertainty: paired per-episode deltas on shared episode keys.

Two runs made with the same run id and ``--seed`` play the same seekers: episode ``(profile_id, trial, seed)`` of
one run meets the same profile, trial and sampling seed in the other. Differences are then taken episode by
episode (candidate − baseline), which removes the between-seeker spread and gives much tighter intervals than
comparing run means. When fewer than two keys finished in both runs, the comparison falls back to an
**unpaired** interval over all finished episodes and says so in every label. Statistics come from
:mod:`escgraph.stats` (sign-flip permutation test, deterministic for a seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from escgraph.stats import MIN_PAIRS_FOR_BOUND, paired, unpaired

from .metrics import compare, summarize
from .results import EpisodeResult, RunData

__all__ = ["compare_runs", "MIN_PAIRS", "METRICS", "reading", "format_p"]

MIN_PAIRS = 2  # below this many finished shared keys a paired test says nothing: fall back to unpaired
CONFIDENCE = 0.95
_SEED = 0  # fixed: the same two runs always get the same intervals and p-values
_DIGITS = 4

# metric -> (label, value of one finished episode)
METRICS: dict[str, tuple[str, Any]] = {
    "sage_score": ("SAGE score (final emotion)", lambda e: float(e.final_emotion)),
    "success_rate": ("success rate", lambda e: 1.0 if e.outcome == "success" else 0.0),
    "turns": ("judged turns", lambda e: float(e.seeker_turns)),
}


def _key(e: EpisodeResult) -> tuple[str, int, int]:
    return (e.profile_id, e.trial, e.seed)


def _done(e: EpisodeResult | None) -> bool:
    return e is not None and e.status == "done" and e.final_emotion is not None


def _brief(e: EpisodeResult) -> dict[str, Any]:
    return {"episode_id": e.episode_id, "status": e.status, "outcome": e.outcome,
            "final_emotion": e.final_emotion, "seeker_turns": e.seeker_turns}


def _flips(a: EpisodeResult, b: EpisodeResult) -> list[str]:
    """How the ending changed between the runs, from B's point of view (empty: no flip)."""
    flips = []
    if (a.outcome == "success") != (b.outcome == "success"):
        flips.append("success gained" if b.outcome == "success" else "success lost")
    if (a.outcome == "failure") != (b.outcome == "failure"):
        flips.append("failure avoided" if a.outcome == "failure" else "new failure")
    return flips


def _run_info(run: RunData, role: str) -> dict[str, Any]:
    cfg = run.config or {}
    return {"role": role, "run_name": Path(run.run_dir).name, "run_dir": str(run.run_dir),
            "run_id": cfg.get("run_id") or run.meta.get("run_id"), "seed": cfg.get("seed"),
            "config_hash": run.config_hash, "episodes": len(run.episodes), "finished": len(run.finished)}


def _round(x: Any) -> Any:
    return round(x, _DIGITS) if isinstance(x, float) else x


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _paired_metric(pairs: list[tuple[EpisodeResult, EpisodeResult]], value: Any) -> dict[str, Any]:
    xa, xb = [value(a) for a, _ in pairs], [value(b) for _, b in pairs]
    stat = paired([y - x for x, y in zip(xa, xb)], confidence=CONFIDENCE, seed=_SEED).to_dict(_DIGITS)
    return {"design": "paired", "a": _round(_mean(xa)), "b": _round(_mean(xb)), "n_a": len(xa), "n_b": len(xb),
            **stat}


def _unpaired_metric(a: list[EpisodeResult], b: list[EpisodeResult], value: Any) -> dict[str, Any]:
    xa, xb = [value(e) for e in a], [value(e) for e in b]
    stat = unpaired(xa, xb, confidence=CONFIDENCE, seed=_SEED).to_dict(_DIGITS)
    # the same fields as a paired result, so readers need not branch (no one-sided p from the bootstrap)
    return {"design": "unpaired", "a": _round(_mean(xa)), "b": _round(_mean(xb)), "n": None, "sd": None,
            "p_greater": None, "p_less": None, **stat}


def compare_runs(baseline: RunData, candidate: RunData) -> dict[str, Any]:
    """Candidate (B) against baseline (A); every delta is B − A. JSON-ready.

    ``keys`` counts the episode keys shared, only in A, only in B, and shared but unfinished in either run;
    ``metrics`` holds, per metric, the means of both runs, the delta, its interval and p-values, and ``design``
    (``paired`` over the keys finished in both, else ``unpaired`` over all finished episodes); ``pairs`` lists
    every shared key with both endings, ``flipped`` the finished ones whose success or failure changed;
    ``secondary`` is :func:`metrics.compare` on the two summaries (run-level breakdowns, no intervals).
    """
    a_by, b_by = {_key(e): e for e in baseline.episodes}, {_key(e): e for e in candidate.episodes}
    shared = [k for k in b_by if k in a_by]  # in B's order: the order of B's report
    finished = [k for k in shared if _done(a_by[k]) and _done(b_by[k])]
    design = "paired" if len(finished) >= MIN_PAIRS else "unpaired"
    pairs_done = [(a_by[k], b_by[k]) for k in finished]
    a_done = [e for e in baseline.episodes if _done(e)]
    b_done = [e for e in candidate.episodes if _done(e)]
    metrics = {}
    for name, (label, value) in METRICS.items():
        row = _paired_metric(pairs_done, value) if design == "paired" else _unpaired_metric(a_done, b_done, value)
        metrics[name] = {"label": label, **row}
    pairs = []
    for k in shared:
        a, b = a_by[k], b_by[k]
        both = _done(a) and _done(b)
        pairs.append({"profile_id": k[0], "trial": k[1], "seed": k[2], "paired": both, "a": _brief(a),
                      "b": _brief(b), "delta": _round(b.final_emotion - a.final_emotion) if both else None,
                      "flips": _flips(a, b) if both else []})
    keys = {"shared": len(shared), "only_a": sum(k not in b_by for k in a_by),
            "only_b": sum(k not in a_by for k in b_by), "unfinished": len(shared) - len(finished),
            "finished_both": len(finished), "paired": len(finished) if design == "paired" else 0}
    result = {
        "a": _run_info(baseline, "baseline"), "b": _run_info(candidate, "candidate"), "design": design,
        "confidence": CONFIDENCE, "min_pairs_for_interval": MIN_PAIRS_FOR_BOUND((1 - CONFIDENCE) / 2),
        "keys": keys, "metrics": metrics, "pairs": pairs, "flipped": [p for p in pairs if p["flips"]],
        "secondary": compare(summarize(baseline), summarize(candidate)),
    }
    result["readings"] = {name: reading(name, row, result) for name, row in metrics.items()}
    return result


def format_p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def _n(x: float, scale: float = 1.0) -> str:
    return f"{x * scale:.1f}"


def reading(name: str, row: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    """One plain-English line, e.g. "B scores 6.2 points higher than A (95% CI 1.1 to 11.0, p = 0.02, paired
    over 24 episodes)"."""
    mean = row.get("mean")
    if mean is None:
        return f"{METRICS[name][0]}: no finished episodes to compare."
    scale, unit = (100.0, " percentage points") if name == "success_rate" else (1.0, "")
    size = abs(mean) * scale
    if name == "sage_score":
        what = f"B scores {_n(size)} points {'higher' if mean > 0 else 'lower'} than A"
    elif name == "success_rate":
        what = f"B's success rate is {_n(size)}{unit} {'higher' if mean > 0 else 'lower'} than A's"
    else:
        what = f"B's episodes last {_n(size)} judged turns {'longer' if mean > 0 else 'shorter'} than A's"
    if round(size, 1) == 0:
        what = {"sage_score": "B and A score the same on average",
                "success_rate": "B and A have the same success rate",
                "turns": "B's and A's episodes last as long on average"}[name]
    level = f"{100 * row.get('confidence', CONFIDENCE):.0f}%"
    if row.get("ci_low") is not None and row.get("ci_high") is not None:
        interval = f"{level} CI {_n(row['ci_low'], scale)} to {_n(row['ci_high'], scale)}"
    else:
        need = (comparison or {}).get("min_pairs_for_interval", MIN_PAIRS_FOR_BOUND((1 - CONFIDENCE) / 2))
        interval = f"no {level} interval below {need} pairs"
    if row["design"] == "paired":
        basis = f"paired over {row['n']} episodes"
    else:
        basis = f"unpaired: {row['n_a']} vs {row['n_b']} finished episodes, too few shared keys"
    return f"{what} ({interval}, {format_p(row.get('p_two_sided'))}, {basis})."
