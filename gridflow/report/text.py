"""The KPIs as text for people: figures formatted, and boxed plain-text tables.

The input is the dict of ``Engine.kpis`` (``Reports.compute``): its ``sections`` carry their
figures and how each is shown (``metrics``: label, kind, formula, rate parts), as the
workflows' ``kpis:`` blocks declare them — nothing here knows a workflow.

Contract:

* :func:`fmt` shows one figure: ``None`` (a zero denominator) as ``DASH`` ("—"), a rate as a
  percentage to one decimal, days to one decimal, a count as is.
* :func:`metric_rows` lists a section's shown figures in their declared order, a figure
  ``under`` another indented, a rate with its numerator and denominator beside it
  ("63.3% (107/169)").
* :func:`box` draws a table like ``tabulate``'s ``simple_outline``, but measures East Asian wide
  and full-width characters as two columns (:func:`width`) — ``tabulate`` needs the optional
  ``wcwidth`` for that; :func:`as_table` is the whole KPI dict as such tables.
* :func:`norm_lang` reads a language (``zh``, ``zh_CN``, ``en-US``…) as one of ``LANGS`` or
  raises ``ReportError``.

The other report modules share this module's words and helpers: ``_t`` (a word of ``TEXT``),
``_unit_text``, ``_local_date``/``_local_time`` (an ISO instant in the report's timezone),
``_short`` (one line, cut with "…") and ``_overdue_rows`` (the overdue leagues).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridflow.errors import ReportError

DASH = "—"
LANGS = ("zh-CN", "en")


def norm_lang(lang: str | None) -> str:
    """``zh``/``zh-CN``/``zh_CN`` → ``zh-CN``; ``en``/``en-US``… → ``en``."""
    low = (lang or "zh-CN").replace("_", "-").lower()
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    raise ReportError(f"language {lang!r} is not supported (zh-CN or en)")


# ---- the tables' own words ----------------------------------------------------------------------
OVERDUE_COLUMNS: dict[str, tuple[str, str]] = {
    "rank": ("#", "#"),
    "unit": ("单位", "Unit"),
    "department": ("部门", "Department"),
    "name": ("名称", "Name"),
    "overdue": ("超期件数", "Overdue"),
    "oldest_due": ("最早到期", "Oldest due"),
    "max_days_overdue": ("最长超期（工作日）", "Most days overdue"),
}

TEXT: dict[str, tuple[str, str]] = {
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
    "overdue": ("当前超期", "Overdue now"),
    "no_sections": ("没有工作流", "no workflows"),
}


def _t(key: str, lang: str) -> str:
    zh, en = TEXT[key]
    return en if lang == "en" else zh


def pick(text: dict[str, str] | None, lang: str) -> str:
    """A ``{zh, en}`` text in ``lang`` (English falling back to Chinese)."""
    if not text:
        return ""
    return (text.get("en") or text.get("zh") or "") if lang == "en" else text.get("zh") or ""


def sections(kpis: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The report's sections, in order: (id, section)."""
    return list((kpis.get("sections") or {}).items())


def fmt(value: Any, kind: str = "count") -> str:
    """A figure as people read it: None → "—", rates as percentages, days to one decimal."""
    if value is None:
        return DASH
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "days":
        return f"{value:.1f}"
    return str(value)


def metric_rows(
    kpis: dict[str, Any], section: str, lang: str = "zh-CN"
) -> list[tuple[str, str, Any, str, str]]:
    """(key, label, raw value, shown value, formula) for each shown figure of ``section``
    (a figure ``under`` another has its label indented by two spaces)."""
    lang = norm_lang(lang)
    data = (kpis.get("sections") or {}).get(section) or {}
    values = data.get("figures") or {}
    rows = []
    for m in data.get("metrics") or []:
        if m.get("hidden"):
            continue
        key, kind = m["key"], m.get("kind", "count")
        raw = values.get(key)
        shown = fmt(raw, kind)
        parts = m.get("rate")
        if kind == "rate" and parts:
            num, den = values.get(parts[0]), values.get(parts[1])
            if den:
                shown += f" ({num}/{den})"
        label = ("  " if m.get("under") else "") + pick(m.get("label"), lang)
        rows.append((key, label, raw, shown, m.get("formula") or ""))
    return rows


def _unit_text(kpis: dict[str, Any], lang: str) -> str:
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


def _short(text: Any, width: int = 60) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _overdue_rows(kpis: dict[str, Any], which: str, lang: str) -> tuple[list[str], list[list[Any]]]:
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


# ---- boxed tables -------------------------------------------------------------------------------
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


def headlines(kpis: dict[str, Any], lang: str = "zh-CN") -> list[str]:
    """The headlines the sections declare (what the street quotes), in ``lang``."""
    lang = norm_lang(lang)
    return [pick(s["headline"], lang) for _sid, s in sections(kpis) if s.get("headline")]


def as_table(kpis: dict[str, Any], lang: str = "zh-CN") -> str:
    """The KPIs as plain-text tables for people: one per section, then the overdue league."""
    lang = norm_lang(lang)
    p = kpis.get("period") or {}
    tz = p.get("tz", "Asia/Shanghai")
    out = [
        f"{_t('title', lang)} — {_t('unit', lang)}: {_unit_text(kpis, lang)}",
        f"{_t('period', lang)}: {p.get('label') or ''} ({p.get('from')} … {p.get('to')}, {tz})",
        f"{_t('as_of', lang)}: {_local_time(kpis.get('now'), tz)}",
    ]
    for sid, section in sections(kpis):
        rows = [(label, shown) for _k, label, _raw, shown, _f in metric_rows(kpis, sid, lang)]
        out += ["", pick(section.get("label"), lang) or sid, box(rows, numeric=(1,))]
    total = (kpis.get("overdue") or {}).get("total", 0)
    out += ["", f"{_t('overdue', lang)} ({_t('total', lang)} {total})"]
    for which in ("by_unit", "by_department"):
        headers, league = _overdue_rows(kpis, which, lang)
        out.append(_t(which, lang))
        out.append(
            box(league, headers, numeric=(0, 3, 5)) if league else f"  {_t('none_overdue', lang)}"
        )
    return "\n".join(out)
