"""The evolution report: one self-contained HTML page (inline CSS and SVG, every text escaped).

It shows the SAGE score per round and on the held-out seekers, then for every round which seekers failed, at
which turns and with which skill, every proposal — accepted or rejected — with its evidence, field changes,
verification numbers and reasons, and finally the skill-bank diff from the starting to the final version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from escgraph.files import atomic_write
from escgraph.skills_bank.diff import diff_versions, word_diff
from escgraph.skills_bank.diff_html import DIFF_CSS, diff_sections
from escgraph.skills_bank.evolution.state import EvolutionState, Proposal, RoundState, VerificationRecord
from escgraph.skills_bank.store import SkillBank

__all__ = ["render_evolution_report", "write_evolution_report"]

_CSS = DIFF_CSS + """
.badge{font-size:.8em;padding:.05em .5em;border-radius:4px;color:#fff}
.accepted{background:#2a7}.rejected{background:#c33}.superseded{background:#888}.pending{background:#d90}
.proposal{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:.8rem 0}
.unit{margin:.4rem 0 .4rem 1rem;padding-left:.6rem;border-left:3px solid #eee;font-size:.93em}
.unit .s{color:#345}.unit .r{color:#642}.neg{color:#b00}.pos{color:#070}
svg text{font:12px system-ui,sans-serif}
.warn{border:1px solid #d90;background:#fff8e6;border-radius:6px;padding:.4rem 1rem;margin:.6rem 0}
"""


def _e(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _num(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f}" if signed else f"{value:.1f}" if isinstance(value, float) else str(value)


def _bars(points: list[tuple[str, float | None]]) -> str:
    """A small bar chart of SAGE scores (0–100)."""
    step, bar, top, height = 110, 48, 16, 180
    width = step * max(1, len(points)) + 40
    base = top + height
    parts = [f"<svg width={width} height={base + 30} role=img aria-label='SAGE score per step'>",
             f"<line x1=30 y1={base} x2={width} y2={base} stroke=#999 />"]
    for y in (0, 50, 100):
        parts.append(f"<text x=0 y={base - y * height / 100 + 4}>{y}</text>")
    for i, (label, value) in enumerate(points):
        x = 40 + i * step
        if value is not None:
            h = max(1.0, value * height / 100)
            parts.append(f"<rect x={x} y={base - h:.1f} width={bar} height={h:.1f} fill=#58a />"
                         f"<text x={x + 6} y={base - h - 4:.1f}>{value:.1f}</text>")
        parts.append(f"<text x={x} y={base + 18}>{_e(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _words(old: Any, new: Any) -> str:
    if isinstance(old, str) and isinstance(new, str):
        tags = {"insert": "ins", "delete": "del"}
        return "".join(_e(op.text) if op.op == "equal" else f"<{tags[op.op]}>{_e(op.text)}</{tags[op.op]}>"
                       for op in word_diff(old, new))
    if isinstance(old, list) and isinstance(new, list):
        return ("<ul>" + "".join(f"<li>{_e(x)}</li>" if x in old else f"<li><ins>{_e(x)}</ins></li>" for x in new)
                + "".join(f"<li><del>{_e(x)}</del></li>" for x in old if x not in new) + "</ul>")
    return f"<del>{_e(old)}</del> → <ins>{_e(new)}</ins>"


def _units(finding: Mapping[str, Any], refs: set[tuple[str, int]]) -> str:
    out = []
    for u in finding.get("units", []):
        if refs and (u["episode_id"], u["turn"]) not in refs:
            continue
        cls = "neg" if u["change"] < 0 else "pos"
        out.append(f"<div class=unit><code>{_e(u['episode_id'])}</code> turn {u['turn']} · skill "
                   f"<code>{_e(u.get('skill_id') or 'none')}</code> · {_e(u.get('strategy') or '')} · "
                   f"<span class={cls}>{u['change']:+.0f}</span><br>"
                   f"<span class=s>seeker: {_e(u['seeker_before'])}</span><br>"
                   f"<span class=r>reply: {_e(u['reply'])}</span><br>"
                   f"<span class=s>seeker then: {_e(u['seeker_after'])}</span>"
                   + (f"<br><span class=muted>inner reaction: {_e(u['judge_reason'])}</span>"
                      if u.get("judge_reason") else "") + "</div>")
    return "".join(out)


def _ci(metrics: Mapping[str, Any], key: str) -> str:
    low, high = (metrics.get(key) or [None, None])
    return f"{_num(low, True) if low is not None else '−∞'} to {_num(high, True) if high is not None else '+∞'}"


def _p(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def _arms_table(m: Mapping[str, Any], verification: VerificationRecord | None) -> str:
    """Control arm against candidate arm on the same episode keys, with paired intervals and p-values."""
    conf = f"{m.get('confidence', 0.9):.0%}"
    rows = [f"<tr><td>target group ({m['target_n']} paired episodes)</td><td class=num>"
            f"{_num(m['target_control'])}</td><td class=num>{_num(m['target_candidate'])}</td><td class=num>"
            f"<b>{_num(m['target_delta'], True)}</b></td><td class=num>{_ci(m, 'target_ci')}</td><td class=num>"
            f"{_p(m.get('target_p'))}</td><td class=num>{_p(m.get('target_p_adjusted'))}</td></tr>"]
    if m.get("regression"):
        rows.append(f"<tr><td>regression sample ({m['regression_n']} paired episodes)</td><td class=num>"
                    f"{_num(m['regression_control'])}</td><td class=num>{_num(m['regression_candidate'])}</td>"
                    f"<td class=num><b>{_num(m['regression_delta'], True)}</b></td><td class=num>"
                    f"{_ci(m, 'regression_ci')}</td><td colspan=2>lower bound "
                    f"{_num(m.get('regression_lower_bound'), True)}</td></tr>")
    if "safety_hits_before" in m:
        rows.append(f"<tr><td>safety hits in counselor replies</td><td class=num>{m['safety_hits_before']}</td>"
                    f"<td class=num>{m['safety_hits_after']}</td><td colspan=4></td></tr>")
    deltas = m.get("deltas") or {}
    detail = ""
    if deltas:
        target = set(m.get("target") or [])
        detail = ("<details><summary>per-episode deltas (candidate − control)</summary><table><tr><th>episode"
                  "</th><th>group</th><th>Δ</th></tr>" + "".join(
                      f"<tr><td><code>{_e(eid)}</code></td><td>{'target' if eid in target else 'regression'}"
                      f"</td><td class=num>{_num(d, True)}</td></tr>" for eid, d in deltas.items())
                  + "</table></details>")
    where = (f"<p class=muted>control arm <code>{_e(verification.control)}</code> · candidate arm "
             f"<code>{_e(verification.folder)}</code> · {_e(m.get('method', ''))}; α {m.get('alpha')}</p>"
             if verification is not None and verification.control else "")
    return ("<table><tr><th></th><th>control (base bank)</th><th>candidate</th><th>Δ mean</th>"
            f"<th>{conf} CI</th><th>p (one-sided)</th><th>p (Holm)</th></tr>" + "".join(rows) + "</table>"
            + where + detail)


def _proposal(p: Proposal, before: Mapping[str, Any], findings: Mapping[str, Mapping[str, Any]]) -> str:
    """One proposal; ``before`` holds the starting values of the fields its edit sets."""
    edit, status = p.edit, p.status
    title = f"{edit['id']}: {edit['kind'].replace('_', ' ')} <code>{_e(edit['skill_id'])}</code>"
    parts = [f"<div class=proposal><b>{title}</b> <span class='badge {_e(status)}'>{_e(status)}</span>"
             + (f" <span class=muted>at {_e(p.stage)}</span>" if p.stage else ""),
             f"<p>{_e(edit['rationale'])}</p>"]
    if p.reasons:
        parts.append("<p><b>Why:</b></p><ul>" + "".join(f"<li>{_e(r)}</li>" for r in p.reasons) + "</ul>")
    for path, value in sorted((edit.get("set") or {}).items()):
        parts.append(f"<div class=field><b>{_e(path)}</b>: {_words(before.get(path), value)}</div>"
                     if before else f"<div class=field><b>{_e(path)}</b>: {_words([], value)}</div>")
    if edit.get("skill"):
        skill = edit["skill"]
        parts.append(f"<div class=field><b>new skill</b>: {_e(skill['name'])} — {_e(skill['summary'])}"
                     f"{_words([], skill['guidance'])}</div>")
    metrics = p.verification.metrics if p.verification else {}
    if "target_ci" in metrics:
        parts.append(_arms_table(metrics, p.verification))
    elif "target_before" in metrics:  # evolutions from before the control arm: compared with the base run
        parts.append("<table><tr><th></th><th>before</th><th>after</th><th>Δ</th></tr>"
                     f"<tr><td>target ({len(metrics['target'])} episodes)</td><td class=num>"
                     f"{_num(metrics['target_before'])}</td><td class=num>{_num(metrics['target_after'])}</td>"
                     f"<td class=num>{_num(metrics['target_delta'], True)}</td></tr>"
                     + (f"<tr><td>regression ({len(metrics['regression'])} episodes)</td><td class=num>"
                        f"{_num(metrics['regression_before'])}</td><td class=num>"
                        f"{_num(metrics['regression_after'])}</td><td class=num>"
                        f"{_num(metrics['regression_delta'], True)}</td></tr>" if metrics.get("regression") else "")
                     + "</table><p class=muted>(recorded before verification used a control arm: compared with "
                       "the run that selected the episodes)</p>")
    finding = findings.get(edit.get("finding") or "")
    refs = {(r["episode_id"], r["turn"]) for r in edit["evidence"]}
    parts.append(f"<details><summary>evidence: {len(refs)} turn(s) in "
                 f"{len({r[0] for r in refs})} episode(s)</summary>{_units(finding or {}, refs)}</details></div>")
    return "".join(parts)


def _round(r: RoundState, bank: SkillBank | None) -> str:
    base = r.base.summary if r.base else {}
    parts = [f"<h2>Round {r.round} <span class=muted>(bank {_e(r.start_version)}"
             + (f" → {_e(r.committed)}" if r.committed else ", unchanged") + ")</span></h2>",
             f"<p>SAGE score {_num(base.get('sage_score'))} · {base.get('success', 0)} success · "
             f"{base.get('failure', 0)} failure · {base.get('finished', 0)} episodes finished</p>"]
    health = r.judge_health
    if health is not None and health.healthy is False:
        what = ("edits were verified anyway (--force-judge)" if health.forced
                else "edits were not verified or accepted (pass --force-judge to override)")
        parts.append(f"<div class=warn><b>The judge of this round's base run is unhealthy; {what}.</b><ul>"
                     + "".join(f"<li>{_e(w)}</li>" for w in health.warnings) + "</ul></div>")
    analysis = r.analysis
    if analysis:
        parts.append(f"<p>{len(analysis['selected'])} of {analysis['scored']} episodes failed or gained little.</p>")
        rows = "".join(f"<tr><td>{_e(trait.replace('_', ' '))}</td><td>{_e(value)}</td><td class=num>"
                       f"{g['episodes']}</td><td class=num>{g['failed']}</td><td class=num>{g['low_gain']}</td>"
                       f"<td class=num>{_num(g['mean_gain'], True)}</td></tr>"
                       for trait, groups in analysis["by_trait"].items() for value, g in groups.items())
        parts.append("<details><summary>by seeker trait</summary><table><tr><th>trait</th><th>value</th>"
                     "<th>episodes</th><th>failed</th><th>low gain</th><th>mean gain</th></tr>"
                     f"{rows}</table></details>")
        rows = "".join(f"<tr><td><code>{_e(sid)}</code></td><td class=num>{s['uses']}</td><td class=num>"
                       f"{_num(s['mean_change'], True)}</td><td class=num>{s['falls']}</td></tr>"
                       for sid, s in analysis["by_skill"].items())
        parts.append("<details><summary>by skill followed</summary><table><tr><th>skill</th><th>uses</th>"
                     f"<th>mean change after</th><th>falls kept</th></tr>{rows}</table></details>")
        if analysis["findings"]:
            parts.append("<h3>Findings</h3><ul>" + "".join(f"<li><b>{_e(f['id'])}</b> {_e(f['description'])}</li>"
                                                          for f in analysis["findings"]) + "</ul>")
        else:
            parts.append("<p>No finding: no skill or seeker group stood out among the falls.</p>")
    findings = {f["id"]: f for f in r.findings()}
    if r.proposals:
        parts.append("<h3>Proposals</h3>")
        start = bank.skills(r.start_version) if bank is not None else {}
        for p in r.proposals:
            before = {}
            if p.skill_id in start:
                data = start[p.skill_id].model_dump(mode="json")
                for path in p.edit.get("set") or {}:
                    node: Any = data
                    for part in path.split("."):
                        node = node.get(part) if isinstance(node, dict) else None
                    before[path] = node
            parts.append(_proposal(p, before, findings))
    combined = (r.model_extra or {}).get("combined")  # evolutions from before the confirmation step
    if combined:
        parts.append(f"<p>Accepted edits verified together: {'passed' if combined['accepted'] else 'failed'} — "
                     f"{_e('; '.join(combined['reasons']))}</p>")
    if r.confirmation:
        c = r.confirmation
        parts.append(f"<h3>Confirmation on fresh seeds <span class='badge "
                     f"{'accepted' if c.accepted else 'rejected'}'>{'passed' if c.accepted else 'failed'}"
                     f"</span></h3><p>{_e(', '.join(c.edits))} applied together, against a fresh "
                     f"control arm on episode keys no earlier simulation used.</p><ul>"
                     + "".join(f"<li>{_e(x)}</li>" for x in c.reasons) + "</ul>"
                     + (_arms_table(c.metrics, None) if "target_ci" in c.metrics else ""))
    return "".join(parts)


def _holdout_paired(paired: Mapping[str, Any] | None) -> str:
    if not paired or not paired.get("n"):
        return ""
    rows = []
    for key, label in (("sage_score", "SAGE score (final emotion)"), ("success_rate", "success rate"),
                       ("mean_turns", "turns")):
        st = paired.get(key) or {}
        if st.get("mean") is None:
            continue
        rows.append(f"<tr><td>{label}</td><td class=num><b>{_num(st['mean'], True)}</b></td><td class=num>"
                    f"{_ci({'ci': [st.get('ci_low'), st.get('ci_high')]}, 'ci')}</td><td class=num>"
                    f"{_p(st.get('p_two_sided'))}</td></tr>")
    return (f"<p>Final − start on the same {paired['n']} held-out episode keys (paired sign-flip permutation; "
            f"95% CI, two-sided p):</p><table><tr><th></th><th>Δ mean</th><th>95% CI</th><th>p</th></tr>"
            + "".join(rows) + "</table>")


def render_evolution_report(state: EvolutionState | Mapping[str, Any], bank: SkillBank | None = None) -> str:
    state = EvolutionState.coerce(state)
    rounds = state.rounds
    start, final = state.skill_diff_versions()
    title = (f"Skills-bank evolution {start} → {final}" if final != start
             else f"Skills-bank evolution from {start} (bank unchanged)")
    cfg = state.config
    sim = cfg.get("simulator", {})
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>",
             f"<p>status <b>{_e(state.status)}</b> · {len(rounds)} round(s) · graph "
             f"<code>{_e(sim.get('graph'))}</code> · "
             + " · ".join(f"{_e(role)} <code>{_e(spec)}</code>" for role, spec in (sim.get("models") or {}).items())
             + " · analyst "
             f"<code>{_e(cfg.get('analyst', {}).get('model'))}</code> · {len(cfg.get('profiles', []))} profiles, "
             f"{len(cfg.get('holdout', []))} held out · tokens {sum(state.tokens.values())}</p>"]
    policy = (cfg.get("settings") or {}).get("policy") or {}
    if "alpha" in policy:
        parts.append(f"<p class=muted>Decision rule: each edit is re-simulated against a control arm (the base "
                     f"bank on the same episode keys); accepted when the target group's one-sided sign-flip test "
                     f"gives p &lt; {policy['alpha']} after Holm's correction over the round's proposals with a mean "
                     f"gain ≥ {policy['margin']} points, the regression sample's lower {1 - policy['alpha']:.0%} "
                     f"bound is ≥ −{policy['tolerance']} ({policy['regression_size']} episodes of other profiles), "
                     f"and no new safety hits; {policy['verify_trials']} fresh trial(s) per target profile; "
                     f"the accepted set is confirmed on fresh seeds before it is committed"
                     + (" · <b>--force-judge</b>" if (cfg.get("settings") or {}).get("force_judge") else "")
                     + ".</p>")
    points = [(f"round {r.round}", (r.base.summary if r.base else {}).get("sage_score")) for r in rounds]
    held = state.holdout
    if held:
        points += [("held-out start", held.start.get("sage_score")),
                   ("held-out final", held.final.get("sage_score"))]
    parts.append("<h2>SAGE score</h2>" + _bars(points))
    if held:
        parts.append("<h2>Held-out seekers</h2><table><tr><th></th><th>bank</th><th>SAGE score</th>"
                     "<th>success</th><th>failure</th><th>episodes</th></tr>"
                     + "".join(f"<tr><td>{label}</td><td>{_e(v)}</td><td class=num>{_num(s.get('sage_score'))}</td>"
                               f"<td class=num>{s.get('success')}</td><td class=num>{s.get('failure')}</td>"
                               f"<td class=num>{s.get('finished')}</td></tr>"
                               for label, v, s in (("start", held.start_version, held.start),
                                                   ("final", held.final_version, held.final)))
                     + "</table>" + _holdout_paired(held.paired))
    parts += [_round(r, bank) for r in rounds]
    if bank is not None and final != start:
        parts.append(f"<h2>Skill-bank diff {_e(start)} → {_e(final)}</h2>")
        parts.append(diff_sections(diff_versions(bank, start, final)))
    parts.append("</body></html>\n")
    return "".join(parts)


def write_evolution_report(state: EvolutionState | Mapping[str, Any], out_dir: str | Path, bank: SkillBank | None = None) -> Path:
    path = Path(out_dir) / "evolution.html"
    atomic_write(path, render_evolution_report(state, bank))
    return path
