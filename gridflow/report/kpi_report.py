"""KPI reports for people and scripts, and the micro-grid's yearly report (driver ring).

``compute()`` (``gridflow.service.kpi``) gives a JSON-ready dict; this module turns it into a text
table (boxed like ``tabulate``'s ``simple_outline``, but measuring Chinese characters as two
columns — ``tabulate`` needs the optional ``wcwidth`` for that), JSON, CSV, an XLSX workbook
(one sheet per KPI group, via openpyxl), and renders the yearly report (民情报告): a
self-contained HTML page with inline SVG charts drawn here.
A figure whose denominator is zero is ``None`` in the data and shown as "—".
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from gridflow.errors import GridflowError, ReportError

DASH = "—"
LANGS = ("zh-CN", "en")
TEMPLATES = Path(__file__).resolve().parent / "templates"


def norm_lang(lang: str | None) -> str:
    """``zh``/``zh-CN``/``zh_CN`` → ``zh-CN``; ``en``/``en-US``… → ``en``."""
    low = (lang or "zh-CN").replace("_", "-").lower()
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    raise ReportError(f"language {lang!r} is not supported (zh-CN or en)")


# ---- what each figure is ------------------------------------------------------------------------
# key: (kind, zh, en, formula) — kind: count | rate | days; rates name their numerator and
# denominator keys in RATES so tables can show "63.3% (107/169)".
GROUPS: dict[str, tuple[str, str]] = {
    "four_list": ("四单工作法", "Four-list method"),
    "grid_asks": ("双向举手·网格出题", "Raise hand: grid asks"),
    "dept_asks": ("双向举手·部门出题", "Raise hand: department asks"),
    "overdue": ("当前超期", "Overdue now"),
}

METRICS: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "four_list": {
        "listed": ("count", "列入问题清单", "Listed", "cases created in the period"),
        "written_off": (
            "count",
            "销项",
            "Written off",
            "cases that reached written_off in the period",
        ),
        "in_progress": (
            "count",
            "期末在办",
            "In progress at period end",
            "created before the end, not closed by it",
        ),
        "rejected": ("count", "不予受理", "Rejected", "cases rejected in the period"),
        "merged": ("count", "合并", "Merged", "cases merged in the period"),
        "write_off_rate": (
            "rate",
            "销项率",
            "Write-off rate",
            "written_off_of_listed ÷ listed_kept",
        ),
        "written_off_of_listed": (
            "count",
            "本期列入且已销项",
            "Listed and written off",
            "listed in the period, written off by its end",
        ),
        "listed_kept": (
            "count",
            "本期列入（不含不予受理、合并）",
            "Listed, less rejected/merged",
            "listed − rejected/merged by the period end",
        ),
        "mean_days_to_write_off": (
            "days",
            "平均销项用时（工作日）",
            "Mean working days to write-off",
            "mean work_seconds ÷ 27000 of cases written off in the period",
        ),
        "p90_days_to_write_off": (
            "days",
            "90%销项用时（工作日）",
            "P90 working days to write-off",
            "percentile_cont(0.9) of the same",
        ),
        "rework_rate": (
            "rate",
            "返工率",
            "Rework rate",
            "rework steps ÷ (rework + pass_inspection steps)",
        ),
        "reworks": ("count", "返工", "Reworks", "rework steps in the period"),
        "inspections": (
            "count",
            "验收",
            "Inspections",
            "rework + pass_inspection steps in the period",
        ),
        "escalations": ("count", "上报", "Escalations", "sum of the four below"),
        "escalations_by.area_to_street": (
            "count",
            "  片区上报街道",
            "  area → street",
            "escalate steps",
        ),
        "escalations_by.street_to_district": (
            "count",
            "  街道上报区级",
            "  street → district",
            "escalate_district steps",
        ),
        "escalations_by.third_rework": (
            "count",
            "  第三次返工上报",
            "  third rework",
            "rework steps into escalated",
        ),
        "escalations_by.sla_timer": (
            "count",
            "  超时自动上报",
            "  SLA timer",
            "sla:escalate notes",
        ),
        "on_hold": (
            "count",
            "期末挂账",
            "On hold at period end",
            "open at the end in hold_requested/on_hold/review",
        ),
    },
    "grid_asks": {
        "raised": ("count", "举手（网格出题）", "Questions raised", "created in the period"),
        "answered": ("count", "已答复", "Answered", "questions with an answer step in the period"),
        "on_time_answer_rate": (
            "rate",
            "按时答复率",
            "On-time answer rate",
            "answers_on_time ÷ answer_deadlines",
        ),
        "answers_on_time": (
            "count",
            "按时答复",
            "Answered on time",
            "answer steps due in the period, late_s NULL",
        ),
        "answer_deadlines": (
            "count",
            "本期到期答复时限",
            "Answer deadlines due",
            "answer steps due in the period + unanswered past due",
        ),
        "answers_late": (
            "count",
            "逾期答复",
            "Answered late",
            "answer steps due in the period, late_s set",
        ),
        "unanswered_overdue": (
            "count",
            "到期未答复",
            "Unanswered past due",
            "open on the answer clock, due in the period, before now",
        ),
        "sign_on_time_rate": ("rate", "按时签收率", "Sign-in on time", "signs_on_time ÷ signs"),
        "signs_on_time": (
            "count",
            "1个工作日内签收",
            "Signed within 1 working day",
            "sign steps with elapsed_s ≤ 27000",
        ),
        "signs": ("count", "签收", "Signed", "sign steps in the period"),
        "return_rate": ("rate", "退回率", "Return rate", "returns ÷ dispatches"),
        "returns": ("count", "退回", "Returns", "return steps in the period"),
        "dispatches": (
            "count",
            "派单",
            "Dispatches",
            "dispatch + dispatch_direct + redispatch steps",
        ),
        "upheld_return_rate": (
            "rate",
            "退回成立率",
            "Upheld-return rate",
            "upheld_returns ÷ returns",
        ),
        "upheld_returns": (
            "count",
            "退回成立",
            "Returns upheld",
            "uphold_return steps in the period",
        ),
        "extension_rate": (
            "rate",
            "申请延期率",
            "Extension rate",
            "extension_requests ÷ dispatches",
        ),
        "extension_requests": (
            "count",
            "申请延期",
            "Extensions requested",
            "request_extension steps",
        ),
        "extensions_approved": (
            "count",
            "批准延期",
            "Extensions approved",
            "approve_extension steps",
        ),
        "extensions_rejected": (
            "count",
            "驳回延期",
            "Extensions rejected",
            "reject_extension steps",
        ),
        "satisfaction_rate": (
            "rate",
            "满意率",
            "Satisfaction",
            "(satisfied + basically_satisfied) ÷ confirmations",
        ),
        "unsatisfied_rate": ("rate", "不满意率", "Unsatisfied rate", "unsatisfied ÷ confirmations"),
        "confirmations": (
            "count",
            "有效评价",
            "Confirmations",
            "explicit confirm steps in the period",
        ),
        "satisfied": ("count", "满意", "Satisfied", "confirm steps, satisfaction = satisfied"),
        "basically_satisfied": (
            "count",
            "基本满意",
            "Basically satisfied",
            "confirm steps, satisfaction = basically_satisfied",
        ),
        "unsatisfied": (
            "count",
            "不满意",
            "Unsatisfied",
            "confirm steps, satisfaction = unsatisfied",
        ),
        "auto_confirmed": (
            "count",
            "逾期默认满意（不计入）",
            "Confirmed by default (not counted)",
            "auto_confirm steps",
        ),
    },
    "dept_asks": {
        "published": (
            "count",
            "部门出题",
            "Questions published",
            "published in the period, reaching the unit",
        ),
        "responded": (
            "count",
            "有网格举手",
            "With a hand raised",
            "of those, ≥ 1 hand from the unit by the period end",
        ),
        "response_rate": ("rate", "响应率", "Response rate", "responded ÷ published"),
        "completed": (
            "count",
            "已完成",
            "Completed",
            "of those published, completed by the period end",
        ),
        "completion_rate": ("rate", "完成率", "Completion rate", "completed ÷ published"),
        "hands": (
            "count",
            "举手次数",
            "Hands raised",
            "raise_hand steps by the unit's grids in the period",
        ),
        "participating_microgrids": (
            "count",
            "参与微网格",
            "Micro-grids taking part",
            "distinct micro-grids with a hand in the period",
        ),
        "microgrids": ("count", "微网格总数", "Micro-grids", "micro-grids in the subtree"),
        "participation_rate": (
            "rate",
            "微网格参与率",
            "Micro-grid participation",
            "participating_microgrids ÷ microgrids",
        ),
    },
}

RATES: dict[str, tuple[str, str]] = {
    "write_off_rate": ("written_off_of_listed", "listed_kept"),
    "rework_rate": ("reworks", "inspections"),
    "on_time_answer_rate": ("answers_on_time", "answer_deadlines"),
    "sign_on_time_rate": ("signs_on_time", "signs"),
    "return_rate": ("returns", "dispatches"),
    "upheld_return_rate": ("upheld_returns", "returns"),
    "extension_rate": ("extension_requests", "dispatches"),
    "satisfaction_rate": ("__satisfied_or_basically", "confirmations"),
    "unsatisfied_rate": ("unsatisfied", "confirmations"),
    "response_rate": ("responded", "published"),
    "completion_rate": ("completed", "published"),
    "participation_rate": ("participating_microgrids", "microgrids"),
}

OVERDUE_COLUMNS = {
    "rank": ("#", "#"),
    "unit": ("单位", "Unit"),
    "department": ("部门", "Department"),
    "name": ("名称", "Name"),
    "overdue": ("超期件数", "Overdue"),
    "oldest_due": ("最早到期", "Oldest due"),
    "max_days_overdue": ("最长超期（工作日）", "Most days overdue"),
}

TEXT = {
    "title": ("运行指标", "KPIs"),
    "unit": ("单位", "Unit"),
    "all_units": ("全部", "all units"),
    "period": ("统计期", "Period"),
    "as_of": ("超期截至", "Overdue as of"),
    "metric": ("指标", "Metric"),
    "value": ("数值", "Value"),
    "formula": ("口径", "Formula"),
    "key": ("字段", "Key"),
    "by_unit": ("按单位", "By unit"),
    "by_department": ("按部门", "By department"),
    "none_overdue": ("无超期案件", "nothing overdue"),
    "total": ("合计", "Total"),
}


def _t(key: str, lang: str) -> str:
    zh, en = TEXT[key]
    return en if lang == "en" else zh


def _get(group: dict, key: str) -> Any:
    value: Any = group
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def fmt(value: Any, kind: str = "count") -> str:
    """A figure as people read it: None → "—", rates as percentages, days to one decimal."""
    if value is None:
        return DASH
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "days":
        return f"{value:.1f}"
    return str(value)


def _rate_parts(group: dict, key: str) -> tuple[Any, Any]:
    num_key, den_key = RATES[key]
    num = (
        (group.get("satisfied") or 0) + (group.get("basically_satisfied") or 0)
        if num_key == "__satisfied_or_basically"
        else group.get(num_key)
    )
    return num, group.get(den_key)


def metric_rows(
    kpis: dict, group: str, lang: str = "zh-CN"
) -> list[tuple[str, str, Any, str, str]]:
    """(key, label, raw value, shown value, formula) for each figure of ``group``."""
    lang = norm_lang(lang)
    data = kpis.get(group) or {}
    rows = []
    for key, (kind, zh, en, formula) in METRICS[group].items():
        raw = _get(data, key)
        shown = fmt(raw, kind)
        if kind == "rate":
            num, den = _rate_parts(data, key)
            if den:
                shown += f" ({num}/{den})"
        rows.append((key, en if lang == "en" else zh, raw, shown, formula))
    return rows


def _unit_text(kpis: dict, lang: str) -> str:
    if not kpis.get("unit"):
        return _t("all_units", lang)
    name = kpis.get("unit_name_en") if lang == "en" else kpis.get("unit_name")
    return f"{name} ({kpis['unit']})"


def _local_date(iso: str | None, tz: str) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def _local_time(iso: str | None, tz: str) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _overdue_rows(kpis: dict, which: str, lang: str) -> tuple[list[str], list[list[Any]]]:
    key = "unit" if which == "by_unit" else "department"
    tz = (kpis.get("period") or {}).get("tz", "Asia/Shanghai")
    cols = ["rank", key, "name", "overdue", "oldest_due", "max_days_overdue"]
    headers = [OVERDUE_COLUMNS[c][1 if lang == "en" else 0] for c in cols]
    rows = []
    for item in (kpis.get("overdue") or {}).get(which) or []:
        rows.append(
            [
                item.get("rank"),
                item.get(key),
                item.get("name_en") if lang == "en" else item.get("name"),
                item.get("overdue"),
                _local_date(item.get("oldest_due"), tz),
                fmt(item.get("max_days_overdue"), "days"),
            ]
        )
    return headers, rows


# ---- table / JSON / CSV / XLSX ------------------------------------------------------------------
def width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def box(
    rows: list[list[Any]] | list[tuple[Any, ...]],
    headers: list[str] | None = None,
    *,
    numeric: tuple[int, ...] = (),
) -> str:
    """A boxed text table; columns in ``numeric`` are right-aligned."""
    cells = [[str(v) for v in row] for row in rows]
    head = [str(h) for h in headers] if headers else None
    ncol = max([len(r) for r in cells] + [len(head) if head else 0])
    widths = [
        max([width(r[i]) for r in cells if i < len(r)] + ([width(head[i])] if head else []))
        for i in range(ncol)
    ]

    def line(row: list[str]) -> str:
        out = []
        for i in range(ncol):
            text = row[i] if i < len(row) else ""
            pad = " " * (widths[i] - width(text))
            out.append(pad + text if i in numeric else text + pad)
        return "│ " + " │ ".join(out) + " │"

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    lines = [rule("┌", "┬", "┐")]
    if head:
        lines += [line(head), rule("├", "┼", "┤")]
    lines += [line(r) for r in cells]
    lines.append(rule("└", "┴", "┘"))
    return "\n".join(lines)


def as_table(kpis: dict, lang: str = "zh-CN") -> str:
    """The KPIs as plain-text tables for people."""
    lang = norm_lang(lang)
    p = kpis.get("period") or {}
    tz = p.get("tz", "Asia/Shanghai")
    out = [
        f"{_t('title', lang)} — {_t('unit', lang)}: {_unit_text(kpis, lang)}",
        f"{_t('period', lang)}: {p.get('label') or ''} ({p.get('from')} … {p.get('to')}, {tz})",
        f"{_t('as_of', lang)}: {_local_time(kpis.get('now'), tz)}",
    ]
    for group in ("four_list", "grid_asks", "dept_asks"):
        zh, en = GROUPS[group]
        rows = [(label, shown) for _k, label, _raw, shown, _f in metric_rows(kpis, group, lang)]
        out += ["", en if lang == "en" else zh, box(rows, numeric=(1,))]
    zh, en = GROUPS["overdue"]
    total = (kpis.get("overdue") or {}).get("total", 0)
    out += ["", f"{en if lang == 'en' else zh} ({_t('total', lang)} {total})"]
    for which in ("by_unit", "by_department"):
        headers, rows = _overdue_rows(kpis, which, lang)
        out.append(_t(which, lang))
        out.append(
            box(rows, headers, numeric=(0, 3, 5)) if rows else f"  {_t('none_overdue', lang)}"
        )
    return "\n".join(out)


def as_json(kpis: dict) -> str:
    return json.dumps(kpis, ensure_ascii=False, indent=2, default=str)


CSV_HEADER = ["group", "item", "metric", "value"]


def csv_rows(kpis: dict) -> list[list[Any]]:
    """Long format: one row per figure; overdue leagues as one row per (unit, column).
    Rates are fractions; a missing value (zero denominator) is an empty cell."""
    rows: list[list[Any]] = [["period", "", k, v] for k, v in (kpis.get("period") or {}).items()]
    rows.append(["scope", "", "unit", kpis.get("unit") or ""])
    rows.append(["scope", "", "now", kpis.get("now") or ""])
    for group in ("four_list", "grid_asks", "dept_asks"):
        for key, _label, raw, _shown, _f in metric_rows(kpis, group):
            rows.append([group, "", key, "" if raw is None else raw])
    overdue = kpis.get("overdue") or {}
    rows.append(["overdue", "", "total", overdue.get("total", 0)])
    for which, key in (("by_unit", "unit"), ("by_department", "department")):
        for item in overdue.get(which) or []:
            for col in ("rank", "overdue", "oldest_due", "max_days_overdue"):
                value = item.get(col)
                rows.append(
                    [f"overdue_{which}", item.get(key), col, "" if value is None else value]
                )
    return rows


def as_csv(kpis: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    w.writerows(csv_rows(kpis))
    return buf.getvalue()


def write_csv(kpis: dict, path) -> None:
    """CSV in UTF-8 with a BOM (so Excel reads the Chinese right)."""
    _write(path, as_csv(kpis).encode("utf-8-sig"))


SHEETS = {
    "four_list": "four_list",
    "grid_asks": "grid_asks",
    "dept_asks": "dept_asks",
    "by_unit": "overdue_by_unit",
    "by_department": "overdue_by_department",
}


def write_xlsx(kpis: dict, path, lang: str = "zh-CN") -> None:
    """A workbook: an ``about`` sheet (unit, period) and one sheet per KPI group. Rates are
    numbers formatted as percentages; a missing value (zero denominator) is "—"."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    lang = norm_lang(lang)
    bold = Font(bold=True)
    wb = Workbook()
    about = wb.active
    about.title = "about"
    p = kpis.get("period") or {}
    tz = p.get("tz", "Asia/Shanghai")
    for row in (
        (_t("title", lang), ""),
        (_t("unit", lang), _unit_text(kpis, lang)),
        (_t("period", lang), p.get("label") or ""),
        ("from", p.get("from")),
        ("to", p.get("to")),
        ("tz", tz),
        (_t("as_of", lang), _local_time(kpis.get("now"), tz)),
    ):
        about.append(list(row))
    about["A1"].font = bold
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 40
    for group in ("four_list", "grid_asks", "dept_asks"):
        ws = wb.create_sheet(SHEETS[group])
        ws.append([_t("key", lang), _t("metric", lang), _t("value", lang), _t("formula", lang)])
        for cell in ws[1]:
            cell.font = bold
        for key, label, raw, _shown, formula in metric_rows(kpis, group, lang):
            kind = METRICS[group][key][0]
            ws.append([key, label.strip(), DASH if raw is None else raw, formula])
            cell = ws.cell(row=ws.max_row, column=3)
            if raw is not None and kind == "rate":
                cell.number_format = "0.0%"
            elif raw is not None and kind == "days":
                cell.number_format = "0.00"
        for col, width in zip("ABCD", (30, 34, 12, 60), strict=True):
            ws.column_dimensions[col].width = width
    for which in ("by_unit", "by_department"):
        ws = wb.create_sheet(SHEETS[which])
        headers, _rows = _overdue_rows(kpis, which, lang)
        ws.append(headers)
        for cell in ws[1]:
            cell.font = bold
        key = "unit" if which == "by_unit" else "department"
        for item in (kpis.get("overdue") or {}).get(which) or []:
            ws.append(
                [
                    item.get("rank"),
                    item.get(key),
                    item.get("name_en") if lang == "en" else item.get("name"),
                    item.get("overdue"),
                    _local_date(item.get("oldest_due"), tz),
                    DASH if item.get("max_days_overdue") is None else item["max_days_overdue"],
                ]
            )
        for col, width in zip("ABCDEF", (6, 18, 28, 12, 14, 20), strict=True):
            ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    _write(path, buf.getvalue())


def _write(path, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- SVG charts ---------------------------------------------------------------------------------
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


def monthly_bars(monthly: list[dict], lang: str, *, title: str, legend: tuple[str, str]) -> Markup:
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


# ---- the yearly report --------------------------------------------------------------------------
YEARLY_STEPS = 8  # progress ticks of yearly_html: 5 queries, charts, tables, render

SATISFACTION = {
    "satisfied": ("满意", "Satisfied"),
    "basically_satisfied": ("基本满意", "Basically satisfied"),
    "unsatisfied": ("不满意", "Unsatisfied"),
    "auto_confirmed": ("逾期默认满意", "Confirmed by default"),
}
WORKFLOW_NAMES = {"four_list": ("四单", "Four-list"), "raise_hand": ("举手", "Raise hand")}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _short(text: Any, width: int = 60) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def yearly_html(
    engine,
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

    def day(iso):
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


_YEARLY_TEXT = {
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
