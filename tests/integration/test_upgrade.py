"""Facet columns (workflow ``facets``) and the upgrade of a schema-1 database.

Cases carry their ``tag``/``party``/``grade`` facets as columns; each history row carries
the case's facets as that step left them (the department at a sign, the satisfaction at a
confirm). A database made by schema 1 (no such columns) is upgraded in place on open: the
columns and report indexes are added, filled from the case data, and the KPI report over it
matches the report over the same events recorded by schema 2.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from conftest import FakeClock

from gridflow.domain.period import Period
from gridflow.service.engine import Engine
from gridflow.storage import tables as t
from gridflow.storage.store import FACETS_PENDING

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def _events(engine: Engine) -> dict[str, int]:
    fire = engine.fire
    q = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": "乱停车"}).id
    fire(q, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    fire(q, "return", actor="police.liaison", data={"return_reason": "not_our_duty"}, comment="x")
    fire(q, "redispatch", actor="fenglin.dispatch", data={"department": "city_mgmt"})
    fire(q, "sign", actor="city_mgmt.liaison")
    fire(q, "answer", actor="city_mgmt.liaison", data={"answer": "已清理。"})
    fire(q, "confirm", actor="wannan-r1.chief", data={"satisfaction": "satisfied"})
    d = engine.start(
        "raise_hand",
        actor="police.liaison",
        data={"direction": "dept_asks", "department": "police", "title": "志愿者招募"},
        unit="wannan",
    ).id
    fire(d, "raise_hand", actor="wannan-r1.chief")
    p = engine.start(
        "four_list", actor="wannan-r1.chief", data={"title": "楼道堆物"}, unit="wannan-r1"
    ).id
    return {"question": q, "dept": d, "problem": p}


def _facets(engine: Engine, case_id: int) -> tuple[tuple, list[tuple]]:
    c, h = t.case_t.c, t.history_t.c
    with engine.store.read() as conn:
        case = conn.execute(sa.select(c.tag, c.party, c.grade).where(c.id == case_id)).one()
        steps = conn.execute(
            sa.select(h.trigger, h.workflow_id, h.case_tag, h.case_unit, h.case_party, h.case_grade)
            .where(h.case_id == case_id)
            .order_by(h.seq)
        ).all()
    return tuple(case), [tuple(s) for s in steps]


def test_cases_and_steps_carry_the_workflows_facets(db_url):
    engine = Engine(db_url, clock=FakeClock(T0))
    ids = _events(engine)
    case, steps = _facets(engine, ids["question"])
    assert case == ("grid_asks", "city_mgmt", "satisfied")
    rh, unit = "raise_hand", "wannan-r1"
    assert steps == [
        ("start", rh, "grid_asks", unit, None, None),
        ("dispatch", rh, "grid_asks", unit, "police", None),
        ("return", rh, "grid_asks", unit, "police", None),  # police returned it
        ("redispatch", rh, "grid_asks", unit, "city_mgmt", None),
        ("sign", rh, "grid_asks", unit, "city_mgmt", None),
        ("answer", rh, "grid_asks", unit, "city_mgmt", None),
        ("confirm", rh, "grid_asks", unit, "city_mgmt", "satisfied"),
    ]
    assert _facets(engine, ids["dept"])[0] == ("dept_asks", "police", None)
    assert _facets(engine, ids["problem"])[0] == (None, None, None)  # no lead department yet
    engine.close()


def _downgrade_to_schema_1(engine: Engine) -> None:
    """What a schema-1 database looks like: no facet columns, no report indexes."""
    with engine.store.write() as conn:
        for index in (*t.case_t.indexes, *t.history_t.indexes):
            if index.name in ("ix_gf_case_kpi", "ix_gf_history_kpi"):
                index.drop(conn)
        for table, names in (
            ("gf_case", ("tag", "party", "grade")),
            ("gf_history", ("workflow_id", "case_tag", "case_unit", "case_party", "case_grade")),
        ):
            for name in names:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {name}"))
        conn.execute(t.meta_t.update().where(t.meta_t.c.key == "schema_version").values(value="1"))


def test_a_schema_1_database_is_upgraded_and_reports_the_same(db_url):
    clock = FakeClock(T0)
    engine = Engine(db_url, clock=clock)
    ids = _events(engine)
    period = Period.parse("2026Q1")
    before = {u: engine.kpis(unit=u, period=period) for u in (None, "wannan", "police")}
    question = _facets(engine, ids["question"])
    engine.close()
    engine = Engine(db_url, clock=clock, create_schema=False)
    _downgrade_to_schema_1(engine)
    engine.close()

    engine = Engine(db_url, clock=clock)  # opens, upgrades, fills the facets
    with engine.store.read() as conn:
        version = conn.execute(
            sa.select(t.meta_t.c.value).where(t.meta_t.c.key == "schema_version")
        ).scalar_one()
        pending = conn.execute(
            sa.select(t.meta_t.c.value).where(t.meta_t.c.key == FACETS_PENDING)
        ).first()
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("gf_history")}
    assert (version, pending) == (str(t.SCHEMA_VERSION), None)
    assert "ix_gf_history_kpi" in indexes
    case, steps = _facets(engine, ids["question"])
    assert case == question[0]
    # past steps get the case's facets as they are now (what each step saw is not known)
    assert {s[4] for s in steps} == {"city_mgmt"} and steps[0][:4] == question[1][0][:4]
    after = {u: engine.kpis(unit=u, period=period) for u in (None, "wannan", "police")}
    assert after[None] == before[None] and after["wannan"] == before["wannan"]
    # by department, steps now all count for the case's current department (police's
    # dispatch and return were police's before the upgrade)
    assert before["police"]["sections"]["grid_asks"]["figures"]["returns"] == 1
    assert after["police"]["sections"]["grid_asks"]["figures"]["returns"] == 0
    engine.close()
