"""Reports on the workbench (driver ring): a unit's KPIs for a period with charts, the xlsx
download, and the yearly page (民情报告).

The figures are those of ``gridflow report`` and the API: computed by ONE function,
:func:`gridflow.drivers.http.reports.kpis` (each workflow's ``kpis:`` block). One table per
report section, its figures in the declared order (:func:`gridflow.report.metric_rows`: the
same words and formatting as the CLI); charts (the section's declared donut, its rates as
bars) are inline SVG drawn here with every text escaped. Who may read a unit's figures:
whoever holds a role at it or above it, or ``read_all``; every unit at once: ``read_all``
only.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from gridflow import report as rp
from gridflow.domain.period import Period
from gridflow.drivers.http.reports import XLSX, kpis
from gridflow.drivers.web.board import home_unit
from gridflow.drivers.web.context import Viewer, viewer, web_of
from gridflow.drivers.web.render import HEADERS, page
from gridflow.errors import NotFound, PermissionRefused
from gridflow.report.text import pick, sections

router = APIRouter(include_in_schema=False)
UnitQ = Annotated[str | None, Query(max_length=200)]
PeriodQ = Annotated[str | None, Query(max_length=20)]
COLOURS = ("#3b6fb6", "#4caf7a", "#f0a030", "#d9534f", "#7e57c2", "#26a6b8")


def _may_see(request: Request, who: Viewer, unit: str | None) -> None:
    engine = web_of(request).engine
    if unit is not None and unit not in engine.directory.units:
        raise NotFound("unit", unit)
    scope = engine.principals.scope(who.principal)
    if unit is None and not scope.everything:
        raise PermissionRefused(
            "figures of every unit need the 'read_all' permission",
            principal=who.principal.id,
            needed="read_all",
        )
    if unit is not None and not scope.sees_unit(unit, engine.directory):
        raise PermissionRefused(
            f"{who.principal.id} holds no role at {unit} or above it",
            principal=who.principal.id,
            needed=f"unit:{unit}",
        )


def rate_bars(rows: list[tuple[str, float | None]], title: str) -> Markup:
    """Horizontal bars of rates (0–1), each labelled; texts escaped."""
    rows = [(label.strip(), value) for label, value in rows]
    height = 28 * len(rows) + 12
    parts = [
        f'<svg class="chart rates" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 560 {height}"'
        f' role="img" aria-label="{escape(title)}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(rows):
        y = 8 + i * 28
        width = 0 if value is None else max(0.0, min(1.0, value)) * 300
        shown = "—" if value is None else f"{value * 100:.1f}%"
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="13" fill="#334">{escape(label)}</text>'
            f'<rect x="200" y="{y + 2}" width="300" height="16" fill="#eef1f5" rx="3"/>'
            f'<rect x="200" y="{y + 2}" width="{width:.1f}" height="16" '
            f'fill="{COLOURS[i % len(COLOURS)]}" rx="3"/>'
            f'<text x="508" y="{y + 15}" font-size="13" fill="#334">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _charts(engine: Any, figures: dict[str, Any], lang: str) -> list[tuple[str, Markup]]:
    """(title, chart) per section: the donut its ``kpis:`` declares (``chart:``), and its
    rates as bars — whatever the workflow, the same words and figures as the tables."""
    plans = {s.id: s for wf in engine.workflows.values() for s in wf.kpis.sections}
    out = []
    for sid, section in sections(figures):
        heading = pick(section.get("label"), lang) or sid
        values = section.get("figures") or {}
        metrics = {m["key"]: m for m in section.get("metrics") or []}
        plan = plans.get(sid)
        if plan is not None and plan.chart is not None:
            spec = plan.chart
            title = (spec.title.get(lang) if spec.title else None) or heading
            pairs = [
                (pick(metrics.get(k, {}).get("label"), lang) or k, int(values.get(k) or 0))
                for k in spec.figures
            ]
            center = rp.fmt(values.get(spec.center)) if spec.center else None
            out.append((title, rp.donut(pairs, title=title, empty="—", center=center)))
        rates = [
            (label, raw)
            for key, label, raw, _shown, _f in rp.metric_rows(figures, sid, lang)
            if metrics.get(key, {}).get("kind") == "rate"
        ]
        if rates:
            out.append((heading, rate_bars(rates, heading)))
    return out


def _figures(request: Request, who: Viewer, unit: str | None, period: str | None):
    engine = web_of(request).engine
    _may_see(request, who, unit)
    p = Period.parse(period or None, tz=engine.calendar.tz.key, now=engine.now())
    return p, kpis(engine, unit, p)


def _default_unit(request: Request, who: Viewer) -> str | None:
    return home_unit(who, web_of(request).engine.directory)


@router.get("/reports")
def reports(request: Request, unit: UnitQ = None, period: PeriodQ = None) -> Response:
    who = viewer(request)
    unit = unit or _default_unit(request, who)
    if unit is None and not who.principal.read_all:
        return page(
            request,
            "reports.html",
            nav="reports",
            figures=None,
            unit=None,
            period="",
            groups=[],
            charts=[],
            units=[],
        )
    p, figures = _figures(request, who, unit, period)
    groups = [
        (sid, pick(section.get("label"), who.lang) or sid, rp.metric_rows(figures, sid, who.lang))
        for sid, section in sections(figures)
    ]
    engine = web_of(request).engine
    scope = engine.principals.scope(who.principal)
    units = sorted(
        (
            u
            for u in engine.directory.units.values()
            if u.kind in ("street", "area", "residential", "microgrid")
            and scope.sees_unit(u.id, engine.directory)
        ),
        key=lambda u: u.path,
    )[:300]
    return page(
        request,
        "reports.html",
        nav="reports",
        figures=figures,
        unit=unit,
        period=period or p.label or "",
        groups=groups,
        charts=_charts(engine, figures, who.lang),
        units=units,
    )


@router.get("/reports/kpis.xlsx")
def reports_xlsx(request: Request, unit: UnitQ = None, period: PeriodQ = None) -> Response:
    who = viewer(request)
    p, figures = _figures(request, who, unit, period)
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        rp.write_xlsx(figures, path, lang=who.lang)
        with open(path, "rb") as f:
            data = f.read()
    finally:
        os.unlink(path)
    name = f"kpis-{unit or 'all'}-{p.label or 'period'}.xlsx"
    return Response(
        data,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/reports/yearly")
def reports_yearly(
    request: Request,
    unit: Annotated[str, Query(max_length=200)],
    year: Annotated[int | None, Query(ge=1901, le=9999)] = None,
) -> Response:
    """The yearly page of a unit (its own styles inline; no scripts)."""
    who = viewer(request)
    engine = web_of(request).engine
    _may_see(request, who, unit)
    if year is None:
        year = engine.now().astimezone(engine.calendar.tz).year
    headers = {
        **HEADERS,
        "Content-Security-Policy": HEADERS["Content-Security-Policy"].replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        ),
    }
    return Response(
        rp.yearly_html(engine, unit, year, who.lang), media_type="text/html", headers=headers
    )
