"""The report's run-vs-run section: paired deltas with intervals, flipped episodes, both runs' trajectories in one
chart, run-level breakdowns, and the two dialogues of every shared seeker side by side.

Numbers come from :func:`simulations.comparison.compare_runs`. B is the report's own run (the candidate), A the run
given with ``--compare`` (the baseline); every delta is B − A. B's episodes are on this page (``#ep-...``); A's are
linked in A's own ``report.html`` when it exists.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import _svg
from ._report_parts import OUTCOME_LABELS, dialogue, episode_anchors, num, outcome_badge, signed
from .comparison import compare_runs, format_p
from .metrics import sage_settings
from .results import EpisodeResult, RunData

__all__ = ["comparison_banner", "comparison_section", "A_COLOR", "B_COLOR"]

A_COLOR, B_COLOR = "#1f5fa8", "#b35c00"  # blue and orange: told apart with the common colour-vision deficiencies
_BETTER = {"sage_score": True, "success_rate": True, "turns": None}
_HEADLINE_LABELS = {"sage_score": "SAGE score", "score_std": "score std", "preference_bias_B": "preference bias B",
                    "mean_turns": "mean turns", "max_turns": "max turns", "infra_error": "infra errors",
                    "finished": "finished episodes"}


def _esc(x: Any) -> str:
    return escape(str(x))


def _name(info: dict[str, Any]) -> str:
    return _esc(info.get("run_name") or info.get("run_id") or "?")


def comparison_banner(c: dict[str, Any]) -> str:
    """Under the header: which run is A and which is B, and how the command line maps to them."""
    return (f"<p class='note cmp-banner'><b>Comparison report.</b> <span class='run-b'>B</span> (candidate) = "
            f"<code>{_name(c['b'])}</code>, this report's run; <span class='run-a'>A</span> (baseline) = "
            f"<code>{_name(c['a'])}</code>, the run given with <code>--compare</code> "
            f"(<code>escgraph report B --compare A</code>). Every Δ is B − A. The sections above describe B alone; "
            f"<a href='#compare'>Run vs run</a> compares the two.</p>")


def _other_report(run: RunData, out_dir: Path) -> str | None:
    """A relative URL from the page being written to the other run's report.html (None: it has none)."""
    target = Path(run.run_dir).resolve() / "report.html"
    if not target.is_file():
        return None
    return quote(Path(os.path.relpath(target, out_dir.resolve())).as_posix())


def _value(name: str, v: float | None) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.0f}%" if name == "success_rate" else num(v, 1)


def _delta(name: str, v: float | None) -> str:
    if name == "success_rate" and v is not None:
        return signed(100 * v, _BETTER[name]).replace("</span>", " pp</span>")
    return signed(v, _BETTER[name])


def _interval(name: str, row: dict[str, Any], need: int) -> str:
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return f"<span class='muted' title='a {100 * row['confidence']:.0f}% interval needs at least {need} pairs'>" \
               f"none (n &lt; {need})</span>"
    scale, unit = (100, " pp") if name == "success_rate" else (1, "")
    return f"{num(scale * row['ci_low'])} to {num(scale * row['ci_high'])}{unit}"


def _p(p: float | None) -> str:
    return "–" if p is None else format_p(p).removeprefix("p = ").replace("p < ", "&lt; ")


def _sizes(row: dict[str, Any]) -> str:
    return str(row["n"]) if row["design"] == "paired" else f"{row['n_a']} vs {row['n_b']}"


def _deltas(c: dict[str, Any]) -> str:
    paired = c["design"] == "paired"
    need = c["min_pairs_for_interval"]
    rows = "".join(
        f"<tr><td>{_esc(row['label'])}</td><td class='n'>{_value(name, row['a'])}</td>"
        f"<td class='n'>{_value(name, row['b'])}</td><td class='n'>{_delta(name, row['mean'])}</td>"
        f"<td class='n'>{_interval(name, row, need)}</td><td class='n'>{_p(row['p_two_sided'])}</td>"
        f"<td class='n'>{_p(row['p_greater'])}</td><td>{_esc(row['design'])}</td>"
        f"<td class='n'>{_sizes(row)}</td></tr>" for name, row in c["metrics"].items())
    readings = "".join(f"<li>{_esc(text)}</li>" for text in c["readings"].values())
    method = next(iter(c["metrics"].values()))["method"]
    if paired:
        title = "Paired deltas (B − A on the same seekers)"
        how = (f"Over the {c['keys']['paired']} episode keys <code>(profile, trial, seed)</code> that finished in "
               f"both runs: per-episode deltas B − A, their mean, a {100 * c['confidence']:.0f}% interval and "
               f"p-values. Method: {_esc(method)}; the interval is the set of shifts that test does not reject. "
               f"Success is a 1/0 indicator per episode, so its mean delta is the success-rate difference.")
    else:
        title = "Unpaired deltas (too few shared episode keys)"
        how = (f"Fewer than 2 episode keys finished in both runs (different run ids or seeds play different "
               f"seekers), so these are <b>unpaired</b>: B's mean minus A's over all finished episodes of each run, "
               f"with a percentile-bootstrap interval and a permutation p-value. Expect wide intervals: the "
               f"spread between seekers is not removed. Use the same <code>--run-id</code> and <code>--seed</code> "
               f"for both runs to compare them paired.")
    return (f"<h3>{title}</h3><p class='hint'>{how}</p><div class='scroll-x'><table class='deltas'><thead><tr>"
            f"<th>metric</th><th class='n'>A</th><th class='n'>B</th><th class='n'>Δ B − A</th>"
            f"<th class='n'>{100 * c['confidence']:.0f}% CI of Δ</th><th class='n'>p (two-sided)</th>"
            f"<th class='n'>p (B &gt; A)</th><th>design</th><th class='n'>n</th></tr></thead><tbody>{rows}</tbody>"
            f"</table></div><ul class='readings'>{readings}</ul>")


class _Links:
    """Where an episode of either run can be read: B's on this page, A's in A's report, both side by side."""

    def __init__(self, baseline: RunData, anchors_b: dict[str, str], out_dir: Path) -> None:
        self.anchors_a = episode_anchors(baseline.episodes)  # the same anchors A's own report.html uses
        self.anchors_b = anchors_b
        self.report_a = _other_report(baseline, out_dir)

    def pair(self, pair: dict[str, Any]) -> str:
        return "pair-" + self.anchors_b[pair["b"]["episode_id"]].removeprefix("ep-")

    def a(self, pair: dict[str, Any], text: str = "A") -> str:
        if self.report_a is None:
            return f"<a href='#{self.pair(pair)}' title='A has no report.html: the side-by-side view'>{text}</a>"
        return f"<a href='{self.report_a}#{self.anchors_a[pair['a']['episode_id']]}'>{text}</a>"

    def b(self, pair: dict[str, Any], text: str = "B") -> str:
        return f"<a href='#{self.anchors_b[pair['b']['episode_id']]}'>{text}</a>"


def _ending(side: dict[str, Any]) -> str:
    if side["status"] != "done":
        return f"<span class='muted'>{_esc(side['status'].replace('_', ' '))}</span>"
    label = OUTCOME_LABELS.get(side["outcome"], str(side["outcome"]))
    return f"{_esc(label)}, {num(side['final_emotion'])}"


def _flipped(c: dict[str, Any], links: _Links) -> str:
    title = "<h3 id='flipped'>Flipped episodes</h3>"
    if not c["flipped"]:
        return title + "<p class='hint'>No shared episode changed between success and not, or failure and not.</p>"
    rows = "".join(
        f"<tr><td>{_esc(p['profile_id'])}</td><td class='n'>{p['trial']}</td>"
        f"<td>{' · '.join(_flip_tag(f) for f in p['flips'])}</td><td>{links.a(p, _ending(p['a']))}</td>"
        f"<td>{links.b(p, _ending(p['b']))}</td><td class='n'>{signed(p['delta'], True)}</td>"
        f"<td><a href='#{links.pair(p)}'>side by side</a></td></tr>" for p in c["flipped"])
    where = ("A's endings link into A's report.html" if links.report_a else
             "A has no report.html next to its run.sqlite, so A's endings open the side-by-side view")
    return (f"{title}<p class='hint'>Shared episodes that succeeded in one run and not the other, or failed in one "
            f"and not the other (outcome, final emotion). B's endings link to B's episode below; {where}.</p>"
            f"<div class='scroll'><table class='flips'><thead><tr><th>seeker</th><th class='n'>trial</th>"
            f"<th>change in B</th><th>A (baseline)</th><th>B (candidate)</th><th class='n'>Δ final</th><th></th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _flip_tag(flip: str) -> str:
    good = flip in ("success gained", "failure avoided")
    return f"<span class='delta {'good' if good else 'bad'}'>{_esc(flip)}</span>"


def _mean_line(episodes: list[EpisodeResult], length: int) -> list[float]:
    """The mean trajectory, an episode that ended held at its final value (as in the single-run chart)."""
    return [sum(e.trajectory[min(t, len(e.trajectory) - 1)] for e in episodes) / len(episodes)
            for t in range(length)]


def _overlay(c: dict[str, Any], baseline: RunData, candidate: RunData) -> str:
    title = "<h3 id='compare-trajectories'>Emotion trajectories, A and B</h3>"
    paired = c["design"] == "paired"
    keys = {(p["profile_id"], p["trial"], p["seed"]) for p in c["pairs"] if p["paired"]}

    def pick(run: RunData) -> list[EpisodeResult]:  # paired: the same seekers on both sides
        return [e for e in run.finished if e.trajectory and (not paired or (e.profile_id, e.trial, e.seed) in keys)]

    which = "the episodes finished in both runs" if paired else "all finished episodes of each run (unpaired)"
    eps_a, eps_b = pick(baseline), pick(candidate)
    if not eps_a and not eps_b:
        return title + "<p class='note'>Neither run has a finished episode to draw.</p>"
    series = [_svg.Series(f"{tag}: {e.episode_id}, {OUTCOME_LABELS.get(e.outcome, e.outcome)}, final "
                          f"{num(e.final_emotion)}", e.trajectory, color)
              for tag, color, eps in (("A", A_COLOR, eps_a), ("B", B_COLOR, eps_b)) for e in eps]
    length = max(len(e.trajectory) for e in eps_a + eps_b)
    means = [_svg.Series(f"{tag} mean", _mean_line(eps, length), color)
             for tag, color, eps in (("A", A_COLOR, eps_a), ("B", B_COLOR, eps_b)) if len(eps) > 1]
    limits = [int((r.config or {}).get("max_turns") or 0) for r in (baseline, candidate)]
    chart = _svg.trajectories(series, sage_settings(candidate.config or {}).bands, max(length - 1, *limits),
                              means=means, label="Emotion trajectories of runs A and B")
    legend = [f"<li><span class='sw' style='background:{A_COLOR}'></span>A (baseline) · {len(eps_a)}</li>",
              f"<li><span class='sw' style='background:{B_COLOR}'></span>B (candidate) · {len(eps_b)}</li>"]
    legend += [f"<li><span class='sw dash' style='border-top-color:{m.color}'></span>{_esc(m.label)} (ended "
               f"episodes held at their final value)</li>" for m in means]
    return (f"{title}<p class='hint'>One line per episode over {which}; A in blue, B in orange, each run's mean "
            f"dashed. Hover a line for its episode.</p><figure>{chart}<ul class='legend'>{''.join(legend)}</ul>"
            f"</figure>")


def _fmt(v: Any, key: str = "") -> str:
    if v is None:
        return "–"
    if key.endswith("_rate"):
        return f"{100 * v:.0f}%"
    if isinstance(v, float):
        return num(v, 2 if key.endswith("_B") else 1)
    return _esc(v)


def _signed_headline(key: str, v: dict[str, Any]) -> str:
    delta = v["delta"]
    if key.endswith("_rate") and delta is not None:
        return signed(100 * delta, v["better"], 0).replace("</span>", " pp</span>") if delta else signed(0, None)
    return signed(delta, v["better"], 2 if key.endswith("_B") else 1)


def _secondary(c: dict[str, Any]) -> str:
    """The run-level numbers of both summaries (every finished episode, no pairing, no intervals)."""
    s = c["secondary"]
    rows = "".join(
        f"<tr><td>{_esc(_HEADLINE_LABELS.get(k, k.replace('_', ' ')))}</td><td class='n'>{_fmt(v['a'], k)}</td>"
        f"<td class='n'>{_fmt(v['b'], k)}</td><td class='n'>{_signed_headline(k, v)}</td></tr>"
        for k, v in s["headline"].items())

    def groups(title: str, g: dict[str, dict[str, Any]]) -> str:
        body = "".join(
            f"<tr><td>{_esc(name)}</td><td class='n'>{r['n_a']}</td><td class='n'>{r['n_b']}</td>"
            f"<td class='n'>{_fmt(r['a'])}</td><td class='n'>{_fmt(r['b'])}</td>"
            f"<td class='n'>{signed(r['delta'], True)}</td></tr>" for name, r in g.items())
        return (f"<div><h4>Mean final emotion by {_esc(title)}</h4><table><thead><tr><th>{_esc(title)}</th>"
                f"<th class='n'>n A</th><th class='n'>n B</th><th class='n'>A</th><th class='n'>B</th>"
                f"<th class='n'>Δ</th></tr></thead><tbody>{body}</tbody></table></div>")

    return (f"<h3 id='compare-runs'>Run-level numbers (secondary)</h3><p class='hint'>Each run's summary over all "
            f"its finished episodes: not paired, no intervals — read the deltas above first.</p>"
            f"<table class='compare'><thead><tr><th>metric</th><th class='n'>A: {_name(c['a'])}</th>"
            f"<th class='n'>B: {_name(c['b'])}</th><th class='n'>Δ</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<div class='two'>{groups('problem type', s['by_problem_type'])}"
            f"{groups('personality', s['by_personality'])}</div>")


def _side_by_side(c: dict[str, Any], baseline: RunData, candidate: RunData, links: _Links) -> str:
    title = "<h3 id='side-by-side'>Dialogues side by side</h3>"
    if not c["pairs"]:
        return title + "<p class='hint'>The runs share no episode key, so no seeker can be shown in both.</p>"
    a_eps = {e.episode_id: e for e in baseline.episodes}
    b_eps = {e.episode_id: e for e in candidate.episodes}
    items = []
    for p in c["pairs"]:
        a, b = a_eps[p["a"]["episode_id"]], b_eps[p["b"]["episode_id"]]
        flips = " ".join(_flip_tag(f) for f in p["flips"])
        delta = f"Δ {signed(p['delta'], True)}" if p["delta"] is not None else ""
        summary = (f"<summary><span class='ep-title'>{_esc(p['profile_id'])}</span>"
                   f"<span class='muted'>trial {p['trial']} · seed {p['seed']}</span>"
                   f"<span class='run-a'>A</span>{outcome_badge(a)}<span class='muted'>{_final(a)}</span>"
                   f"<span class='run-b'>B</span>{outcome_badge(b)}<span class='muted'>{_final(b)}</span>"
                   f"{delta}{flips}</summary>")
        items.append(
            f"<details class='ep pair' id='{links.pair(p)}'>{summary}<div class='sxs'>"
            f"<div><div class='sxs-h'><span class='run-a'>A</span> baseline · {links.a(p, 'full episode')}</div>"
            f"{dialogue(a, compact=True)}</div>"
            f"<div><div class='sxs-h'><span class='run-b'>B</span> candidate · {links.b(p, 'full episode')}</div>"
            f"{dialogue(b, compact=True)}</div></div></details>")
    return (f"{title}<p class='hint'>Every seeker both runs played ({len(c['pairs'])} shared episode keys), A on "
            f"the left and B on the right, without the judge's reasoning (open the full episode for it).</p>"
            + "".join(items))


def _final(e: EpisodeResult) -> str:
    return f"final {num(e.final_emotion)}" if e.final_emotion is not None else ""


def comparison_section(baseline: RunData, candidate: RunData, anchors_b: dict[str, str], out_dir: Path,
                       c: dict[str, Any] | None = None) -> str:
    """The whole "Run vs run" section (``c``: a ready :func:`compare_runs` result)."""
    c = c or compare_runs(baseline, candidate)
    links = _Links(baseline, anchors_b, out_dir)
    k = c["keys"]
    same = ("Same config hash" if c["secondary"]["same_config"] else
            f"Config hashes differ: <code>{_esc(c['a']['config_hash'])}</code> (A) → "
            f"<code>{_esc(c['b']['config_hash'])}</code> (B)")
    paired = " and paired" if c["design"] == "paired" else ", too few to pair"
    keys = (f"Episode keys <code>(profile, trial, seed)</code>: {k['shared']} shared ({k['finished_both']} "
            f"finished in both{paired}; {k['unfinished']} unfinished in one run or both), {k['only_a']} only in A, "
            f"{k['only_b']} only in B.")
    return (f"<h2 id='compare'>Run vs run</h2><p class='hint'><span class='run-a'>A</span> (baseline) = "
            f"<code>{_name(c['a'])}</code> (run id <code>{_esc(c['a']['run_id'])}</code>, seed "
            f"{_esc(c['a']['seed'])}), given with <code>--compare</code>; <span class='run-b'>B</span> (candidate) "
            f"= <code>{_name(c['b'])}</code> (run id <code>{_esc(c['b']['run_id'])}</code>, seed "
            f"{_esc(c['b']['seed'])}), this report's run. Δ = B − A, green where B is better. {same}. {keys}</p>"
            f"{_deltas(c)}{_flipped(c, links)}{_overlay(c, baseline, candidate)}{_secondary(c)}"
            f"{_side_by_side(c, baseline, candidate, links)}")
