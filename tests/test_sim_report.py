"""Run summary (summary.json) and the self-contained HTML report, on a synthetic run built in code."""

from __future__ import annotations

import json
import re

import pytest

from escgraph.profiles import SeekerProfile
from escgraph.simulations.metrics import compare, summarize
from escgraph.simulations.report import render_report
from escgraph.simulations.results import EpisodeResult, RunData, TurnRecord
from escgraph.simulations.spec import RunSpec
from escgraph.strategy_metrics import distribution_preferences, preference_bias

Q, R, F, A, S = ("Question", "Restatement or Paraphrasing", "Reflection of feelings", "Affirmation and Reassurance",
                 "Providing Suggestions")
EVIL = "<script>alert('x')</script> & \"quotes\""

PROFILES = [
    {"id": "anna", "situation": "Overworked at the hospital.", "problem_type": "job crisis",
     "personality": "negative", "hidden_intent": "wants to hear it is not her fault",
     "persona": {"age": 34, "gender": "female", "occupation": "nurse"}},
    {"id": "ben", "situation": "Partner left.", "problem_type": "breakup", "personality": "avoidant"},
    {"id": "cara", "situation": "Boss ignores her ideas.", "problem_type": "job crisis", "personality": "passive"},
    {"id": "dan", "situation": "Failing exams.", "problem_type": "academic pressure"},
    {"id": "evil", "situation": f"Situation {EVIL}", "problem_type": "breakup", "personality": "negative",
     "hidden_intent": EVIL},
    {"id": "flaky", "situation": "Lost his job.", "problem_type": "job crisis"},
    {"id": "gil", "situation": "Lonely after a move.", "problem_type": "loneliness"},
]


def _spec(run_id: str = "synthetic") -> RunSpec:
    return RunSpec(run_id=run_id, models={"counselor": "fake:counselor", "judge": "fake:judge"},
                   profiles=[SeekerProfile.model_validate(p) for p in PROFILES], max_turns=10)


def _episode(spec: RunSpec, pid: str, trajectory: list[float], outcome: str | None, strategies: list,
             status: str = "done", text: str = "I feel bad.") -> EpisodeResult:
    key = next(k for k in spec.episodes() if k.profile_id == pid)
    profile = spec.profile(pid).model_dump(exclude_none=True)
    turns = [TurnRecord(idx=0, speaker="seeker", text=text)]
    for k, (before, after) in enumerate(zip(trajectory, trajectory[1:])):
        strategy = strategies[k % len(strategies)]
        extra = {"stage": "exploration", "rationale": f"because {pid}"}
        if strategy is None:
            extra["safety"] = "suicide"
        turns.append(TurnRecord(idx=len(turns), speaker="counselor", text=f"reply {k} to {pid}", strategy=strategy,
                                extra=extra))
        turns.append(TurnRecord(idx=len(turns), speaker="seeker", text=f"{text} ({k})", emotion_before=before,
                                emotion_after=after, change=after - before,
                                judge={"meaning": f"meaning {k}", "serves_goal": "partly",
                                       "inner_reaction": f"inner {EVIL if pid == 'evil' else k}",
                                       "feeling": "a bit better" if after > before else "worse"}))
    judged = len(trajectory) - 1
    return EpisodeResult(
        episode_id=key.episode_id, profile_id=pid, trial=key.trial, seed=key.seed, status=status, profile=profile,
        outcome=outcome if status == "done" else None, initial_emotion=trajectory[0] if trajectory else None,
        final_emotion=trajectory[-1] if status == "done" else None, seeker_turns=max(0, judged),
        tokens={"counselor": {"input_tokens": 100, "output_tokens": 10},
                "judge": {"input_tokens": 50, "output_tokens": 5, "total_tokens": 55}},
        error="ConnectionError: <boom>" if status == "infra_error" else None, attempts=1, seconds=2.0, turns=turns)


def make_run(run_id: str = "synthetic", shift: float = 0.0) -> RunData:
    spec = _spec(run_id)
    episodes = [
        _episode(spec, "anna", [40, 45, 55, 65, 75, 85, 95, 100], "success", [Q, R, F, A]),  # 7 turns
        _episode(spec, "ben", [40, 35, 25, 15, 5], "failure", [S]),  # 4 turns
        _episode(spec, "cara", [40, 50, 60 + shift], "goodbye", [Q, F]),  # 2 turns
        _episode(spec, "dan", [40, 45, 50, 45, 50, 55, 50, 55, 60, 50, 55], "max_turns", [Q]),  # 10 turns
        _episode(spec, "evil", [40, 50, 60, 70], "goodbye", [F, None, A], text=EVIL),  # 3 turns, 1 safety reply
        _episode(spec, "flaky", [40, 45], None, [Q], status="infra_error"),
        _episode(spec, "gil", [], None, [Q], status="pending"),
    ]
    return RunData(run_dir=f"runs/{run_id}", config={**spec.result_config(), "config_hash": spec.config_hash()},
                   config_hash=spec.config_hash(), episodes=episodes,
                   meta={"created": "2025-01-02T03:04:05Z", "escgraph_version": "0.test"})


def test_summary_numbers():
    s = summarize(make_run())
    json.dumps(s)  # JSON-ready
    assert s["run_id"] == "synthetic" and s["graph"] == "sweetiechat"
    assert s["models"] == {"counselor": "fake:counselor", "judge": "fake:judge", "seeker": "fake:counselor"}
    assert s["settings"]["judge"]["temperature"] == 0.0
    assert s["status"] == {"done": 5, "infra_error": 1, "running": 0, "pending": 1}
    assert s["finished"] == 5 and s["infra_error"] == 1 and s["episodes"] == 7
    assert s["sage_score"] == pytest.approx((100 + 5 + 60 + 55 + 70) / 5)  # 58
    assert s["score_std"] == pytest.approx(((42 ** 2 + 53 ** 2 + 2 ** 2 + 3 ** 2 + 12 ** 2) / 5) ** .5, abs=1e-4)
    assert (s["success"], s["failure"], s["goodbye"], s["max_turns"]) == (1, 1, 2, 1)
    assert s["success_rate"] == 0.2 and s["failure_rate"] == 0.2
    assert s["mean_turns"] == pytest.approx((7 + 4 + 2 + 10 + 3) / 5)
    assert s["bands"] == {"S": 1, "A": 1, "B": 2, "C": 0, "F": 1}
    assert s["by_problem_type"]["job crisis"] == {"n": 2, "mean": 80.0, "success": 1, "failure": 0, "goodbye": 1,
                                                  "max_turns": 0}  # the infra-errored 'flaky' is not counted
    assert s["by_problem_type"]["breakup"]["mean"] == pytest.approx(37.5)
    assert s["by_personality"]["(unspecified)"]["n"] == 1 and s["by_personality"]["negative"]["n"] == 2
    assert list(s["by_personality"])[-1] == "(unspecified)"
    # Counselor strategies over the finished episodes: anna Q R F A Q R F, ben S x4, cara Q F, dan Q x10,
    # evil F (safety) A.
    counts = {Q: 2 + 1 + 10, R: 2, F: 2 + 1 + 1, A: 1 + 1, S: 4}
    assert s["strategies"]["total"] == 25 and s["strategies"]["unlabelled"] == 1
    assert {k: v for k, v in s["strategies"]["counts"].items() if v} == counts
    assert s["strategies"]["shares"][Q] == pytest.approx(13 / 25)
    prefs = distribution_preferences(counts)
    assert s["preference_bias_B"] == pytest.approx(preference_bias(prefs), abs=1e-4)
    assert s["preferences"][Q] == pytest.approx(8 * 13 / 25, abs=1e-3)
    assert s["tokens"]["counselor"] == {"input_tokens": 700, "output_tokens": 70, "total_tokens": 770}
    assert s["tokens"]["judge"]["total_tokens"] == 7 * 55
    assert s["seconds"] == pytest.approx(14.0)


def test_summary_without_finished_episodes():
    run = make_run()
    run.episodes = [e for e in run.episodes if e.status != "done"]
    s = summarize(run)
    assert s["sage_score"] is None and s["mean_turns"] is None and s["preference_bias_B"] is None
    assert s["finished"] == 0 and s["success_rate"] is None
    html = render_report(run)
    assert "No finished episodes yet" in html


def test_compare_gives_deltas():
    a, b = summarize(make_run("base")), summarize(make_run("better", shift=10))
    c = compare(a, b)
    assert c["a"]["run_id"] == "base" and c["b"]["run_id"] == "better" and not c["same_config"]
    assert c["headline"]["sage_score"]["delta"] == pytest.approx(2.0)  # cara 60 -> 70 over 5 episodes
    assert c["headline"]["success"]["delta"] == 0 and c["headline"]["sage_score"]["better"] is True
    assert c["by_problem_type"]["job crisis"]["delta"] == pytest.approx(5.0)
    assert c["by_personality"]["passive"]["delta"] == pytest.approx(10.0)
    assert c["by_problem_type"]["breakup"]["delta"] == 0.0
    json.dumps(c)


def _no_external_refs(html: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "<link" not in html.lower()


def test_report_is_self_contained_escaped_and_has_a_section_per_episode():
    run = make_run()
    html = render_report(run)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    _no_external_refs(html)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "ConnectionError: &lt;boom&gt;" in html
    for e in run.episodes:
        anchor = "ep-" + re.sub(r"[^A-Za-z0-9_-]+", "-", e.episode_id)
        assert f"id='{anchor}'" in html and f"href='#{anchor}'" in html
    assert html.count("<details class='ep'") == len(run.episodes)
    assert "safety gate: suicide" in html and "Judge, on the reply above" in html
    assert "wants to hear it is not her fault" in html and "Reflection of feelings" in html
    assert "<polyline" in html and "band S" in html and "fake:judge" in html
    assert "Run vs run" not in html


def test_report_with_comparison_and_single_episode():
    run, base = make_run("candidate", shift=10), make_run("baseline")
    html = render_report(run, compare=base)
    assert "Run vs run" in html and "A</span> (baseline) = <code>baseline</code>" in html
    assert "Unpaired deltas" in html  # different run ids: no shared episode keys
    assert "+2" in html  # sage score delta
    _no_external_refs(html)
    one = make_run()
    one.episodes = one.episodes[:1]
    html = render_report(one)
    assert html.count("<details class='ep' ") == 1 and " open>" in html


def test_report_stays_reasonable_with_500_episodes():
    run = make_run()
    done = [e for e in run.episodes if e.status == "done"]
    run.episodes = [done[i % len(done)] for i in range(500)]
    for i, e in enumerate(run.episodes):
        run.episodes[i] = EpisodeResult(**{**e.__dict__, "episode_id": f"{e.profile_id}#{i}#1", "trial": i})
    html = render_report(run)
    assert html.count("<details class='ep'") == 500 and " open>" not in html
    assert len(html) < 6_000_000
