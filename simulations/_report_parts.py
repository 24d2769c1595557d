"""Pieces of the run report: palette, CSS, number formatting and the per-episode sections (profile + dialogue)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from . import _svg
from .results import EpisodeResult, TurnRecord

__all__ = ["CSS", "SCRIPT", "OUTCOME_COLORS", "OUTCOME_LABELS", "num", "signed", "outcome_badge", "episode_anchors",
           "episode_section", "dialogue"]

# Okabe–Ito hues, darkened so lines and white badge text keep ≥ 4.5:1 contrast on white.
OUTCOME_COLORS: dict[str | None, str] = {
    "success": "#00785a", "goodbye": "#1f5fa8", "max_turns": "#6a6f78", "failure": "#c2410c", None: "#6a6f78"}
OUTCOME_LABELS: dict[str | None, str] = {
    "success": "success", "goodbye": "goodbye", "max_turns": "max turns", "failure": "failure", None: "–"}
_STATUS_LABELS = {"infra_error": "infra error", "running": "running", "pending": "pending"}
_JUDGE_FIELDS = (("meaning", "Meaning"), ("serves_goal", "Serves goal"), ("inner_reaction", "Inner reaction"),
                 ("feeling", "Feeling"))
_PROFILE_FIELDS = (("situation", "Situation"), ("persona", "Persona"), ("problem_type", "Problem type"),
                   ("emotion_type", "Emotion type"), ("personality", "Personality"),
                   ("hidden_intent", "Hidden intent"), ("initial_emotion", "Initial emotion"),
                   ("language", "Language"))
_PROFILE_SKIP = {"id", "first_talk"}

CSS = """
:root{--fg:#1f2328;--muted:#57606a;--line:#d8dee4;--soft:#f6f8fa;--accent:#1f5fa8}
*{box-sizing:border-box}
body{font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
 background:#fff;max-width:76rem;margin:0 auto;padding:1.5rem 1.5rem 5rem}
a{color:var(--accent)} code{font:.85em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);
 padding:.05rem .3rem;border-radius:.25rem}
h1{font-size:1.8rem;margin:.1rem 0 .3rem;overflow-wrap:anywhere}
h2{font-size:1.3rem;margin:2.6rem 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.eyebrow{margin:0;color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.08em}
.meta,.hint{color:var(--muted);margin:.25rem 0}.hint{font-size:.9rem;max-width:60rem}
.note{background:#fff8e6;border:1px solid #e9cf8c;border-radius:.5rem;padding:.7rem 1rem}
nav{position:sticky;top:0;z-index:2;background:#fffffff0;border-bottom:1px solid var(--line);
 margin:1rem -1.5rem 0;padding:.5rem 1.5rem;display:flex;gap:1.2rem;flex-wrap:wrap;font-size:.9rem}
table{border-collapse:collapse;width:100%}
th,td{padding:.32rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;font-size:.82rem;color:var(--muted);white-space:nowrap}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} td.wide{width:40%;vertical-align:middle}
table.models{width:auto;margin-top:.8rem;font-size:.9rem}table.compare{max-width:52rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(12.5rem,1fr));gap:.8rem;margin-top:1.4rem}
.card{border:1px solid var(--line);border-left:4px solid var(--line);border-radius:.5rem;padding:.65rem .9rem}
.card .k{font-size:.76rem;color:var(--muted);text-transform:uppercase;letter-spacing:.05em;font-weight:600}
.card .v{font-size:1.85rem;font-weight:650;line-height:1.25;font-variant-numeric:tabular-nums}
.card .s{font-size:.82rem;color:var(--muted)}
.card.hero{border-left-color:var(--accent)}.card.success{border-left-color:#00785a}
.card.failure{border-left-color:#c2410c}.card.warn{border-left-color:#b7791f;background:#fffaf0}
.card.tokens td{border:0;padding:.05rem 0;font-size:.88rem}.card.tokens td.n{padding-left:1rem}
figure{margin:.5rem 0}
svg.chart{width:100%;max-width:840px;height:auto;display:block}
svg .plot{fill:#fbfcfd;stroke:none} svg .axis{stroke:#8c959f;stroke-width:1} svg .grid{stroke:#e6eaef}
svg .band{stroke:#8c959f;stroke-dasharray:4 4;stroke-width:1}
svg .tick{font-size:11px;fill:#57606a} svg .axlabel{font-size:12px;fill:#57606a}
svg .bandname{font-size:12px;font-weight:600;fill:#3d444d} svg .value{font-size:11px;fill:#1f2328;font-weight:600}
svg .mean{fill:none;stroke:#1f2328;stroke-width:2.5;stroke-dasharray:7 4}
svg .bracket{fill:none;stroke:#8c959f}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:.4rem 1.3rem;padding:0;margin:.5rem 0;font-size:.88rem}
.sw{display:inline-block;width:1.6rem;height:.5rem;border-radius:.15rem;margin-right:.4rem;vertical-align:middle}
.sw.dash{height:0;border-top:3px dashed #1f2328;background:none!important}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:0 2rem}
.stack,.hbar{display:flex;height:.85rem;border-radius:.2rem;overflow:hidden;background:#eef1f4;min-width:8rem}
.stack span,.hbar span{display:block;height:100%}.hbar span{background:#3b6ea8}
.delta{font-weight:600}.delta.good{color:#00704f}.delta.bad{color:#b3400b}.delta.zero{font-weight:400;color:var(--muted)}
.scroll{max-height:34rem;overflow:auto;border:1px solid var(--line);border-radius:.5rem}
.scroll table th{position:sticky;top:0;background:#fff}
.badge{display:inline-block;padding:.02rem .5rem;border-radius:1rem;font-size:.76rem;font-weight:600;color:#fff;
 white-space:nowrap}
.badge.status{background:#fff;color:#7a4a00;border:1px solid #d9a441}
details.ep{border:1px solid var(--line);border-radius:.6rem;margin:.7rem 0;scroll-margin-top:3rem}
details.ep>summary{cursor:pointer;padding:.6rem .9rem;display:flex;gap:.7rem;align-items:center;flex-wrap:wrap}
details.ep[open]>summary{border-bottom:1px solid var(--line);background:var(--soft);border-radius:.6rem .6rem 0 0}
.ep-title{font-weight:650;overflow-wrap:anywhere}.muted{color:var(--muted);font-size:.88rem}
.ep-body{padding:.8rem 1rem 1rem}
.ep-top{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:1rem 2rem;align-items:start}
dl.profile{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem;margin:0;font-size:.92rem}
dl.profile dt{color:var(--muted);font-weight:600} dl.profile dd{margin:0;overflow-wrap:anywhere}
.ep-stats{font-size:.85rem;color:var(--muted);text-align:right} svg.spark{width:220px;height:64px;display:block;
 background:#fbfcfd;border:1px solid var(--line);border-radius:.3rem;margin-left:auto}
.svg-band{stroke:#c9d1d9}
pre.error{white-space:pre-wrap;background:#fff4f0;border:1px solid #f0b9a3;border-radius:.4rem;padding:.6rem;
 font-size:.82rem;overflow-wrap:anywhere}
.chat{display:flex;flex-direction:column;gap:.6rem;margin-top:1rem}
.msg{max-width:min(44rem,80%);padding:.55rem .85rem;border-radius:.9rem;border:1px solid}
.msg .text{white-space:pre-wrap;overflow-wrap:anywhere}
.msg.seeker{align-self:flex-start;background:#f2f5f9;border-color:#d5dde7;border-bottom-left-radius:.2rem}
.msg.counselor{align-self:flex-end;background:#eef7f1;border-color:#c8e1d0;border-bottom-right-radius:.2rem}
.msg.counselor.safety{background:#fff4e8;border-color:#e8a867}
.who{font-size:.78rem;color:var(--muted);font-weight:600;display:flex;gap:.4rem;flex-wrap:wrap;align-items:center;
 margin-bottom:.15rem}
.tag{display:inline-block;font-size:.74rem;padding:0 .45rem;border-radius:.3rem;background:#dde7f3;color:#1d3d63;
 font-weight:600}.tag.stage{background:#ececf1;color:#3d444d}.tag.safety{background:#b54708;color:#fff}
.emo{font-variant-numeric:tabular-nums;color:var(--fg)}.chg{font-weight:700}
.chg.up{color:#00704f}.chg.down{color:#b3400b}.chg.flat{color:var(--muted)}
.judge,.why{font-size:.84rem;color:#3d444d;border-top:1px dashed #c3ccd6;margin-top:.45rem;padding-top:.35rem}
.judge dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1rem .7rem;margin:.2rem 0 0}
.judge dt{color:var(--muted);font-weight:600}.judge dd{margin:0;overflow-wrap:anywhere}
.jh{font-size:.74rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);font-weight:600}
.back{font-size:.85rem;margin:.8rem 0 0}
h4{font-size:.92rem;margin:1rem 0 .3rem}
.cmp-banner{margin:1rem 0 0}
.run-a,.run-b{display:inline-block;min-width:1.35rem;text-align:center;border-radius:.3rem;color:#fff;font-weight:700;
 font-size:.78rem;padding:0 .3rem;line-height:1.35}.run-a{background:#1f5fa8}.run-b{background:#b35c00}
.scroll-x{overflow-x:auto}table.deltas{min-width:44rem}table.deltas td{vertical-align:middle}
ul.readings{margin:.6rem 0 0;padding-left:1.2rem}ul.readings li{margin:.15rem 0}
ul.readings li:first-child{font-weight:600}
table.flips td{vertical-align:middle}
details.pair>summary{gap:.5rem}
.sxs{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.2rem;padding:.8rem 1rem 1rem}
.sxs .chat{margin-top:.5rem}.sxs .msg{max-width:94%;font-size:.92rem}
.sxs-h{font-size:.85rem;color:var(--muted);font-weight:600;border-bottom:1px solid var(--line);padding-bottom:.3rem}
@media (max-width:700px){.ep-top{grid-template-columns:1fr}.ep-stats{text-align:left}.msg{max-width:95%}
 .sxs{grid-template-columns:1fr}}
"""

# Opens an episode's <details> when a link (or the address bar) points at it.
SCRIPT = ("function openTarget(){var h=location.hash.slice(1);if(!h)return;var e=document.getElementById("
          "decodeURIComponent(h));if(e&&e.tagName==='DETAILS'){e.open=true;e.scrollIntoView()}}"
          "addEventListener('hashchange',openTarget);openTarget();")


def num(x: float | int | None, digits: int = 1) -> str:
    """A number for display: at most ``digits`` decimals, no trailing zeros, ``–`` for none."""
    if x is None:
        return "–"
    text = f"{float(x):.{digits}f}".rstrip("0").rstrip(".") if digits else f"{float(x):.0f}"
    return "0" if text in ("-0", "") else text


def signed(x: float | None, better: bool | None, digits: int = 1) -> str:
    """A delta with its sign, green where it is better, orange where worse (``better``: is higher better)."""
    if x is None:
        return "–"
    cls = "zero" if x == 0 else "" if better is None else "good" if (x > 0) == better else "bad"
    return f"<span class='delta {cls}'>{'+' if x > 0 else ''}{num(x, digits)}</span>"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def outcome_badge(e: EpisodeResult) -> str:
    if e.status != "done":
        return f"<span class='badge status'>{escape(_STATUS_LABELS.get(e.status, e.status))}</span>"
    color = OUTCOME_COLORS.get(e.outcome, OUTCOME_COLORS[None])
    label = OUTCOME_LABELS.get(e.outcome, str(e.outcome))
    return f"<span class='badge' style='background:{color}'>{escape(label)}</span>"


def episode_anchors(episodes: Iterable[EpisodeResult]) -> dict[str, str]:
    """A unique, URL-safe ``ep-...`` anchor per episode id."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for e in episodes:
        base = "ep-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", e.episode_id).strip("-") or "episode")
        anchor, k = base, 2
        while anchor in used:
            anchor, k = f"{base}-{k}", k + 1
        used.add(anchor)
        out[e.episode_id] = anchor
    return out


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _persona(p: Any) -> str:
    if not isinstance(p, Mapping):
        return _text(p)
    head = ", ".join(s for s in (f"{p['age']} years" if p.get("age") else "", p.get("gender") or "",
                                 p.get("occupation") or "") if s)
    rest = [f"{k}: {_text(v)}" for k, v in p.items() if k not in ("age", "gender", "occupation", "description")
            and v not in (None, "")]
    return " — ".join(s for s in (head, p.get("description") or "", "; ".join(rest)) if s)


def _profile(profile: Mapping[str, Any]) -> str:
    known = dict(_PROFILE_FIELDS)
    keys = [k for k, _ in _PROFILE_FIELDS] + sorted(k for k in profile if k not in known and k not in _PROFILE_SKIP)
    rows = []
    for k in keys:
        v = profile.get(k)
        if v in (None, "", {}, []) or (k == "language" and v == "en"):
            continue
        shown = _persona(v) if k == "persona" else _text(v)
        if shown:
            rows.append(f"<dt>{escape(known.get(k, k.replace('_', ' ').capitalize()))}</dt><dd>{escape(shown)}</dd>")
    return f"<dl class='profile'>{''.join(rows)}</dl>"


def _change(t: TurnRecord) -> str:
    change = t.change
    if change is None and t.emotion_before is not None and t.emotion_after is not None:
        change = t.emotion_after - t.emotion_before
    if t.emotion_before is None and t.emotion_after is None:
        return ""
    cls = "flat" if not change else "up" if change > 0 else "down"
    signed = f"+{num(change)}" if change and change > 0 else f"−{num(-change)}" if change else "±0"
    return (f"<span class='emo'>emotion {num(t.emotion_before)} → {num(t.emotion_after)} "
            f"<span class='chg {cls}'>({signed})</span></span>")


def _judge(judge: Mapping[str, Any] | None) -> str:
    if not judge:
        return ""
    known = dict(_JUDGE_FIELDS)
    keys = [k for k, _ in _JUDGE_FIELDS if k in judge] + [k for k in judge if k not in known]
    rows = "".join(f"<dt>{escape(known.get(k, k.replace('_', ' ').capitalize()))}</dt>"
                   f"<dd>{escape(_text(judge[k]))}</dd>" for k in keys if judge[k] not in (None, ""))
    return f"<div class='judge'><div class='jh'>Judge, on the reply above</div><dl>{rows}</dl></div>"


def _safety(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("category") or value.get("name") or "fired"
    label = "safety gate" + (f": {value}" if isinstance(value, str) and value else "")
    return f"<span class='tag safety'>⚠ {escape(label)}</span>"


def _turn(t: TurnRecord, compact: bool = False) -> str:
    """One utterance; ``compact`` leaves out the judge's reasoning and the counselor's notes (side-by-side view)."""
    if t.speaker == "seeker":
        label = "Seeker · opening" if t.idx == 0 else "Seeker"
        return (f"<div class='msg seeker'><div class='who'>{label} {_change(t)}</div>"
                f"<div class='text'>{escape(t.text)}</div>{'' if compact else _judge(t.judge)}</div>")
    extra = t.extra or {}
    tags = f"<span class='tag'>{escape(t.strategy)}</span>" if t.strategy else ""
    if extra.get("stage"):
        tags += f"<span class='tag stage'>{escape(_text(extra['stage']))}</span>"
    safety = extra.get("safety")
    if safety:
        tags += _safety(safety)
    notes = []
    if extra.get("rationale"):
        notes.append(f"<div><b>why:</b> {escape(_text(extra['rationale']))}</div>")
    if extra.get("skill_id"):
        notes.append(f"<div><b>skill followed:</b> {escape(str(extra['skill_id']))}</div>")
    if t.retrieved:
        notes.append(f"<div><b>retrieved:</b> {escape(', '.join(map(str, t.retrieved)))}</div>")
    why = f"<div class='why'>{''.join(notes)}</div>" if notes and not compact else ""
    return (f"<div class='msg counselor{' safety' if safety else ''}'><div class='who'>Counselor {tags}</div>"
            f"<div class='text'>{escape(t.text)}</div>{why}</div>")


def episode_section(e: EpisodeResult, anchor: str, bands: Mapping[str, float], max_x: int, is_open: bool) -> str:
    """One episode as a collapsible section: profile, trajectory, dialogue with the judge's reasoning."""
    traj = e.trajectory
    final = f"final {num(e.final_emotion)}" if e.final_emotion is not None else ""
    summary = (f"<summary><span class='ep-title'>{escape(e.profile_id)}</span>"
               f"<span class='muted'>trial {e.trial} · seed {e.seed}</span>{outcome_badge(e)}"
               f"<span class='muted'>{final}{' · ' if final else ''}{_plural(e.seeker_turns, 'turn')}</span>"
               "</summary>")
    stats = [f"{_plural(e.seeker_turns, 'judged turn')}", f"{e.seconds:.1f}s"]
    if e.attempts > 1:
        stats.append(f"{e.attempts} attempts")
    color = OUTCOME_COLORS.get(e.outcome, OUTCOME_COLORS[None])
    spark = _svg.sparkline(traj, bands, color, max_x=max_x) if traj else ""
    side = f"<div class='ep-stats'>{spark}<div>{' · '.join(stats)}</div></div>"
    error = f"<pre class='error'>{escape(e.error)}</pre>" if e.error else ""
    return (f"<details class='ep' id='{anchor}'{' open' if is_open else ''}>{summary}<div class='ep-body'>"
            f"<div class='ep-top'>{_profile(e.profile)}{side}</div>{error}{dialogue(e)}"
            f"<p class='back'><a href='#episodes'>↑ episode list</a></p></div></details>")


def dialogue(e: EpisodeResult, compact: bool = False) -> str:
    """The episode's utterances as chat bubbles (``compact``: without the judge's reasoning)."""
    turns = "".join(_turn(t, compact) for t in sorted(e.turns, key=lambda t: t.idx))
    return f"<div class='chat'>{turns}</div>" if turns else "<p class='note'>No turns recorded.</p>"
