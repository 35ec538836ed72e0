"""SVG charts for the yearly report: inline ``<svg>`` markup, no scripts, no external files.

Contract: each chart is a :class:`markupsafe.Markup` string safe to drop into an autoescaped
Jinja template; every text it carries (titles, labels, legends) is escaped here. The layout is
fixed (``viewBox``) and scales to the page's width (``width="100%"``); colours cycle through
``PALETTE``. :func:`monthly_bars` draws cases opened and closed per month; :func:`donut` a share
of counts with a legend (at most nine entries listed).
"""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup, escape

from gridflow.report.text import _short

PALETTE = (
    "#3b6fb6", "#4caf7a", "#f0a030", "#d9534f", "#7e57c2", "#26a6b8",
    "#8d6e63", "#c0ca33", "#ec407a", "#78909c",
)  # fmt: skip
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    exp = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * exp
        if top >= value:
            return math.ceil(top)
    return value


def monthly_bars(
    monthly: list[dict[str, Any]], lang: str, *, title: str, legend: tuple[str, str]
) -> Markup:
    """Grouped bars per month: cases opened and closed."""
    w, h, left, right, top, bottom = 720, 260, 40, 12, 30, 34
    plot_w, plot_h = w - left - right, h - top - bottom
    peak = max([m["opened"] for m in monthly] + [m["closed"] for m in monthly] + [0])
    ymax = _nice_max(peak)
    ticks = 4
    parts = [
        f'<svg class="chart bars" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        f'role="img" aria-label="{escape(title)}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(ticks + 1):
        value = ymax * i / ticks
        y = top + plot_h - plot_h * i / ticks
        label = f"{value:g}"
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#667">{label}</text>'
        )
    n = max(len(monthly), 1)
    slot = plot_w / n
    bar = slot * 0.34
    for i, m in enumerate(monthly):
        x0 = left + i * slot + slot * 0.14
        month = int(m["month"][-2:])
        name = MONTHS_EN[month - 1] if lang == "en" else f"{month}月"
        for j, (key, color) in enumerate((("opened", PALETTE[0]), ("closed", PALETTE[1]))):
            v = m[key]
            bh = plot_h * v / ymax
            x = x0 + j * (bar + slot * 0.04)
            y = top + plot_h - bh
            parts.append(
                f'<rect class="bar {key}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{bh:.1f}" fill="{color}" rx="2"><title>{escape(name)} '
                f"{escape(legend[j])}: {v}</title></rect>"
            )
            if v:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                    f'font-size="10" fill="#334">{v}</text>'
                )
        parts.append(
            f'<text x="{left + i * slot + slot / 2:.1f}" y="{h - bottom + 16}" '
            f'text-anchor="middle" font-size="11" fill="#445">{escape(name)}</text>'
        )
    lx = left
    for j, label in enumerate(legend):
        parts.append(
            f'<rect x="{lx}" y="8" width="12" height="12" fill="{PALETTE[j]}" rx="2"/>'
            f'<text x="{lx + 17}" y="18" font-size="12" fill="#334">{escape(label)}</text>'
        )
        lx += 30 + 13 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))


def donut(
    items: list[tuple[str, int]], *, title: str, empty: str, center: str | None = None
) -> Markup:
    """A donut of ``(label, count)`` with a legend (count and share)."""
    w, h, cx, cy, r, thick = 560, 220, 110, 110, 86, 30
    total = sum(v for _l, v in items)
    parts = [
        f'<svg class="chart donut" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        f'role="img" aria-label="{escape(title)}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    if not total:
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{r - thick / 2}" fill="none" stroke="#e3e6ea" '
            f'stroke-width="{thick}"/><text x="{cx}" y="{cy + 5}" text-anchor="middle" '
            f'font-size="14" fill="#889">{escape(empty)}</text></svg>'
        )
        return Markup("".join(parts))
    angle = -math.pi / 2
    r_mid = r - thick / 2
    for i, (label, v) in enumerate(items):
        if not v:
            continue
        color = PALETTE[i % len(PALETTE)]
        share = v / total
        tip = f"{escape(label)}: {v} ({share * 100:.1f}%)"
        if share >= 0.9999:
            parts.append(
                f'<circle class="slice" cx="{cx}" cy="{cy}" r="{r_mid}" fill="none" '
                f'stroke="{color}" stroke-width="{thick}"><title>{tip}</title></circle>'
            )
            continue
        a2 = angle + 2 * math.pi * share
        x1, y1 = cx + r_mid * math.cos(angle), cy + r_mid * math.sin(angle)
        x2, y2 = cx + r_mid * math.cos(a2), cy + r_mid * math.sin(a2)
        large = 1 if share > 0.5 else 0
        parts.append(
            f'<path class="slice" d="M {x1:.2f} {y1:.2f} A {r_mid} {r_mid} 0 {large} 1 '
            f'{x2:.2f} {y2:.2f}" fill="none" stroke="{color}" stroke-width="{thick}">'
            f"<title>{tip}</title></path>"
        )
        angle = a2
    parts.append(
        f'<text x="{cx}" y="{cy + 6}" text-anchor="middle" font-size="20" font-weight="600" '
        f'fill="#223">{escape(center if center is not None else str(total))}</text>'
    )
    y = 24
    for i, (label, v) in enumerate(items[:9]):
        color = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="240" y="{y - 10}" width="12" height="12" fill="{color}" rx="2"/>'
            f'<text x="258" y="{y}" font-size="12" fill="#334"><title>{escape(label)}</title>'
            f"{escape(_short(label, 28))} · {v} ({v / total * 100:.0f}%)</text>"
        )
        y += 21
    parts.append("</svg>")
    return Markup("".join(parts))
