"""A self-contained HTML page for a self-play result: settings, summary, and every dialogue."""

from __future__ import annotations

from html import escape

from escgraph.simulations.selfplay import SelfPlayResult

__all__ = ["render_selfplay_html"]

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#666} table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .7rem;text-align:left;
border-bottom:1px solid #eee} .turn{margin:.6rem 0;padding:.5rem .8rem;border-radius:.5rem}
.seeker{background:#f1f4f9}.counselor{background:#f3f9f1;margin-left:2rem}.crisis{background:#fdeceb}
.tag{display:inline-block;font-size:.75rem;padding:0 .4rem;border-radius:.3rem;background:#e4e9f2;color:#334}
.why{color:#666;font-size:.85rem} .bar{display:inline-block;height:.7rem;background:#7a9cc6;vertical-align:middle}
"""


def _summary(result: SelfPlayResult) -> str:
    counts = result.strategy_counts()
    total = sum(counts.values()) or 1
    rows = "".join(
        f"<tr><td>{escape(s)}</td><td>{n}</td><td><span class='bar' style='width:{int(200 * n / total)}px'></span>"
        f"</td></tr>" for s, n in counts.most_common())
    turns = [t for e in result.episodes for t in e.turns]
    mean_s = sum(t.seconds for t in turns) / len(turns) if turns else 0.0
    token_rows = "".join(
        f"<tr><td>{escape(role)}</td><td>{u.get('input_tokens', 0):,}</td><td>{u.get('output_tokens', 0):,}</td>"
        f"</tr>" for role, u in sorted(result.tokens.items()))
    crises = sum(t.crisis for t in turns)
    return (f"<h2>Summary</h2><table><tr><th>profiles</th><td>{len(result.episodes)}</td></tr>"
            f"<tr><th>counselor turns</th><td>{len(turns)}</td></tr>"
            f"<tr><th>mean seconds per turn</th><td>{mean_s:.2f}</td></tr>"
            f"<tr><th>safety-gate replies</th><td>{crises}</td></tr></table>"
            f"<h3>Strategies chosen</h3><table>{rows}</table>"
            f"<h3>Tokens by role</h3><table><tr><th>role</th><th>input</th><th>output</th></tr>{token_rows}</table>")


def _episode(episode) -> str:
    p = episode.profile
    traits = " · ".join(escape(str(p[k])) for k in ("problem_type", "emotion_type", "personality") if p.get(k))
    parts = [f"<h2>{escape(p['id'])}</h2><p class='meta'>{traits}<br>{escape(p['situation'])}</p>"]
    for t in episode.turns:
        parts.append(f"<div class='turn seeker'><b>Seeker</b> {escape(t.seeker)}</div>")
        cls = "turn counselor crisis" if t.crisis else "turn counselor"
        tag = "safety gate: " + t.safety_category if t.crisis else (t.strategy or "")
        why = f"<div class='why'>why: {escape(t.rationale)}</div>" if t.rationale and not t.crisis else ""
        parts.append(f"<div class='{cls}'><b>Counselor</b> <span class='tag'>{escape(tag)}</span> "
                     f"{escape(t.reply)}{why}<div class='why'>{t.seconds:.1f}s · {escape(t.reply_source or '')}"
                     f"</div></div>")
    return "".join(parts)


def render_selfplay_html(result: SelfPlayResult) -> str:
    meta = (f"graph <b>{escape(result.graph)}</b> · counselor model <b>{escape(result.model)}</b> · seeker model "
            f"<b>{escape(result.seeker_model)}</b> · up to {result.max_turns} turns · started {escape(result.started)}"
            f" · {result.seconds:.0f}s · escgraph {escape(result.escgraph_version)}")
    body = _summary(result) + "".join(_episode(e) for e in result.episodes)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>escgraph self-play: "
            f"{escape(result.graph)}</title><style>{_CSS}</style></head><body><h1>Self-play report</h1>"
            f"<p class='meta'>{meta}</p>{body}</body></html>")
