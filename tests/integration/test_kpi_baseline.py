"""The built-ins' KPIs, now declared in their YAML, give exactly the figures the Python
formulas gave before (issue #15).

``tests/data/kpi_baseline/`` holds what ``gridflow.builtin.kpis.compute`` (removed) returned,
captured before the change (``capture.py`` says how): for every unit of the sample org and
for all units, on the demo quarter with seed 1 (2026Q3, 2026-08, 2026) and on the hand-built
world of ``test_kpi.py`` (2026Q1, 2026Q2, 2026-01, 2026). Each of those ~6000 dicts is
compared here with ``Engine.kpis`` figure by figure: the old groups ``four_list``,
``grid_asks`` and ``dept_asks`` are now sections of those ids (the nested
``escalations_by.*`` are figures of their own), the overdue league is unchanged.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA
from test_kpi import build_world

from gridflow.domain.period import Period

BASELINE = DATA / "kpi_baseline"


def _period(label: str, start: str | None = None, end: str | None = None) -> Period:
    if start and end:
        return Period(datetime.fromisoformat(start), datetime.fromisoformat(end), label)
    return Period.parse(label)


def _flat(old: dict[str, Any]) -> dict[str, Any]:
    """An old group with its nested figures (``escalations_by``) as figures of their own."""
    out = {}
    for key, value in old.items():
        if isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every figure that differs between an old ``compute()`` dict and ``Engine.kpis``."""
    found = []
    for key in ("unit", "unit_name", "unit_name_en", "unit_kind", "period", "now"):
        if old[key] != new[key]:
            found.append(f"{key}: {old[key]!r} != {new[key]!r}")
    for group in ("four_list", "grid_asks", "dept_asks"):
        figures = new["sections"][group]["figures"]
        for key, value in _flat(old[group]).items():
            if figures.get(key, "<missing>") != value:
                found.append(f"{group}.{key}: {value!r} != {figures.get(key, '<missing>')!r}")
    if old["overdue"] != new["overdue"]:
        found.append(f"overdue: {old['overdue']!r} != {new['overdue']!r}")
    return found


def compare(engine, baseline: dict[str, Any]) -> tuple[int, list[str]]:
    now = datetime.fromisoformat(baseline["now"])
    periods: dict[str, Period] = {}
    found, compared = [], 0
    for key, old in baseline["figures"].items():
        label, unit = key.split("|")
        p = old["period"]
        if label not in periods:
            periods[label] = Period(
                datetime.fromisoformat(p["start"]),
                datetime.fromisoformat(p["end"]),
                p["label"],
                p["tz"],
            )
        new = engine.kpis(unit=unit or None, period=periods[label], now=now)
        found += [f"{key}: {d}" for d in differences(old, new)]
        compared += 1
    return compared, found


def test_the_test_kpi_world_gives_the_figures_it_gave(tmp_path: Path):
    baseline = json.loads((BASELINE / "kpi_world.json").read_text(encoding="utf-8"))
    w = build_world(f"sqlite:///{tmp_path / 'kpi.db'}")
    try:
        compared, found = compare(w.engine, baseline)
    finally:
        w.engine.close()
    assert compared == len(baseline["figures"]) > 300
    assert found == [], "\n".join(found[:40])


@pytest.mark.slow
def test_the_demo_quarter_seed_1_gives_the_figures_it_gave(tmp_path: Path):
    from gridflow.builtin import demo
    from gridflow.service.engine import Engine

    baseline = json.loads((BASELINE / "demo_seed1.json").read_text(encoding="utf-8"))
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = demo.run(db_url=url, seed=1, quarter="2026Q3")
    engine = Engine(url, clock=lambda: result.period[1])
    try:
        compared, found = compare(engine, baseline)
        headline = engine.kpis(
            unit="fenglin", period=Period(*result.period, "2026Q3"), now=result.period[1]
        )["sections"]["four_list"]["headline"]
    finally:
        engine.close()
    assert compared == len(baseline["figures"]) > 250
    assert found == [], "\n".join(found[:40])
    # what ``gridflow demo`` prints first, from the headline four_list.yaml declares
    assert headline["zh"] == "本季度共梳理片区疑难问题205个，解决88个，正在推进中81个。"
