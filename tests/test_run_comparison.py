"""Paired run comparison (`escgraph report B --compare A`) on two short fake-model runs whose judges differ.

The world: the same seekers (same run id and seed, so the same episode keys) meet the same counselor; only the
judge's per-turn change depends on the run. ``hero`` succeeds in B but not in A, ``fragile`` fails in A but not in
B, and the ``calm`` seekers drift up by an amount drawn per episode and run, so the paired deltas vary around a
known mean.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.profiles import SeekerProfile
from escgraph.simulations.comparison import compare_runs
from escgraph.simulations.report import render_report
from escgraph.simulations.runner import run_simulation
from escgraph.simulations.spec import RunSpec
from escgraph.simulations.store import load_run

sys.path.insert(0, str(Path(__file__).parent))
from sim_fakes import SeededFake  # noqa: E402

MAX_TURNS, TRIALS = 5, 2
PROFILES = [
    SeekerProfile(id="hero", situation="(hero) My exam results came out badly.", initial_emotion=60),
    SeekerProfile(id="fragile", situation="(fragile) My partner moved out last week.", initial_emotion=20),
    *[SeekerProfile(id=f"calm{i}", situation=f"(calm) Work has been stressful for {i + 2} months.")
      for i in range(4)],
]
_SEEKER_LINES = ["It's mostly at night that it gets bad.", "I keep thinking about it on the way to work.",
                 "Maybe, I am not sure yet what would help.", "It has been like this for a while now."]


def _noise(tag: str, seed: int) -> int:
    """-1, 0 or 1, fixed per episode and run."""
    return int(hashlib.sha256(f"{tag}|{seed}".encode()).hexdigest()[:8], 16) % 3 - 1


def judge_change(tag: str, kind: str, seed: int) -> int:
    """The judge's change on every turn of an episode, by run (A or B) and kind of seeker."""
    if kind == "hero":
        return 5 if tag == "A" else 10  # A: 60 + 5 x 5 = 85 after 5 turns; B: 100 after 4 turns (success)
    if kind == "fragile":
        return -3 if tag == "A" else 2  # A: 20 - 3 x 4 = 8 < 10 (failure); B: 30 after 5 turns
    return (2 if tag == "A" else 4) + _noise(tag, seed)


class JudgeWorld(SeededFake):
    tag: str = "A"

    def _choose(self, messages, schema, call=None):  # noqa: ANN001
        name = getattr(schema.source, "__name__", "") if schema is not None else ""
        system = messages[0].text if messages else ""
        if name == "JudgeAssessment":
            kind = re.search(r"\((hero|fragile|calm)\)", system).group(1)
            return {"meaning": "a reply", "serves_goal": "partly", "inner_reaction": "noted", "feeling": "steady",
                    "change": judge_change(self.tag, kind, self.seed)}
        if schema is None and "talking to a supporter" in system:  # the seeker: never a goodbye line
            return _SEEKER_LINES[len(messages) % len(_SEEKER_LINES)]
        return super()._choose(messages, schema, call)


def make_run(folder: Path, tag: str, run_id: str = "same"):
    spec = RunSpec(run_id=run_id, models={"counselor": "fake"}, profiles=PROFILES, trials=TRIALS,
                   max_turns=MAX_TURNS, concurrency=4, backoff=0.01)
    model = JudgeWorld(tag=tag)
    return run_simulation(spec, folder, models={"counselor": model, "seeker": model, "judge": model})


def expected_final(tag: str, profile: SeekerProfile, seed: int) -> float:
    emotion = float(profile.initial_emotion)
    kind = re.search(r"\((\w+)\)", profile.situation).group(1)
    for _ in range(MAX_TURNS):
        emotion = max(0.0, min(100.0, emotion + judge_change(tag, kind, seed)))
        if emotion >= 100 or emotion < 10:
            break
    return emotion


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return root, make_run(root / "A", "A"), make_run(root / "B", "B")


def test_paired_deltas_have_the_right_sign_and_cover_the_true_difference(runs):
    _, a, b = runs
    c = compare_runs(a, b)
    assert c["design"] == "paired" and c["a"]["role"] == "baseline" and c["b"]["role"] == "candidate"
    assert c["keys"] == {"shared": 12, "only_a": 0, "only_b": 0, "unfinished": 0, "finished_both": 12, "paired": 12}
    profiles = {p.id: p for p in PROFILES}
    deltas = [expected_final("B", profiles[e.profile_id], e.seed) - expected_final("A", profiles[e.profile_id], e.seed)
              for e in b.episodes]
    sage = c["metrics"]["sage_score"]
    assert sage["n"] == 12 and sage["mean"] == pytest.approx(sum(deltas) / 12, abs=1e-3)
    assert sage["b"] - sage["a"] == pytest.approx(sage["mean"], abs=1e-3)
    # The generating process: hero +15, fragile +22, calm 5 turns x (2 + E[noise B - noise A]) = +10.
    true_mean = (2 * 15 + 2 * 22 + 8 * 10) / 12
    assert 0 < sage["ci_low"] <= true_mean <= sage["ci_high"]
    assert sage["p_greater"] < 0.01 and sage["p_two_sided"] < 0.01 and sage["p_less"] > 0.5
    success = c["metrics"]["success_rate"]
    assert success["mean"] == pytest.approx(2 / 12, abs=1e-3) and success["a"] == 0
    turns = c["metrics"]["turns"]  # hero ends a turn earlier in B, fragile a turn later: no change on average
    assert turns["mean"] == pytest.approx(0.0)
    assert c["readings"]["sage_score"].startswith("B scores") and "higher than A" in c["readings"]["sage_score"]
    assert "paired over 12 episodes" in c["readings"]["sage_score"]
    flips = {(p["profile_id"], tuple(p["flips"])) for p in c["flipped"]}
    assert flips == {("hero", ("success gained",)), ("fragile", ("failure avoided",))}
    assert len(c["flipped"]) == 4
    hero = next(p for p in c["flipped"] if p["profile_id"] == "hero")
    assert hero["a"]["outcome"] == "max_turns" and hero["b"]["outcome"] == "success"
    assert (hero["a"]["final_emotion"], hero["b"]["final_emotion"]) == (85, 100)
    assert c["secondary"]["headline"]["sage_score"]["delta"] == pytest.approx(sage["mean"], abs=1e-3)
    json.dumps(c)


def test_html_links_flipped_episodes_and_shows_dialogues_side_by_side(runs):
    root, a, b = runs
    out = root / "B" / "compare-A.html"
    html = render_report(b, compare=a, out=out)
    assert "Paired deltas" in html and "Unpaired" not in html and "Flipped episodes" in html
    assert "(candidate) = <code>B</code>" in html and "(baseline) = <code>A</code>" in html
    assert "escgraph report B --compare A" in html
    flipped = html[html.index("id='flipped'"):html.index("id='compare-trajectories'")]
    for e in (e for e in b.episodes if e.profile_id in ("hero", "fragile")):
        anchor = "ep-" + re.sub(r"[^A-Za-z0-9_-]+", "-", e.episode_id)
        assert f"href='#{anchor}'" in flipped  # B's episode, on this page
        assert f"href='../A/report.html#{anchor}'" in flipped  # A's episode, in A's own report
        assert f"href='#pair-{anchor[3:]}'" in flipped and f"id='pair-{anchor[3:]}'" in html
    assert "success gained" in flipped and "failure avoided" in flipped
    assert html.count("<details class='ep pair'") == 12 and html.count("class='sxs'") == 12
    assert "stroke:#1f5fa8" in html and "stroke:#b35c00" in html  # both runs' mean lines in the overlay
    assert "A (baseline) · 12" in html and "B (candidate) · 12" in html
    assert "Run-level numbers (secondary)" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    # Without A's report.html the A links fall back to the side-by-side view.
    (root / "A" / "report.html").rename(root / "A" / "report.html.bak")
    try:
        html = render_report(b, compare=a, out=out)
        assert "../A/report.html" not in html and "side-by-side view" in html
    finally:
        (root / "A" / "report.html.bak").rename(root / "A" / "report.html")


def test_different_run_ids_fall_back_to_unpaired(runs, tmp_path):
    _, _, b = runs
    other = make_run(tmp_path / "other", "A", run_id="different")
    c = compare_runs(other, b)
    assert c["design"] == "unpaired" and c["keys"]["shared"] == 0
    assert c["keys"]["only_a"] == 12 and c["keys"]["only_b"] == 12 and not c["flipped"]
    for name, row in c["metrics"].items():
        assert row["design"] == "unpaired" and row["method"].startswith("unpaired")
        assert row["n_a"] == row["n_b"] == 12 and "unpaired" in c["readings"][name]
    sage = c["metrics"]["sage_score"]
    assert sage["ci_low"] <= sage["mean"] <= sage["ci_high"] and sage["p_greater"] is None
    html = render_report(b, compare=other)
    assert "Unpaired deltas" in html and "Paired deltas" not in html
    assert "<b>unpaired</b>" in html and html.count("<td>unpaired</td>") == 3
    assert "share no episode key" in html and "<details class='ep pair'" not in html


def test_summary_has_a_clustered_interval_for_the_sage_score(runs):
    root, a, _ = runs
    summary = json.loads((root / "A" / "summary.json").read_text())
    ci = summary["sage_score_ci"]
    assert ci["ci_low"] <= summary["sage_score"] <= ci["ci_high"] and ci["ci_low"] < ci["ci_high"]
    assert ci["clusters"] == 6 and ci["n"] == 12 and "profiles" in ci["method"] and ci["confidence"] == 0.95


def test_cli_report_compare_prints_the_paired_summary(runs):
    root, _, _ = runs
    out = root / "cli-compare.html"
    result = CliRunner().invoke(cli_app(), ["report", str(root / "B"), "--compare", str(root / "A"), "--out",
                                            str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and out.is_file()
    assert "B = B (candidate) vs A = A (baseline), paired on 12 shared episodes" in result.stderr
    assert re.search(r"SAGE score \(final emotion\) Δ \+\d+\.\d \(95% CI \+\d+\.\d to \+\d+\.\d, p [<=] ",
                     result.stderr)
    assert "success rate Δ +16.7 pp" in result.stderr and "flipped outcomes: 4" in result.stderr
    html = out.read_text()
    assert "href='A/report.html#ep-hero" in html  # relative to where the page was written
