"""Inline SVG charts for the run report, generated as text (no plotting library, nothing external).

Every label passes through ``html.escape``; colours are chosen by the caller (the report's palette).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "trajectories", "histogram", "sparkline"]

_FONT = "font-family:inherit"


@dataclass
class Series:
    """One line: emotion after the opening and after each judged turn."""

    label: str
    points: Sequence[float]
    color: str


def _n(x: float) -> str:
    """A compact coordinate."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, body: str, label: str, cls: str = "chart") -> str:
    return (f'<svg class="{cls}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
            f'style="{_FONT}"><title>{escape(label)}</title>{body}</svg>')


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "tick") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" class="{cls}">{escape(s)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" class="{cls}"/>'


def _opacity(n: int) -> float:
    return 0.85 if n <= 10 else 0.6 if n <= 40 else max(0.12, 0.6 * (40 / n) ** .5)


def _nice_step(peak: int, ticks: int = 5) -> int:
    """An integer step of 1, 2 or 5 times a power of ten giving about ``ticks`` grid lines up to ``peak``."""
    raw = max(1.0, peak / ticks)
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _y_range(values: Sequence[float]) -> tuple[float, float]:
    low = min([0.0, *values])
    return (0.0 if low >= 0 else -10.0 * math.ceil(-low / 10)), 100.0  # down to a multiple of 10 below the lowest


def trajectories(series: Sequence[Series], bands: Mapping[str, float], max_x: int, *,
                 mean: Sequence[float] | None = None, means: Sequence[Series] = (), width: int = 760,
                 height: int = 340, label: str = "Emotion trajectories of the finished episodes") -> str:
    """Emotion (y) over judged turns (x), one polyline per episode, band floors as dashed lines with labels.

    ``mean`` is drawn as one dark dashed line; ``means`` as dashed lines in their own colours (one per run when
    two runs share the chart)."""
    left, right, top, bottom = 40, 34, 12, 38
    pw, ph = width - left - right, height - top - bottom
    max_x = max(1, max_x)
    y_lo, y_hi = _y_range([v for s in series for v in s.points])

    def sx(x: float) -> float:
        return left + pw * x / max_x

    def sy(y: float) -> float:
        return top + ph * (y_hi - y) / (y_hi - y_lo)

    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>']
    floors = sorted(bands.items(), key=lambda kv: kv[1])
    for i, (name, floor) in enumerate(floors):
        if y_lo < floor <= y_hi:
            parts.append(_line(left, sy(floor), left + pw, sy(floor), "band"))
        upper = floors[i + 1][1] if i + 1 < len(floors) else floor
        mid = (max(floor, y_lo) + min(upper, y_hi)) / 2 if upper > floor else floor
        parts.append(_text(left + pw + 6, sy(mid) + 4, name, cls="bandname"))
    ticks = sorted({y_lo, *[f for _, f in floors if y_lo <= f <= y_hi], y_hi})
    parts += [_text(left - 6, sy(t) + 4, _n(t), "end") for t in ticks]
    step = 1 if max_x <= 12 else 2 if max_x <= 24 else 5
    for x in range(0, max_x + 1, step):
        parts.append(_line(sx(x), top + ph, sx(x), top + ph + 4, "axis"))
        parts.append(_text(sx(x), top + ph + 16, str(x), "middle"))
    parts.append(_text(left + pw / 2, height - 4, "judged seeker turn (0 = opening)", "middle", "axlabel"))
    parts.append(f'<text transform="translate(11 {_n(top + ph / 2)}) rotate(-90)" text-anchor="middle" '
                 f'class="axlabel">emotion</text>')
    per_color: dict[str, int] = {}
    for s in series:
        per_color[s.color] = per_color.get(s.color, 0) + 1
    width_px = 2 if len(series) <= 40 else 1.4
    lines = []
    for s in series:
        opacity = _opacity(per_color[s.color])  # by how many lines share the colour: rare outcomes stay visible
        pts = " ".join(f"{_n(sx(i))},{_n(sy(v))}" for i, v in enumerate(s.points))
        if len(s.points) == 1:
            lines.append(f'<circle cx="{_n(sx(0))}" cy="{_n(sy(s.points[0]))}" r="3" fill="{s.color}">'
                         f'<title>{escape(s.label)}</title></circle>')
            continue
        lines.append(f'<polyline points="{pts}" fill="none" stroke="{s.color}" stroke-width="{width_px}" '
                     f'stroke-opacity="{opacity:.2f}" stroke-linejoin="round"><title>{escape(s.label)}</title>'
                     f'</polyline>')
        if len(series) <= 40:
            x, y = sx(len(s.points) - 1), sy(s.points[-1])
            lines.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{s.color}"/>')
    parts.append(f'<g class="lines">{"".join(lines)}</g>')
    if mean and len(series) > 1:
        pts = " ".join(f"{_n(sx(i))},{_n(sy(v))}" for i, v in enumerate(mean))
        parts.append(f'<polyline points="{pts}" class="mean"><title>mean</title></polyline>')
    for m in means:  # inline style: the .mean class's stroke would otherwise win over an attribute
        pts = " ".join(f"{_n(sx(i))},{_n(sy(v))}" for i, v in enumerate(m.points))
        parts.append(f'<polyline points="{pts}" class="mean" style="stroke:{m.color}">'
                     f'<title>{escape(m.label)}</title></polyline>')
    parts.append(_line(left, top + ph, left + pw, top + ph, "axis"))
    parts.append(_line(left, top, left, top + ph, "axis"))
    return _svg(width, height, "".join(parts), label)


def histogram(counts: Sequence[int], labels: Sequence[str], *, color: str, groups: Sequence[tuple[str, int, int]] = (),
              width: int = 760, height: int = 250, label: str = "histogram") -> str:
    """Vertical bars with their count on top; ``groups`` = (name, first bar, last bar) brackets under the axis."""
    left, right, top, bottom = 40, 10, 18, 62
    pw, ph = width - left - right, height - top - bottom
    n = max(1, len(counts))
    step = _nice_step(max([1, *counts]))
    peak = step * math.ceil(max([1, *counts]) / step)
    slot = pw / n
    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>']
    for v in range(0, peak + 1, step):
        y = top + ph - ph * v / peak
        if v:
            parts.append(_line(left, y, left + pw, y, "grid"))
        parts.append(_text(left - 6, y + 4, str(v), "end"))
    for i, (c, lab) in enumerate(zip(counts, labels)):
        x = left + i * slot
        h = ph * c / peak
        if c:
            parts.append(f'<rect x="{_n(x + slot * .12)}" y="{_n(top + ph - h)}" width="{_n(slot * .76)}" '
                         f'height="{_n(h)}" fill="{color}"><title>{escape(lab)}: {c}</title></rect>')
            parts.append(_text(x + slot / 2, top + ph - h - 4, str(c), "middle", "value"))
        parts.append(_text(x + slot / 2, top + ph + 15, lab, "middle"))
    for name, first, last in groups:
        x1, x2 = left + first * slot + 3, left + (last + 1) * slot - 3
        y = top + ph + 26
        parts.append(f'<path d="M{_n(x1)} {y}v5H{_n(x2)}v-5" class="bracket"/>')
        parts.append(_text((x1 + x2) / 2, y + 18, name, "middle", "bandname"))
    parts.append(_line(left, top + ph, left + pw, top + ph, "axis"))
    return _svg(width, height, "".join(parts), label)


def sparkline(points: Sequence[float], bands: Mapping[str, float], color: str, *, width: int = 220,
              height: int = 64, max_x: int = 10) -> str:
    """A small emotion trajectory for one episode, with band floors as faint lines."""
    pad = 4
    max_x = max(1, max_x, len(points) - 1)
    y_lo, y_hi = _y_range(points)

    def sx(x: float) -> float:
        return pad + (width - 2 * pad) * x / max_x

    def sy(y: float) -> float:
        return pad + (height - 2 * pad) * (y_hi - y) / (y_hi - y_lo)

    parts = [_line(pad, sy(f), width - pad, sy(f), "band") for f in bands.values() if y_lo < f <= y_hi]
    if len(points) > 1:
        pts = " ".join(f"{_n(sx(i))},{_n(sy(v))}" for i, v in enumerate(points))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
    parts.append(f'<circle cx="{_n(sx(len(points) - 1))}" cy="{_n(sy(points[-1]))}" r="3" fill="{color}"/>')
    label = "emotion " + " → ".join(_n(v) for v in points)
    return _svg(width, height, "".join(parts), label, cls="spark")
