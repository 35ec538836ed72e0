"""Facet columns (workflow ``facets``) and the upgrade of a schema-1 database.

Cases carry their ``tag``/``party``/``grade`` facets as columns; each history row carries
the case's facets as that step left them (the department at a sign, the satisfaction at a
confirm). A database made by schema 1 (no such columns) is upgraded through Alembic —
stamped ``0001`` from ``gf_meta``, then revisions 0002…head — by ``gridflow db upgrade`` or
an engine told to upgrade (one not told refuses, naming the command): the columns and report
indexes are added, filled from the case data, and the KPI report over it matches the report
over the same events recorded by the current schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import FakeClock
from old_schemas import structure, to_schema_1

from gridflow.domain.access import CaseScope
from gridflow.domain.period import Period
from gridflow.errors import StorageError
from gridflow.service import database
from gridflow.service.engine import Engine
from gridflow.storage import migrate
from gridflow.storage import tables as t
from gridflow.storage.store import FACETS_PENDING, Store

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


def _schema_1_structure(url: str) -> dict[str, set[str]]:
    """The tables and columns revision 0001 (schema 1, the baseline) makes, in a fresh
    schema beside ``url``'s (SQLite: a file beside it; PostgreSQL: the same schema, emptied
    after)."""
    from alembic import command

    store = Store(url)
    try:
        with store.write() as conn:
            command.upgrade(migrate.config(conn), "0001")
            shape = structure(conn)
            conn.rollback()  # PostgreSQL and SQLite both roll DDL back: nothing is left
    finally:
        store.dispose()
    return shape


@pytest.mark.parametrize("route", ["engine", "db upgrade"])
def test_a_schema_1_database_is_upgraded_through_alembic_and_reports_the_same(db_url, route):
    baseline = _schema_1_structure(db_url)
    clock = FakeClock(T0)
    engine = Engine(db_url, clock=clock)
    ids = _events(engine)
    period = Period.parse("2026Q1")
    before = {u: engine.kpis(unit=u, period=period) for u in (None, "wannan", "police")}
    question = _facets(engine, ids["question"])
    steps_before = _steps(engine)
    with engine.store.write() as conn:
        to_schema_1(conn)
        assert structure(conn) == baseline  # what revision 0001 makes: schema 1 as it was
    engine.close()

    with pytest.raises(StorageError, match="gridflow db upgrade") as refused:
        Engine(db_url, clock=clock)  # behind the code: refused, named the command
    assert "schema 1, this gridflow uses" in str(refused.value)
    if route == "engine":
        engine = Engine(db_url, clock=clock, upgrade=True)  # upgrades, fills the facets
    else:
        done = database.upgrade(db_url)
        assert (done.from_version, done.to_version, done.stamped) == (1, t.SCHEMA_VERSION, True)
        assert (done.from_revision, done.to_revision) == ("0001", migrate.revision_of(migrate.HEAD))
        engine = Engine(db_url, clock=clock)  # at head now; loading the workflows fills facets
    with engine.store.read() as conn:
        state = migrate.read_state(conn)
        pending = conn.execute(
            sa.select(t.meta_t.c.value).where(t.meta_t.c.key == FACETS_PENDING)
        ).first()
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("gf_history")}
    assert (state.version, state.revision, pending) == (str(t.SCHEMA_VERSION), "0004", None)
    assert "ix_gf_history_kpi" in indexes
    assert _steps(engine) == steps_before  # every step kept
    events, _ = engine.feed.page(CaseScope(everything=True), 0, 1000)
    assert sorted((e.case_id, e.seq) for e in events) == sorted(steps_before)  # the feed, once
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


def _steps(engine: Engine) -> list[tuple[int, int]]:
    h = t.history_t.c
    with engine.store.read() as conn:
        return [
            tuple(r) for r in conn.execute(sa.select(h.case_id, h.seq).order_by(h.case_id, h.seq))
        ]
