"""The yearly report (民情报告) of a unit — normally a micro-grid — as one HTML page.

Contract: :func:`yearly_html` reads the year's figures and lists through
``gridflow.builtin.kpis.yearly_data`` (the KPIs, cases opened/closed per month, the year's cases
by current state, its problems, questions and raised hands), draws the charts
(``gridflow.report.charts``) and renders ``templates/yearly.<lang>.html.j2`` with Jinja
(autoescaped, strict undefined): a self-contained page — inline CSS and SVG, no scripts, no
external files. ``progress(step)`` ticks ``YEARLY_STEPS`` times in all. A template that fails
raises ``ReportError`` naming the template file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gridflow.builtin.catalogue import GROUPS, SATISFACTION, WORKFLOW_NAMES
from gridflow.errors import GridflowError, ReportError
from gridflow.report.charts import donut, monthly_bars
from gridflow.report.text import DASH, _local_date, _short, fmt, metric_rows, norm_lang

if TYPE_CHECKING:
    from gridflow.service.engine import Engine

TEMPLATES = Path(__file__).resolve().parent / "templates"
YEARLY_STEPS = 8  # progress ticks of yearly_html: 5 queries, charts, tables, render

_YEARLY_TEXT: dict[str, tuple[str, str]] = {
    "chart_monthly": ("每月新增与办结", "Cases opened and closed per month"),
    "chart_states": ("本年案件当前状态", "This year's cases by current state"),
    "chart_satisfaction": ("居民评价", "Residents' evaluations"),
    "auto_note": ("另有逾期默认满意（不计入满意率）", "Confirmed by default (not counted)"),
    "opened": ("新增", "Opened"),
    "closed": ("办结", "Closed"),
    "other": ("其他", "Other"),
    "no_data": ("暂无数据", "No data"),
    "card_problems": ("问题清单", "Problems listed"),
    "card_questions": ("网格举手", "Questions raised"),
    "card_hands": ("认领部门题", "Hands on dept. questions"),
    "card_satisfaction": ("满意率", "Satisfaction"),
    "card_on_time": ("部门按时答复率", "On-time answers"),
    "card_opened": ("全年新增案件", "Cases opened"),
    "written_off": ("已销项", "written off"),
    "closed_n": ("已办结", "closed"),
    "answered": ("已答复", "answered"),
    "won": ("认领成功", "won"),
    "confirmations": ("有效评价", "evaluations"),
    "deadlines": ("到期时限", "deadlines"),
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

    from gridflow.builtin.kpis import YEARLY_LIST_LIMIT, yearly_data

    lang = norm_lang(lang)
    tick = progress or (lambda _step: None)
    data = yearly_data(engine, unit, year, progress=tick)
    directory = engine.directory
    tz = data["period"].tz

    def unit_name(uid: str | None) -> str:
        u = directory.units.get(uid) if uid else None
        if u is None:
            return uid or ""
        return (u.name_en or u.name) if lang == "en" else u.name

    def state_label(workflow: str, state: str) -> str:
        try:
            s = engine.workflow(workflow).definition.states.get(state)
        except GridflowError:
            s = None
        return s.label.get(lang) if s is not None and s.label else state

    kpis = data["kpis"]
    four, grid, dept = kpis["four_list"], kpis["grid_asks"], kpis["dept_asks"]
    T = {k: _pick(v, lang) for k, v in _YEARLY_TEXT.items()}
    monthly_svg = monthly_bars(
        data["monthly"], lang, title=T["chart_monthly"], legend=(T["opened"], T["closed"])
    )
    state_items = [
        (
            f"{_pick(WORKFLOW_NAMES.get(s['workflow'], (s['workflow'],) * 2), lang)}·"
            f"{state_label(s['workflow'], s['state'])}",
            s["count"],
        )
        for s in data["states"]
    ]
    if len(state_items) > 9:
        state_items = [*state_items[:8], (T["other"], sum(v for _l, v in state_items[8:]))]
    states_svg = donut(state_items, title=T["chart_states"], empty=T["no_data"])
    sat_items = [
        (_pick(SATISFACTION[k], lang), grid.get(k) or 0)
        for k in ("satisfied", "basically_satisfied", "unsatisfied")
    ]
    sat_center = fmt(grid.get("satisfaction_rate"), "rate")
    satisfaction_svg = donut(
        sat_items, title=T["chart_satisfaction"], empty=T["no_data"], center=sat_center
    )
    tick("charts")

    def day(iso: str | None) -> str:
        return _local_date(iso, tz)

    problems = [
        {
            "id": p["id"],
            "title": _short(p["title"], 40),
            "unit": unit_name(p["unit"]),
            "state": state_label(p["workflow"], p["state"]),
            "final": p["closed_at"] is not None,
            "created": day(p["created_at"]),
            "closed": day(p["closed_at"]),
            "lead": unit_name(p["data"].get("lead_department")),
            "result": _short(p["data"].get("result"), 60),
        }
        for p in data["problems"]
    ]
    questions = [
        {
            "id": q["id"],
            "title": _short(q["title"], 40),
            "department": unit_name(q["data"].get("department")),
            "state": state_label(q["workflow"], q["state"]),
            "final": q["closed_at"] is not None,
            "created": day(q["created_at"]),
            "closed": day(q["closed_at"]),
            "satisfaction": _pick(SATISFACTION[q["data"]["satisfaction"]], lang)
            if q["data"].get("satisfaction") in SATISFACTION
            else "",
            "answer": _short(q["data"].get("answer"), 60),
        }
        for q in data["questions"]
    ]
    hands = [
        {
            "id": x["id"],
            "title": _short(x["title"], 40),
            "department": unit_name(x["data"].get("department") or x["unit"]),
            "grid": unit_name(x["hand_unit"]),
            "at": day(x["hand_at"]),
            "won": x["won"],
            "state": state_label(x["workflow"], x["state"]),
            "result": _short(x["data"].get("result"), 60) if x["won"] else "",
        }
        for x in data["hands"]
    ]
    sections = [
        {
            "title": _pick(GROUPS[g], lang),
            "rows": [
                (label.strip(), shown) for _k, label, _r, shown, _f in metric_rows(kpis, g, lang)
            ],
        }
        for g in ("four_list", "grid_asks", "dept_asks")
    ]
    opened = sum(m["opened"] for m in data["monthly"])
    closed = sum(m["closed"] for m in data["monthly"])
    cards = [
        (T["card_problems"], four["listed"], f"{T['written_off']} {four['written_off']}"),
        (T["card_questions"], grid["raised"], f"{T['answered']} {grid['answered']}"),
        (T["card_hands"], dept["hands"], f"{T['won']} {sum(1 for x in hands if x['won'])}"),
        (
            T["card_satisfaction"],
            fmt(grid["satisfaction_rate"], "rate"),
            f"{T['confirmations']} {grid['confirmations']}",
        ),
        (
            T["card_on_time"],
            fmt(grid["on_time_answer_rate"], "rate"),
            f"{T['deadlines']} {grid['answer_deadlines']}",
        ),
        (T["card_opened"], opened, f"{T['closed_n']} {closed}"),
    ]
    tick("tables")
    u = directory.units.get(unit)
    trail = [unit_name(a.id) for a in reversed(list(directory.ancestors(unit)))] if u else []
    context = {
        "lang": lang,
        "T": T,
        "unit": {"id": unit, "name": unit_name(unit), "kind": u.kind if u else ""},
        "trail": trail,
        "year": year,
        "generated": data["now"].astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
        "tz": tz,
        "cards": cards,
        "monthly_svg": monthly_svg,
        "states_svg": states_svg,
        "satisfaction_svg": satisfaction_svg,
        "sections": sections,
        "problems": problems,
        "questions": questions,
        "hands": hands,
        "truncated": data["truncated"],
        "limit": YEARLY_LIST_LIMIT,
        "auto_confirmed": grid.get("auto_confirmed") or 0,
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
