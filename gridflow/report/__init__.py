"""Reports for people and scripts (report ring): the KPIs of ``Engine.kpis`` as tables and
files, and a unit's yearly report (民情报告) as an HTML page.

One module per idea:

* ``text`` — figures formatted for people (:func:`fmt`, "—" for a zero denominator), a KPI
  group as rows (:func:`metric_rows`), boxed text tables measuring Chinese as two columns
  (:func:`width`, :func:`box`, :func:`as_table`), the language (:func:`norm_lang`) and the
  tables' own words shared by the other modules.
* ``tables`` — JSON, CSV (long format) and the XLSX workbook (:func:`as_json`,
  :func:`csv_rows`, :func:`as_csv`, :func:`write_csv`, :func:`write_xlsx`).
* ``charts`` — the yearly report's inline SVG charts (:func:`monthly_bars`, :func:`donut`).
* ``yearly`` — the yearly report page (:func:`yearly_html`, ``YEARLY_STEPS`` progress ticks),
  rendered from the Jinja templates in ``templates/``.

What each figure is called, and its formula, comes with the figures: each workflow declares
them in its ``kpis:`` block, and the dict carries them (``sections[id].metrics``).
"""

from __future__ import annotations

from gridflow.report.charts import donut, monthly_bars
from gridflow.report.tables import as_csv, as_json, csv_rows, write_csv, write_xlsx
from gridflow.report.text import (
    DASH,
    LANGS,
    as_table,
    box,
    fmt,
    headlines,
    metric_rows,
    norm_lang,
    width,
)
from gridflow.report.yearly import YEARLY_STEPS, yearly_html

__all__ = [
    "DASH",
    "LANGS",
    "YEARLY_STEPS",
    "as_csv",
    "as_json",
    "as_table",
    "box",
    "csv_rows",
    "donut",
    "fmt",
    "headlines",
    "metric_rows",
    "monthly_bars",
    "norm_lang",
    "width",
    "write_csv",
    "write_xlsx",
    "yearly_html",
]
