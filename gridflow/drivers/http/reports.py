"""``/api/v1/reports``: KPIs as JSON, CSV or xlsx (by ``Accept``), and the yearly page.

The KPIs of a unit (and its subtree) may be read by whoever holds a role there or above,
and by principals with ``read_all``; without ``unit`` (everything) only the latter.
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from gridflow import report as rp
from gridflow.domain.period import Period
from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import Caller, CallerDep, api_of
from gridflow.drivers.http.responses import errors
from gridflow.errors import NotFound, PermissionRefused
from gridflow.service.engine import Engine

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"json": "application/json", "csv": "text/csv", "xlsx": XLSX}
Unit = Annotated[str | None, Query(max_length=200, pattern=s.NoNul)]


def kpis(engine: Engine, unit: str | None, period: Period) -> dict[str, Any]:
    """The KPIs — the one place this server computes them: each workflow's ``kpis:``."""
    return engine.kpis(unit=unit, period=period)


def _may_see(engine: Engine, caller: Caller, unit: str | None) -> None:
    if unit is not None and unit not in engine.directory.units:
        raise NotFound("unit", unit, engine.directory.units)
    scope = engine.principals.scope(caller.principal, caller.actor)
    if unit is None and not scope.everything:
        raise PermissionRefused(
            "figures of every unit need the 'read_all' permission; name a unit you hold a "
            "role at (or above)",
            principal=caller.principal.id,
            needed="read_all",
        )
    if unit is not None and not scope.sees_unit(unit, engine.directory):
        raise PermissionRefused(
            f"{caller.principal.id} holds no role at {unit} or above it",
            principal=caller.principal.id,
            needed=f"unit:{unit}",
        )


def _format(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    accept = request.headers.get("accept", "")
    for name, media in (("xlsx", XLSX), ("csv", "text/csv")):
        if media in accept:
            return name
    return "json"


@router.get(
    "/kpis",
    responses={
        **errors(404),
        200: {
            "description": "The KPIs: JSON (default), CSV or an xlsx workbook, by Accept",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
def kpi_report(
    request: Request,
    caller: CallerDep,
    unit: Unit = None,
    period: Annotated[
        str | None,
        Query(max_length=20, pattern=s.NoNul, description="2026, 2026H1, 2026Q3, 2026-03"),
    ] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40, pattern=s.NoNul)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40, pattern=s.NoNul)] = None,
    format: Annotated[
        str | None, Query(pattern="^(json|csv|xlsx)$", description="overrides Accept")
    ] = None,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> Response:
    """KPIs of a unit over a period (default: this year so far): one section per workflow
    (or per section its ``kpis:`` declares) and the cases overdue now. Formulas:
    docs/kpis.md."""
    engine = api_of(request).engine
    _may_see(engine, caller, unit)
    p = Period.parse(period, start, end, tz=engine.calendar.tz.key, now=engine.now())
    figures = kpis(engine, unit, p)
    fmt = _format(request, format)
    if fmt == "csv":
        return Response(rp.as_csv(figures), media_type="text/csv; charset=utf-8")
    if fmt == "xlsx":
        fd, path = tempfile.mkstemp(suffix=".xlsx")
        os.close(fd)
        try:
            rp.write_xlsx(figures, path, lang=lang)
            with open(path, "rb") as f:
                data = f.read()
        finally:
            os.unlink(path)
        name = f"kpis-{unit or 'all'}-{p.label or 'period'}.xlsx"
        return Response(
            data,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(rp.as_json(figures), media_type="application/json")


@router.get(
    "/yearly",
    responses={**errors(404), 200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
def yearly_report(
    request: Request,
    caller: CallerDep,
    unit: Annotated[str, Query(max_length=200, pattern=s.NoNul)],
    year: Annotated[int | None, Query(ge=1901, le=9999)] = None,
    lang: Annotated[str, Query(pattern="^(zh-CN|en)$")] = "zh-CN",
) -> Response:
    """The yearly report (民情报告) of a unit — normally a micro-grid — as an HTML page."""
    engine = api_of(request).engine
    _may_see(engine, caller, unit)
    if year is None:
        year = engine.now().astimezone(engine.calendar.tz).year
    return Response(rp.yearly_html(engine, unit, year, lang), media_type="text/html")
