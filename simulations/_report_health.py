"""Report pieces for judge health (``simulations.health``): the warning box at the top and the figures section."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["HEALTH_CSS", "health_banner", "health_section"]

HEALTH_CSS = """
.health{border:1px solid #d9a441;border-left:5px solid #b7791f;background:#fffaf0;border-radius:.5rem;
 padding:.7rem 1rem;margin:1rem 0 0}
.health.bad{border-color:#e3a08a;border-left-color:#b3400b;background:#fff5f2}
.health.ok{border-color:var(--line);border-left-color:#00785a;background:#fff;color:var(--muted)}
.health b{display:block;margin-bottom:.2rem}.health ul{margin:.2rem 0 .1rem;padding-left:1.2rem}
.health li{margin:.15rem 0}
table.health-figs{max-width:60rem}table.health-roles{max-width:40rem}
table.health-figs tr.crossed td{background:#fff5f2}table.health-figs tr.crossed td:first-child{font-weight:600}
"""


def _pct(share: float | None, part: int | None = None, whole: int | None = None) -> str:
    if share is None:
        return "–"
    count = f" ({part} of {whole})" if part is not None and whole else ""
    return f"{100 * share:.0f}%{count}"


def health_banner(h: dict[str, Any] | None) -> str:
    """Every warning in one box, for the top of the report (a one-line all-clear when there is none)."""
    if not h:
        return ""
    warnings = h.get("warnings") or []
    if not warnings:
        return ("<div class='health ok'>Judge health: no warnings — see <a href='#health'>the figures</a>.</div>")
    cls = "health bad" if not h.get("healthy", True) else "health"
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    title = f"Judge health: {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    return (f"<div class='{cls}' role='alert'><b>{title}</b><ul>{items}</ul>"
            f"<a href='#health'>Judge-health figures</a></div>")


def _row(label: str, value: str, threshold: str, crossed: bool) -> str:
    flag = " class='crossed'" if crossed else ""
    return (f"<tr{flag}><td>{escape(label)}</td><td class='n'>{value}</td><td>{escape(threshold)}</td>"
            f"<td>{'over threshold' if crossed else ''}</td></tr>")


def _figures(h: dict[str, Any]) -> str:
    t, crossed = h.get("thresholds") or {}, set(h.get("crossed") or [])
    n, lim = h["judged_turns"], f"{h['change_limit']:g}"
    at_least = f"with ≥ {t.get('min_sample', 5)}"
    reasons = h.get("seeker_rejections_by_reason")
    by_reason = ", ".join(f"{r.replace('_', ' ')} {v['n']}" for r, v in reasons.items()) if reasons else ""
    regen = _pct(h["seeker_regenerated_share"], h["seeker_regenerated"], h["seeker_replies"])
    if h["seeker_regenerated"] is None:
        regen = "not recorded"
    rows = [
        _row("judged turns", str(n), "", False),
        _row(f"change at the ±{lim} limit", _pct(h["at_cap_share"], h["at_cap"], n),
             f"> {100 * t.get('cap_share_max', 0.5):.0f}% ({at_least} turns)", "at_cap_share" in crossed),
        _row(f"change at +{lim}", _pct(h["at_plus_cap_share"], h["at_plus_cap"], n), "", False),
        _row(f"change at −{lim}", _pct(h["at_minus_cap_share"], h["at_minus_cap"], n), "", False),
        _row("distinct change values", str(h["distinct_changes"]), f"only one ({at_least} turns)",
             "distinct_changes" in crossed),
        _row("serves_goal contradicts the change's sign", _pct(h["contradiction_share"], h["contradictions"], n),
             f"> {100 * t.get('contradiction_share_max', 0.15):.0f}% ({at_least} turns)",
             "contradiction_share" in crossed),
        _row("seeker replies regenerated" + (f" (rejected lines: {by_reason})" if by_reason else ""), regen, "",
             False),
        _row("seeker replies replaced by a canned line",
             _pct(h["seeker_fallback_share"], h["seeker_fallbacks"], h["seeker_replies"]),
             f"> {100 * t.get('seeker_fallback_share_max', 0.25):.0f}% ({at_least} replies)",
             "seeker_fallback_share" in crossed),
        _row("counselor replies from a fallback", _pct(h["counselor_fallback_share"], h["counselor_fallbacks"],
                                                       h["counselor_replies"]), "never: the graph under test",
             False),
        _row("counselor replies regenerated", "–" if h["counselor_regenerated"] is None
             else str(h["counselor_regenerated"]), "never: the graph under test", False),
    ]
    return ("<table class='health-figs'><thead><tr><th>figure</th><th class='n'>value</th><th>warns when</th>"
            f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _roles(h: dict[str, Any]) -> str:
    roles = h.get("structured_output")
    if roles is None:
        return "<p class='note'>This run was recorded before structured-output retries were counted.</p>"
    if not roles:
        return "<p class='hint'>No structured-output calls were counted (models using LangChain's own structured output, such as non-OpenAI providers, report none).</p>"
    t, crossed = h.get("thresholds") or {}, set(h.get("crossed") or [])
    rows = "".join(
        f"<tr{' class=crossed' if role == 'judge' and crossed & {'judge_retries_per_call', 'judge_gave_up'} else ''}>"
        f"<td>{escape(role)}</td><td class='n'>{c['calls']}</td><td class='n'>{c['retries']}</td>"
        f"<td class='n'>{'–' if c['retries_per_call'] is None else format(c['retries_per_call'], '.2f')}</td>"
        f"<td class='n'>{c['gave_up']}</td></tr>" for role, c in roles.items())
    return (f"<h3>Structured output by role</h3><p class='hint'>Calls, extra attempts after a malformed answer "
            f"(retries) and calls that gave up. The judge warns above "
            f"{t.get('judge_retries_per_call_max', 0.2):g} retries per call or at any call that gave up. Models "
            f"served by LangChain's own structured output (providers other than the embedded, fake and openai: "
            f"models) are not counted.</p>"
            f"<table class='health-figs health-roles'><thead><tr><th>role</th><th class='n'>calls</th>"
            f"<th class='n'>retries</th><th class='n'>retries / call</th><th class='n'>gave up</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def health_section(h: dict[str, Any] | None) -> str:
    """The "Judge health" section: the figures against their thresholds and structured output per role."""
    title = "<h2 id='health'>Judge health</h2>"
    if not h:
        return title + "<p class='note'>No judge-health figures for this run.</p>"
    verdict = ("Every figure is within its threshold." if h.get("healthy") else
               "Some figures are past their threshold (highlighted); read the scores with care.")
    if h.get("smoke_test"):
        verdict += " The judge is the embedded model, so this run is a smoke test."
    return (f"{title}<p class='hint'>Over the finished episodes' judged turns: does the judge use its scale, agree "
            f"with itself, and answer in the expected format, and is the seeker really simulated? "
            f"{escape(verdict)}</p>{_figures(h)}{_roles(h)}")
