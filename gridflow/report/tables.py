"""The KPIs as files for scripts and spreadsheets: JSON, CSV and an XLSX workbook.

Contract (the input is the dict of ``Engine.kpis``):

* :func:`as_json` — the dict as is, pretty-printed, non-ASCII kept.
* :func:`csv_rows` / :func:`as_csv` — long format under ``CSV_HEADER``: one row per figure
  (``group`` is the section id), the overdue leagues as one row per (unit, column); rates
  are fractions and a missing value (zero denominator) is an empty cell. :func:`write_csv`
  writes it in UTF-8 with a BOM.
* :func:`write_xlsx` — an ``about`` sheet, one sheet per section (named by its id) and the
  two overdue leagues (``LEAGUE_SHEETS``), via openpyxl; rates are numbers formatted as
  percentages, a missing value is "—".

A file that cannot be written raises ``ReportError`` (never a bare ``OSError``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from gridflow.errors import ReportError
from gridflow.report.text import (
    DASH,
    _local_date,
    _local_time,
    _overdue_rows,
    _t,
    _unit_text,
    metric_rows,
    norm_lang,
    sections,
)

CSV_HEADER = ["group", "item", "metric", "value"]

LEAGUE_SHEETS = {"by_unit": "overdue_by_unit", "by_department": "overdue_by_department"}


def as_json(kpis: dict[str, Any]) -> str:
    """The KPIs as JSON (``str()`` for anything JSON has no type for)."""
    return json.dumps(kpis, ensure_ascii=False, indent=2, default=str)


def csv_rows(kpis: dict[str, Any]) -> list[list[Any]]:
    """Long format: one row per figure; overdue leagues as one row per (unit, column).
    Rates are fractions; a missing value (zero denominator) is an empty cell."""
    rows: list[list[Any]] = [["period", "", k, v] for k, v in (kpis.get("period") or {}).items()]
    rows.append(["scope", "", "unit", kpis.get("unit") or ""])
    rows.append(["scope", "", "now", kpis.get("now") or ""])
    for sid, section in sections(kpis):
        for key, raw in (section.get("figures") or {}).items():
            rows.append([sid, "", key, "" if raw is None else raw])
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


def as_csv(kpis: dict[str, Any]) -> str:
    """:func:`csv_rows` under ``CSV_HEADER`` as CSV text (``\\n`` line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    w.writerows(csv_rows(kpis))
    return buf.getvalue()


def write_csv(kpis: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """CSV in UTF-8 with a BOM (so Excel reads the Chinese right)."""
    _write(path, as_csv(kpis).encode("utf-8-sig"))


def write_xlsx(kpis: dict[str, Any], path: str | os.PathLike[str], lang: str = "zh-CN") -> None:
    """A workbook: an ``about`` sheet (unit, period), one sheet per section and the overdue
    leagues. Rates are numbers formatted as percentages; a missing value (zero denominator)
    is "—"."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    lang = norm_lang(lang)
    bold = Font(bold=True)
    wb = Workbook()
    about = wb.active
    assert about is not None  # a new workbook has one sheet, and it is the active one
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
    for sid, section in sections(kpis):
        ws = wb.create_sheet(sid)
        ws.append([_t("key", lang), _t("metric", lang), _t("value", lang), _t("formula", lang)])
        for cell in ws[1]:
            cell.font = bold
        kinds = {m["key"]: m.get("kind", "count") for m in section.get("metrics") or []}
        for key, label, raw, _shown, formula in metric_rows(kpis, sid, lang):
            kind = kinds.get(key, "count")
            ws.append([key, label.strip(), DASH if raw is None else raw, formula])
            cell = ws.cell(row=ws.max_row, column=3)
            if raw is not None and kind == "rate":
                cell.number_format = "0.0%"
            elif raw is not None and kind == "days":
                cell.number_format = "0.00"
        for col, width in zip("ABCD", (30, 34, 12, 60), strict=True):
            ws.column_dimensions[col].width = width
    for which in ("by_unit", "by_department"):
        ws = wb.create_sheet(LEAGUE_SHEETS[which])
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


def _write(path: str | os.PathLike[str], data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None
