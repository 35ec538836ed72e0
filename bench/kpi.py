"""Reports: ``Engine.kpis`` (the built-ins' ``kpis:`` blocks) over a large data set, on SQLite
and PostgreSQL.

The data set is bench/generate.py's natural mix (four-list problems, grid questions,
department questions; open and closed) — 1M cases in the full run. The report is the
street's (``unit="fenglin"``: every case in its subtree) over the twelve months up to the end
of the data, as of that moment; an area's report (``wannan``) is timed too.

Floor: one pass over the same rows — ``SELECT count(*), count(closed_at), avg(work_seconds)
FROM gf_case`` and ``SELECT count(*), avg(elapsed_s) FROM gf_history`` — in the same
transaction style; the ratio says how many such passes the report costs. The first report
after opening the database is reported apart (cold: SQLite's and the OS's caches).

When the engine has no ``kpis`` (an older gridflow), the benchmark is skipped with a note.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/kpi.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    FixedClock,
    fmt,
    pg_schema,
    pg_unavailable,
    sqlite_url,
    summary,
)

UNITS = {"street": "fenglin", "area": "wannan"}


def available() -> str | None:
    """None when the KPI module can be benchmarked, else why not."""
    from gridflow.service.engine import Engine

    if not hasattr(Engine, "kpis"):
        return "this gridflow's Engine has no kpis()"
    return None


def _period(as_of: datetime):
    from gridflow.domain.period import Period

    local_end = as_of.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    start = local_end - timedelta(days=364)
    return Period.parse(start=start.isoformat(), end=local_end.isoformat())


def _floor(engine) -> float:
    import sqlalchemy as sa

    t = time.perf_counter()
    with engine.store.read() as conn:
        conn.execute(
            sa.text("SELECT count(*), count(closed_at), avg(work_seconds) FROM gf_case")
        ).one()
        conn.execute(sa.text("SELECT count(*), avg(elapsed_s) FROM gf_history")).one()
    return time.perf_counter() - t


def _report(engine, unit: str, period, as_of: datetime) -> tuple[float, dict]:
    t = time.perf_counter()
    out = engine.kpis(unit=unit, period=period, now=as_of)
    return time.perf_counter() - t, out


# (module or class, attribute): the passes and the figure and league arithmetic
PARTS = (
    ("gridflow.storage.kpi:KpiQueries", "case_groups"),
    ("gridflow.storage.kpi:KpiQueries", "step_groups"),
    ("gridflow.service.kpi", "compute_sections"),
    ("gridflow.service.kpi", "overdue"),
)


def parts(engine, unit: str, period, as_of: datetime) -> list[dict]:
    """One report with each part timed from call to return (rows fetched included: SQLite
    streams a grouped query, so timing ``execute`` alone would miss most of it), and the
    thread it ran on — the case and step passes overlap."""
    import importlib
    import threading

    def owner(where: str) -> Any:
        module, _, cls = where.partition(":")
        mod = importlib.import_module(module)
        return getattr(mod, cls) if cls else mod

    timed: list[dict] = []
    originals = {(where, name): getattr(owner(where), name) for where, name in PARTS}

    def timer(name: str, fn):
        def run(*args, **kw):
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                timed.append(
                    {
                        "part": name,
                        "s": round(time.perf_counter() - t, 4),
                        "thread": "main"
                        if threading.current_thread() is threading.main_thread()
                        else "worker",
                    }
                )

        return run

    for (where, name), fn in originals.items():
        setattr(owner(where), name, timer(name, fn))
    try:
        whole = _report(engine, unit, period, as_of)[0]
    finally:
        for (where, name), fn in originals.items():
            setattr(owner(where), name, fn)
    for x in timed:
        x["share"] = round(x["s"] / whole, 3)
    return [{"part": "whole report", "s": round(whole, 4), "thread": "", "share": 1.0}, *timed]


def measure(url: str, as_of: datetime, repeats: int, log=print) -> dict[str, Any]:
    from gridflow.service.engine import Engine

    engine = Engine(url, clock=FixedClock(as_of))
    period = _period(as_of)
    cold, first = _report(engine, UNITS["street"], period, as_of)
    times: dict[str, list[float]] = {"floor": [], **{k: [] for k in UNITS}}
    for _ in range(repeats):
        times["floor"].append(_floor(engine))
        for label, unit in UNITS.items():
            times[label].append(_report(engine, unit, period, as_of)[0])
    split = parts(engine, UNITS["street"], period, as_of)
    engine.close()
    ratios = [s / f for s, f in zip(times["street"], times["floor"], strict=True)]
    res = {
        "period": period.label,
        "cold_street_s": round(cold, 3),
        "seconds": {k: summary(v) for k, v in times.items()},
        "street_vs_floor": summary(ratios, 2),
        "parts": split,
        "sample": {
            f"{sid}_{key}": section["figures"].get(key)
            for sid, section in first.get("sections", {}).items()
            for key in list(section["figures"])[:1]
        }
        | {"overdue_total": first.get("overdue", {}).get("total")},
    }
    log(
        f"    street report {fmt(res['seconds']['street'], ' s')} (cold {res['cold_street_s']} s), "
        f"area {fmt(res['seconds']['area'], ' s')}, floor {fmt(res['seconds']['floor'], ' s')}"
    )
    return res


def run(quick: bool = False, log=print) -> dict[str, Any]:
    why = available()
    if why:
        log(f"  kpi: skipped — {why}")
        return {"skipped": why}
    from bench.generate import ensure_sqlite, generate

    logging.getLogger("gridflow").setLevel(logging.ERROR)
    size = 20_000 if quick else 1_000_000
    repeats = 3 if quick else 5
    out: dict[str, Any] = {"cases": size, "repeats": repeats}
    path = RESULTS / f"mixed-{size}.db"
    meta = ensure_sqlite(path, size, None, log=lambda m: log(f"  [generate {size:,}] {m}"))
    as_of = datetime.fromisoformat(meta["as_of"])
    out["dataset"] = {k: meta[k] for k in ("cases", "open_cases", "history_rows", "timer_rows")}
    log(f"  kpi: SQLite, {size:,} cases")
    out["sqlite"] = measure(sqlite_url(path), as_of, repeats, log)
    reason = pg_unavailable()
    if reason:
        out["postgresql"] = {"skipped": reason}
    else:
        with pg_schema("kpi") as url:
            log(f"  kpi: PostgreSQL, generating {size:,} cases (COPY) …")
            gen = generate(url, size, log=lambda m: log(f"  [generate pg] {m}"))
            out["postgresql_generate_s"] = gen["seconds"]
            out["postgresql"] = measure(url, as_of, repeats, log)
    out["target"] = "street KPI report over the data set < 2 s on SQLite"
    # the target is for 1M cases: a quick run's small data set is not judged
    fast = out["sqlite"]["seconds"]["street"]["median"] < 2.0
    out["met"] = fast if size >= 1_000_000 else None
    return out


def rows(res: dict[str, Any]) -> list[list[str]]:
    if "skipped" in res:
        return [["KPI report", "skipped", res["skipped"], ""]]
    out = []
    for db in ("sqlite", "postgresql"):
        r = res.get(db, {})
        if "skipped" in r:
            out.append([db, "skipped", r["skipped"], ""])
            continue
        out.append(
            [
                f"{db}: street (`fenglin`), {r['period']}",
                fmt(r["seconds"]["street"], " s"),
                f"{fmt(r['street_vs_floor'])} × floor ({fmt(r['seconds']['floor'], ' s')})",
                f"cold {r['cold_street_s']:.2f} s; area `wannan` {fmt(r['seconds']['area'], ' s')}",
            ]
        )
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
