"""The yearly report (民情报告) of a unit — normally a micro-grid — as one HTML page.

Contract: :func:`yearly_html` reads the year's figures and lists through ``Engine.yearly``
(the KPIs, cases opened/closed per month, the year's cases by current state, each section's
list), draws the charts (``gridflow.report.charts``) and renders
``templates/yearly.<lang>.html.j2`` with Jinja (autoescaped, strict undefined): a
self-contained page — inline CSS and SVG, no scripts, no external files. What it shows is
what the workflows declare: one block per report section (its cards, its chart, its list with
the declared ``columns``, its figures), whatever the workflow. ``progress(step)`` ticks
``YEARLY_STEPS`` times in all. A template that fails raises ``ReportError`` naming the
template file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gridflow.errors import GridflowError, ReportError
from gridflow.report.charts import donut, monthly_bars
from gridflow.report.text import DASH, _local_date, _short, fmt, metric_rows, norm_lang, pick

if TYPE_CHECKING:
    from gridflow.domain.kpi_plan import SectionPlan
    from gridflow.service.engine import Engine

TEMPLATES = Path(__file__).resolve().parent / "templates"
YEARLY_STEPS = 8  # progress ticks of yearly_html: 5 queries, charts, tables, render

_YEARLY_TEXT: dict[str, tuple[str, str]] = {
    "chart_monthly": ("每月新增与办结", "Cases opened and closed per month"),
    "chart_states": ("本年案件当前状态", "This year's cases by current state"),
    "opened": ("新增", "Opened"),
    "closed": ("办结", "Closed"),
    "other": ("其他", "Other"),
    "no_data": ("暂无数据", "No data"),
    "card_opened": ("全年新增案件", "Cases opened"),
    "closed_n": ("已办结", "closed"),
    "won": ("认领成功", "won"),
    "col_id": ("编号", "No."),
    "col_title": ("事项", "Case"),
    "col_opened": ("日期", "Opened"),
    "col_closed": ("办结日期", "Closed"),
    "col_state": ("状态", "State"),
    "col_grid": ("举手单位", "Raised by"),
    "col_hand": ("举手日期", "Hand raised"),
    "col_won": ("认领", "Claimed"),
    "list_cases": ("本单位的事项", "Cases of the unit"),
    "list_hands": ("本单位的举手", "Hands the unit raised"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def yearly_html(
    engine: Engine,
    unit: str,
    year: int,
    lang: str = "zh-CN",
    *,
    progress: Callable[[str], None] | None = None,
) -> str:
    """The yearly report (民情报告) of ``unit`` — normally a micro-grid — for ``year``: a
    self-contained HTML page (inline CSS and SVG, no scripts, no external files)."""
    import jinja2

    from gridflow.service.kpi import YEARLY_LIST_LIMIT

    lang = norm_lang(lang)
    tick = progress or (lambda _step: None)
    data = engine.yearly(unit, year, progress=tick)
    directory = engine.directory
    tz = data["period"].tz
    kpis = data["kpis"]
    T = {k: _pick(v, lang) for k, v in _YEARLY_TEXT.items()}
    plans = {s.id: s for wf in engine.workflows.values() for s in wf.kpis.sections}

    monthly_svg = monthly_bars(
        data["monthly"], lang, title=T["chart_monthly"], legend=(T["opened"], T["closed"])
    )
    state_items = [(_state_item(engine, s, lang), s["count"]) for s in data["states"]]
    if len(state_items) > 9:
        state_items = [*state_items[:8], (T["other"], sum(v for _l, v in state_items[8:]))]
    states_svg = donut(state_items, title=T["chart_states"], empty=T["no_data"])
    blocks = [
        _block(sid, section, plans.get(sid), data["lists"].get(sid) or [], lang, T, tz, engine)
        for sid, section in (kpis.get("sections") or {}).items()
        if sid in plans
    ]
    tick("charts")
    opened = sum(m["opened"] for m in data["monthly"])
    closed = sum(m["closed"] for m in data["monthly"])
    cards = [card for b in blocks for card in b["cards"]]
    cards.append((T["card_opened"], opened, f"{T['closed_n']} {closed}"))
    tick("tables")
    u = directory.units.get(unit)
    trail = (
        [_unit(directory, a.id, lang) for a in reversed(list(directory.ancestors(unit)))]
        if u
        else []
    )
    context = {
        "lang": lang,
        "T": T,
        "unit": {"id": unit, "name": _unit(directory, unit, lang), "kind": u.kind if u else ""},
        "trail": trail,
        "year": year,
        "generated": data["now"].astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
        "tz": tz,
        "cards": cards,
        "monthly_svg": monthly_svg,
        "states_svg": states_svg,
        "blocks": blocks,
        "truncated": data["truncated"],
        "limit": YEARLY_LIST_LIMIT,
        "dash": DASH,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    name = f"yearly.{lang}.html.j2"
    try:
        html = env.get_template(name).render(context)
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', None) or name}:{getattr(exc, 'lineno', '') or ''}"
        raise ReportError(f"yearly report template {where}: {exc}") from None
    tick("render")
    return html


def _block(
    sid: str,
    section: dict[str, Any],
    plan: SectionPlan | None,
    items: list[dict[str, Any]],
    lang: str,
    T: dict[str, str],
    tz: str,
    engine: Engine,
) -> dict[str, Any]:
    """One section of the page: its cards, its chart, its list and its figures."""
    values = section.get("figures") or {}
    metrics = {m["key"]: m for m in section.get("metrics") or []}
    directory = engine.directory

    def label(key: str) -> str:
        return pick(metrics.get(key, {}).get("label"), lang) or key

    def shown(key: str) -> str:
        return fmt(values.get(key), metrics.get(key, {}).get("kind", "count"))

    cards = [
        (label(c[0]), shown(c[0]), f"{label(c[1])} {shown(c[1])}" if len(c) > 1 else "")
        for c in (plan.cards if plan else ())
    ]
    chart = None
    if plan is not None and plan.chart is not None:
        spec = plan.chart
        pairs = [(label(k), values.get(k) or 0) for k in spec.figures]
        center = shown(spec.center) if spec.center else None
        title = spec.title.get(lang) if spec.title else pick(section.get("label"), lang)
        chart = {
            "title": title,
            "svg": donut(pairs, title=title, empty=T["no_data"], center=center),
            "note": f"{label(spec.note)}: {values.get(spec.note)}"
            if spec.note and values.get(spec.note)
            else "",
        }
    wf = engine.workflow(plan.workflow).definition if plan else None
    grades = plan.grade_labels() if plan else {}
    columns = list(plan.listing.columns) if plan and plan.listing else []

    def cell(column: str, data: dict[str, Any]) -> str:
        value = data.get(column)
        spec = wf.fields.get(column) if wf else None
        if value in (None, "", []):
            return ""
        if plan and column == plan.grade_field and str(value) in grades:
            return _pick(grades[str(value)], lang)
        if spec is not None and (spec.type == "unit" or spec.items == "unit"):
            names = value if isinstance(value, list) else [value]
            return "、".join(_unit(directory, v, lang) for v in names)
        return _short(value, 60)

    def head(column: str) -> str:
        spec = wf.fields.get(column) if wf else None
        return spec.label.get(lang) if spec is not None and spec.label else column

    hands = bool(plan and plan.listing and plan.listing.steps)
    if hands:
        headers = [T["col_id"], T["col_title"], *map(head, columns)]
        headers += [T["col_grid"], T["col_hand"], T["col_won"], T["col_state"]]
    else:
        headers = [T["col_id"], T["col_title"], *map(head, columns)]
        headers += [T["col_opened"], T["col_closed"], T["col_state"]]
    rows = []
    for x in items:
        state = _state_label(engine, x["workflow"], x["state"], lang)
        cells = [x["id"], _short(x["title"], 40), *(cell(c, x["data"]) for c in columns)]
        if hands:
            won = T["won"] if x.get("won") else ""
            cells += [_unit(directory, x["hand_unit"], lang), _local_date(x["hand_at"], tz), won]
        else:
            cells += [_local_date(x["created_at"], tz), _local_date(x["closed_at"], tz)]
        rows.append({"cells": [*cells, state], "done": x["closed_at"] is not None or x.get("won")})
    return {
        "id": sid,
        "title": pick(section.get("label"), lang) or sid,
        "note": T["list_hands"] if hands else T["list_cases"],
        "headers": headers,
        "rows": rows,
        "cards": cards,
        "chart": chart,
        "figures": [
            (lab.strip(), text)
            for _k, lab, _r, text, _f in metric_rows({"sections": {sid: section}}, sid, lang)
        ],
    }


def _unit(directory: Any, uid: Any, lang: str) -> str:
    u = directory.units.get(uid) if isinstance(uid, str) else None
    if u is None:
        return "" if uid is None else str(uid)
    return (u.name_en or u.name) if lang == "en" else u.name


def _state_item(engine: Engine, item: dict[str, Any], lang: str) -> str:
    """ "<workflow>·<state>" for the states chart."""
    workflow = item["workflow"]
    try:
        title = engine.workflow(workflow).definition.title.get(lang)
    except GridflowError:
        title = workflow
    return f"{title}·{_state_label(engine, workflow, item['state'], lang)}"


def _state_label(engine: Engine, workflow: str, state: str, lang: str) -> str:
    try:
        s = engine.workflow(workflow).definition.states.get(state)
    except GridflowError:
        s = None
    return s.label.get(lang) if s is not None and s.label else state
