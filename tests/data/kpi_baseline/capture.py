"""How ``demo_seed1.json`` and ``kpi_world.json`` were made: the KPI figures of the code as it
was before issue #15 (``gridflow.builtin.kpis.compute``, Python formulas naming four_list and
raise_hand), captured once, before the KPIs moved into the workflow YAML.

Run at commit cc586cd with ``python tests/data/kpi_baseline/capture.py`` (from the worktree
root). It does not run against later code — ``gridflow.builtin.kpis`` is gone — and is kept as
the record of what the fixtures hold: for every unit of the sample org (and all units), the
dict ``compute()`` returned for

* the demo quarter, seed 1 (``gridflow demo`` as shipped): 2026Q3, 2026-08 and 2026 with
  "now" at the quarter's end;
* the hand-built world of ``tests/integration/test_kpi.py``: 2026Q1, 2026Q2, 2026-01, 2026
  with "now" at its NOW.

``tests/integration/test_kpi_baseline.py`` compares every figure of the new code with these.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]


def _capture(engine, periods, now) -> dict:
    from gridflow.builtin.kpis import compute

    units = [None, *sorted(engine.directory.units)]
    out: dict = {}
    for period in periods:
        for unit in units:
            key = f"{period.label}|{unit or ''}"
            out[key] = compute(engine, unit=unit, period=period, now=now)
    return out


def demo() -> dict:
    from gridflow.builtin import demo as sim
    from gridflow.domain.period import Period
    from gridflow.service.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        result = sim.run(db_url=url, seed=1, quarter="2026Q3")
        start, end = result.period
        engine = Engine(url, clock=lambda: end)
        try:
            periods = [
                Period(start, end, "2026Q3", "Asia/Shanghai"),
                Period.parse("2026-08"),
                Period.parse("2026"),
            ]
            return {"now": end.isoformat(), "figures": _capture(engine, periods, end)}
        finally:
            engine.close()


def world() -> dict:
    from test_kpi import NOW, build_world

    from gridflow.domain.period import Period

    with tempfile.TemporaryDirectory() as tmp:
        w = build_world(f"sqlite:///{tmp}/kpi.db")
        try:
            periods = [Period.parse(p) for p in ("2026Q1", "2026Q2", "2026-01", "2026")]
            return {"now": NOW.isoformat(), "figures": _capture(w.engine, periods, NOW)}
        finally:
            w.engine.close()


if __name__ == "__main__":
    for name, fn in (("kpi_world.json", world), ("demo_seed1.json", demo)):
        (HERE / name).write_text(
            json.dumps(fn(), ensure_ascii=False, indent=None, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        print("wrote", HERE / name)
