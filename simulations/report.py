"""The run report: one self-contained HTML file (inline CSS and SVG, nothing fetched) for a simulation run.

Sections: header (run, graph, models and their pinned decoding, config hash, date), headline cards, emotion
trajectories, final-score histogram, outcomes by problem type and personality, strategy distribution, judge
health (its warnings also boxed in the header), an optional run-vs-run comparison, the episode table and one
collapsible section per episode (``#ep-...``) with the profile, the dialogue and the judge's reasoning. All text
from the run is escaped: dialogue is untrusted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from . import _svg
from ._report_health import HEALTH_CSS, health_banner, health_section
from ._report_parts import (CSS, OUTCOME_COLORS, OUTCOME_LABELS, SCRIPT, episode_anchors, episode_section, num,
                            outcome_badge)
from ._report_compare import comparison_banner, comparison_section
from ._report_parts import signed as _signed
from .comparison import compare_runs
from .metrics import sage_settings, summarize
from .results import OUTCOMES, EpisodeResult, RunData
from .spec import SIM_ROLES

__all__ = ["render_report"]

_SETTING_ORDER = ("temperature", "top_p", "max_tokens", "repeat_penalty", "seed")
_OPEN_EPISODES_UP_TO = 3  # with more episodes their sections start collapsed


def _card(key: str, value: str, sub: str = "", cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="k">{escape(key)}</div><div class="v">{value}</div>'
            f'<div class="s">{sub}</div></div>')


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _share(part: int, done: int) -> str:
    return f"{100 * part / done:.0f}% of finished" if done else "no finished episodes"


def _header(run: RunData, s: dict[str, Any]) -> str:
    cfg, meta = run.config or {}, run.meta or {}
    sage = sage_settings(cfg)
    bits = [f"graph <b>{escape(str(s['graph'] or '?'))}</b>",
            f"config hash <code>{escape(str(s['config_hash']))}</code>",
            f"run id <code>{escape(str(s['run_id']))}</code> · seed {escape(str(cfg.get('seed', '?')))}"]
    if s.get("created"):
        bits.append(f"run created {escape(str(s['created']))}")
    if meta.get("escgraph_version"):
        bits.append(f"escgraph {escape(str(meta['escgraph_version']))}")
    if s.get("bank_version"):
        bits.append(f"skills bank {escape(str(s['bank_version']))}")
    n_profiles = len(cfg.get("profiles") or []) or len({e.profile_id for e in run.episodes})
    trials = cfg.get("trials")
    planned = n_profiles * trials if isinstance(trials, int) else None
    recorded = "" if planned == s["episodes"] else f" ({s['episodes']} recorded)"
    episodes = f" = {_plural(planned, 'episode')}" if planned is not None else ""
    bits.append(f"{_plural(n_profiles, 'profile')} × {_plural(trials, 'trial') if trials else '? trials'}"
                f"{episodes}{recorded}")
    protocol = (f"SAGE: emotion starts at {num(sage.initial_emotion)}, changes at most ±{num(sage.change_limit)} per "
                f"turn; success at {num(sage.success_at)}, failure below {num(sage.failure_below)}, at most "
                f"{escape(str(s.get('max_turns_limit') or '?'))} judged turns")
    settings = s.get("settings") or {}
    order = {r: i for i, r in enumerate(SIM_ROLES)}
    roles = sorted({*(s.get("models") or {}), *settings}, key=lambda r: (order.get(r, len(order)), r))
    keys = [k for k in _SETTING_ORDER if any(k in settings.get(r, {}) for r in roles)]
    keys += sorted({k for r in roles for k in settings.get(r, {})} - set(keys))
    head = "".join(f"<th class='n'>{escape(k.replace('_', ' '))}</th>" for k in keys)
    rows = "".join(
        f"<tr><td>{escape(r)}</td><td><code>{escape(str((s.get('models') or {}).get(r, '–')))}</code></td>"
        + "".join(f"<td class='n'>{escape(str(settings.get(r, {}).get(k, '–')))}</td>" for k in keys) + "</tr>"
        for r in roles)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<header><p class='eyebrow'>escgraph simulation report</p>"
            f"<h1>{escape(str(s.get('run_name') or s['run_id'] or 'run'))}</h1><p class='meta'>{' · '.join(bits)}</p>"
            f"<p class='meta'>{protocol} · report generated {generated}</p>"
            f"<table class='models'><thead><tr><th>role</th><th>model</th>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>{health_banner(s.get('judge_health'))}</header>")


def _cards(s: dict[str, Any], run_meta: dict[str, Any]) -> str:
    done = s["finished"]
    score = num(s["sage_score"]) if s["sage_score"] is not None else "–"
    spread = f"± {num(s['score_std'])} std · " if s["score_std"] is not None else ""
    ci = s.get("sage_score_ci") or {}
    if ci.get("ci_low") is not None:
        spread = f"95% CI {num(ci['ci_low'])}–{num(ci['ci_high'])} · " + spread
    other = s["goodbye"] + s["max_turns"]
    tokens = "".join(f"<tr title='input {u['input_tokens']:,} · output {u['output_tokens']:,}'><td>{escape(r)}</td>"
                     f"<td class='n'>{u['total_tokens']:,}</td></tr>"
                     for r, u in s["tokens"].items()) or "<tr><td>none recorded</td></tr>"
    b = s["preference_bias_B"]
    status = s["status"]
    cards = [
        _card("SAGE score", score, f"{spread}mean final emotion of {_plural(done, 'finished episode')}", "hero"),
        _card("Success", str(s["success"]), _share(s["success"], done), "success"),
        _card("Failure", str(s["failure"]), _share(s["failure"], done), "failure"),
        _card("Other endings", str(other), f"goodbye {s['goodbye']} · max turns {s['max_turns']}"),
        _card("Mean turns", num(s["mean_turns"]) if s["mean_turns"] is not None else "–", "judged seeker turns"),
        _card("Preference bias B", num(b, 2) if b is not None else "–", "0 = the 8 strategies used equally"),
        _card("Infra errors", str(s["infra_error"]),
              f"never scored · pending {status['pending']} · running {status['running']}",
              "warn" if s["infra_error"] else ""),
        _card("Time", _duration(s["seconds"]), "wall clock" if (run_meta or {}).get("seconds") is not None
              else f"summed over {_plural(s['episodes'], 'episode')}"),
        f"<div class='card tokens'><div class='k'>Tokens by role</div><table>{tokens}</table></div>",
    ]
    return f"<section class='cards'>{''.join(cards)}</section>"


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "–"
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s" if m else f"{sec}s"


def _legend(items: list[tuple[str, str, str]]) -> str:
    """(label, colour, extra css class) swatches."""
    return "<ul class='legend'>" + "".join(
        f"<li><span class='sw {cls}' style='background:{c}'></span>{escape(label)}</li>" for label, c, cls in items
    ) + "</ul>"


def _no_finished(what: str) -> str:
    return f"<p class='note'>No finished episodes yet, so there is no {escape(what)} to show.</p>"


def _trajectories(run: RunData, s: dict[str, Any]) -> str:
    rank = {o: i for i, o in enumerate(("max_turns", "goodbye", "failure", "success"))}
    # Common endings first, so the rarer success and failure lines are drawn on top.
    done = sorted((e for e in run.finished if e.trajectory), key=lambda e: rank.get(e.outcome, -1))
    if not done:
        return "<h2 id='trajectories'>Emotion trajectories</h2>" + _no_finished("trajectory")
    bands = sage_settings(run.config or {}).bands
    series = [_svg.Series(f"{e.episode_id}: {OUTCOME_LABELS.get(e.outcome, e.outcome)}, final {num(e.final_emotion)}",
                          e.trajectory, OUTCOME_COLORS.get(e.outcome, OUTCOME_COLORS[None])) for e in done]
    length = max(len(e.trajectory) for e in done)
    mean = [sum(e.trajectory[min(t, len(e.trajectory) - 1)] for e in done) / len(done) for t in range(length)]
    max_x = max(length - 1, int(s.get("max_turns_limit") or 0))
    chart = _svg.trajectories(series, bands, max_x, mean=mean)
    counts = {o: sum(e.outcome == o for e in done) for o in OUTCOMES}
    legend = [(f"{OUTCOME_LABELS[o]} ({counts[o]})", OUTCOME_COLORS[o], "") for o in OUTCOMES]
    if len(done) > 1:
        legend.append(("mean (ended episodes held at their final value)", "#1f2328", "dash"))
    return (f"<h2 id='trajectories'>Emotion trajectories</h2>"
            f"<p class='hint'>One line per finished episode; dashed lines are the band floors "
            f"({escape(', '.join(f'{k} ≥ {num(v)}' for k, v in sorted(bands.items(), key=lambda kv: -kv[1])))}). "
            f"Hover a line for its episode.</p>"
            f"<figure>{chart}{_legend(legend)}</figure>")


def _histogram(run: RunData, s: dict[str, Any]) -> str:
    finals = [e.final_emotion for e in run.finished if e.final_emotion is not None]
    title = "<h2 id='finals'>Final emotion</h2>"
    if not finals:
        return title + _no_finished("final score")
    counts = [0] * 11
    for x in finals:
        counts[10 if x >= 100 else max(0, int(x // 10))] += 1
    labels = [f"{10 * i}–{10 * i + 9}" for i in range(10)] + ["100"]
    groups, bands = [], sorted(sage_settings(run.config or {}).bands.items(), key=lambda kv: kv[1])
    for i, (name, floor) in enumerate(bands):
        upper = bands[i + 1][1] if i + 1 < len(bands) else 110
        bins = [k for k in range(11) if floor <= 10 * k < upper]
        if bins and all(10 * k >= floor and 10 * k + (0 if k == 10 else 9) < upper for k in bins):
            groups.append((f"band {name}", bins[0], bins[-1]))
    chart = _svg.histogram(counts, labels, color="#3b6ea8", groups=groups,
                           label="Histogram of final emotion, bins of 10")
    bands_row = " · ".join(f"{escape(k)} {v}" for k, v in s["bands"].items())
    return (f"{title}<p class='hint'>Finished episodes by final emotion. By band: {bands_row}.</p>"
            f"<figure>{chart}</figure>")


def _stack(row: dict[str, Any]) -> str:
    n = row["n"] or 1
    parts = "".join(
        f"<span style='width:{100 * row[o] / n:.2f}%;background:{OUTCOME_COLORS[o]}' "
        f"title='{escape(OUTCOME_LABELS[o])}: {row[o]}'></span>" for o in OUTCOMES if row[o])
    return f"<div class='stack' role='img' aria-label='{_stack_label(row)}'>{parts}</div>"


def _stack_label(row: dict[str, Any]) -> str:
    return escape(", ".join(f"{OUTCOME_LABELS[o]} {row[o]}" for o in OUTCOMES))


def _group_table(title: str, groups: dict[str, dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='n'>{g['n']}</td>"
        f"<td class='n'>{num(g['mean']) if g['mean'] is not None else '–'}</td><td class='wide'>{_stack(g)}</td>"
        f"<td class='n'>{g['success']}</td><td class='n'>{g['failure']}</td></tr>" for name, g in groups.items())
    return (f"<div><h3>{escape(title)}</h3><table class='groups'><thead><tr><th>{escape(title.split(' by ')[-1])}"
            f"</th><th class='n'>n</th><th class='n'>mean</th><th>outcomes</th><th class='n'>success</th>"
            f"<th class='n'>failure</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _groups(s: dict[str, Any]) -> str:
    title = "<h2 id='groups'>Outcomes by problem type and personality</h2>"
    if not s["finished"]:
        return title + _no_finished("outcome breakdown")
    legend = _legend([(OUTCOME_LABELS[o], OUTCOME_COLORS[o], "") for o in OUTCOMES])
    return (f"{title}{legend}<div class='two'>{_group_table('Outcomes by problem type', s['by_problem_type'])}"
            f"{_group_table('Outcomes by personality', s['by_personality'])}</div>")


def _strategies(s: dict[str, Any]) -> str:
    st = s["strategies"]
    title = "<h2 id='strategies'>Counselor strategies</h2>"
    if not st["total"]:
        return title + "<p class='note'>No counselor turn with a known strategy in the finished episodes.</p>"
    peak = max(st["counts"].values()) or 1
    prefs = s["preferences"] or {}
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class='n'>{c}</td><td class='n'>{100 * (st['shares'][name] or 0):.1f}%</td>"
        f"<td class='wide'><div class='hbar'><span style='width:{100 * c / peak:.2f}%'></span></div></td>"
        f"<td class='n'>{num(prefs.get(name), 2)}</td></tr>" for name, c in st["counts"].items())
    note = (f" {st['unlabelled']} counselor turn(s) carried no known strategy (e.g. safety-gate replies) and are "
            f"not counted." if st["unlabelled"] else "")
    return (f"{title}<p class='hint'>Over {st['total']} counselor turns of the finished episodes.{escape(note)} "
            f"p<sub>i</sub> is the Bradley–Terry preference against a uniform use of the 8 strategies "
            f"(8 × share at convergence); their standard deviation is B = "
            f"<b>{num(s['preference_bias_B'], 2)}</b>, which measures how lopsided the distribution is "
            f"(0 = all used equally, 2.65 = one strategy only).</p>"
            f"<table class='strategies'><thead><tr><th>strategy</th><th class='n'>count</th><th class='n'>share</th>"
            f"<th></th><th class='n'>p<sub>i</sub></th></tr></thead><tbody>{rows}</tbody></table>")


def _skills(s: dict[str, Any]) -> str:
    """Skills the counselor followed and the emotion change right after each (graphs with a skills bank)."""
    rows = s.get("skills") or {}
    if not rows:
        return ""
    body = "".join(
        f"<tr><td><code>{escape(sid)}</code></td><td class='n'>{r['uses']}</td>"
        f"<td class='n'>{_signed(r['mean_change'], True)}</td><td class='n'>{_signed(r['worst_change'], True)}</td></tr>"
        for sid, r in rows.items())
    return (f"<h2 id='skills'>Skills followed</h2><p class='hint'>Skills bank {escape(str(s.get('bank_version')))}"
            f". Change = the judge's emotion change right after a reply that followed the skill.</p>"
            f"<table class='strategies'><thead><tr><th>skill</th><th class='n'>uses</th><th class='n'>mean change"
            f"</th><th class='n'>worst change</th></tr></thead><tbody>{body}</tbody></table>")


def _episode_table(episodes: list[EpisodeResult], anchors: dict[str, str]) -> str:
    if not episodes:
        return "<h2 id='episodes'>Episodes</h2><p class='note'>The run has no episodes.</p>"
    rows = "".join(
        f"<tr><td><a href='#{anchors[e.episode_id]}'>{escape(e.profile_id)}</a></td>"
        f"<td>{escape(str(e.profile.get('problem_type') or '–'))}</td>"
        f"<td>{escape(str(e.profile.get('personality') or '–'))}</td><td class='n'>{e.trial}</td>"
        f"<td class='n'>{e.seed}</td><td>{outcome_badge(e)}</td>"
        f"<td class='n'>{num(e.final_emotion) if e.final_emotion is not None else '–'}</td>"
        f"<td class='n'>{e.seeker_turns if e.status != 'pending' else '–'}</td></tr>" for e in episodes)
    return (f"<h2 id='episodes'>Episodes</h2><p class='hint'>Select a profile to open its dialogue.</p>"
            f"<div class='scroll'><table class='episodes'><thead><tr><th>profile</th><th>problem type</th>"
            f"<th>personality</th><th class='n'>trial</th><th class='n'>seed</th><th>outcome</th>"
            f"<th class='n'>final</th><th class='n'>turns</th></tr></thead><tbody>{rows}</tbody></table></div>")


def render_report(run: RunData, compare: RunData | None = None, out: str | Path | None = None,
                  comparison: dict[str, Any] | None = None) -> str:
    """The whole report as one HTML document; ``compare`` adds a section of this run (B, the candidate) against
    that baseline (A). ``out`` is where the page will be written (default: in the run folder), for relative
    links into the baseline's own report; ``comparison`` is a ready ``compare_runs(compare, run)``."""
    s = summarize(run)
    anchors = episode_anchors(run.episodes)
    c = comparison or (compare_runs(compare, run) if compare is not None else None)
    bands = sage_settings(run.config or {}).bands
    max_x = int(s.get("max_turns_limit") or 10)
    open_all = len(run.episodes) <= _OPEN_EPISODES_UP_TO
    nav = [("trajectories", "Trajectories"), ("finals", "Final emotion"), ("groups", "Outcomes"),
           ("strategies", "Strategies")] + ([("skills", "Skills")] if s.get("skills") else []) + [
        ("health", "Judge health")] + (
        [("compare", "Run vs run")] if compare else []) + [
        ("episodes", "Episodes")]
    body = [
        _header(run, s),
        comparison_banner(c) if c is not None else "",
        "<nav>" + " ".join(f"<a href='#{a}'>{t}</a>" for a, t in nav) + "</nav>",
        _cards(s, run.meta), _trajectories(run, s), _histogram(run, s), _groups(s), _strategies(s), _skills(s),
        health_section(s.get("judge_health")),
        comparison_section(compare, run, anchors, Path(out).parent if out else Path(run.run_dir), c)
        if compare is not None else "",
        _episode_table(run.episodes, anchors),
        "".join(episode_section(e, anchors[e.episode_id], bands, max_x, open_all) for e in run.episodes),
    ]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(str(s.get('run_name') or s['run_id'] or 'run'))} · escgraph simulation report</title>"
            f"<style>{CSS}{HEALTH_CSS}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>")
