"""A self-contained HTML page for a :class:`~escgraph.skills_bank.diff.BankDiff`: inline CSS, no external
resources, every piece of bank text escaped (skills may quote seekers, and evolution writes them)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from escgraph.skills_bank.diff import BankDiff, FieldChange

__all__ = ["render_html", "diff_sections", "DIFF_CSS"]

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;color:#222;
padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}.num{text-align:right}
.skill{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:.8rem 0}
.added{border-left:5px solid #2a2}.removed{border-left:5px solid #c33}.changed{border-left:5px solid #d90}
.status{font-size:.85em;padding:0 .4em;border-radius:4px;background:#eee}
ins{background:#d4f8d4;color:#064;text-decoration:none}del{background:#fdd;color:#900}
.field{margin:.3rem 0}.field b{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600;color:#357}
.muted{color:#777}
"""


def _e(value: Any) -> str:
    return escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _field(fc: FieldChange) -> str:
    if fc.words is not None:
        tags = {"insert": "ins", "delete": "del"}
        body = "".join(_e(op.text) if op.op == "equal" else f"<{tags[op.op]}>{_e(op.text)}</{tags[op.op]}>"
                       for op in fc.words)
    elif fc.kind == "added":
        body = f"<ins>{_e(fc.new)}</ins>"
    elif fc.kind == "removed":
        body = f"<del>{_e(fc.old)}</del>"
    else:
        body = f"<del>{_e(fc.old)}</del> → <ins>{_e(fc.new)}</ins>"
    kind = "" if fc.kind == "changed" else f" <span class=muted>({fc.kind})</span>"
    return f"<div class=field><b>{_e(fc.field)}</b>{kind}: {body}</div>"


def render_html(diff: BankDiff) -> str:
    title = f"Skills bank diff {diff.old_version} → {diff.new_version}"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>{diff_sections(diff)}</body></html>\n")


def diff_sections(diff: BankDiff) -> str:
    """The diff's body (totals, added, removed, changed, reuse) for embedding in another page styled with
    :data:`DIFF_CSS`."""
    t = diff.totals
    parts = [f"<p class=muted>content <span class=hash>{_e(diff.old_hash[:12])}</span> → "
             f"<span class=hash>{_e(diff.new_hash[:12])}</span></p>",
             "<table><tr>" + "".join(f"<th>{k}</th>" for k in t) + "</tr><tr>"
             + "".join(f"<td class=num>{v}</td>" for v in t.values()) + "</tr></table>"]
    if diff.added:
        parts.append("<h2>Added</h2>")
        parts += [f"<div class='skill added'><b>{_e(s.id)}</b> — {_e(s.name)} <span class=status>{_e(s.status)}"
                  f"</span><div class=field><ins>{_e(s.summary)}</ins></div></div>" for s in diff.added]
    if diff.removed:
        parts.append("<h2>Removed</h2>")
        parts += [f"<div class='skill removed'><b>{_e(s.id)}</b> — <del>{_e(s.name)}</del></div>"
                  for s in diff.removed]
    if diff.changed:
        parts.append("<h2>Changed</h2>")
        for c in diff.changed:
            status = (f" <span class=status>{_e(c.old_status)} → {_e(c.new_status)}</span>"
                      if c.old_status != c.new_status else "")
            fields = "".join(_field(fc) for fc in c.fields if fc.field != "status")
            parts.append(f"<div class='skill changed'><b>{_e(c.id)}</b> — {_e(c.name)}{status}{fields}</div>")
    carried = sum(1 for r in diff.reuse if r.unchanged_versions > 1)
    parts.append(f"<h2>Reuse</h2><p>{t['unchanged']} skills carried over unchanged from {_e(diff.old_version)}, "
                 f"{t['changed']} changed, {t['added']} added, {t['removed']} removed. In "
                 f"{_e(diff.new_version)}, {carried} of {len(diff.reuse)} skills have been unchanged for two or more "
                 f"versions.</p><table><tr><th>skill</th><th>status</th><th>unchanged since</th>"
                 f"<th class=num>versions unchanged</th><th>in bank since</th><th class=num>versions in bank</th>"
                 f"</tr>")
    parts += [f"<tr><td><code>{_e(r.id)}</code></td><td>{_e(r.status)}</td><td>{_e(r.unchanged_since)}</td>"
              f"<td class=num>{r.unchanged_versions}</td><td>{_e(r.in_bank_since)}</td>"
              f"<td class=num>{r.in_bank_versions}</td></tr>" for r in diff.reuse]
    parts.append("</table>")
    return "".join(parts)


DIFF_CSS = _CSS
