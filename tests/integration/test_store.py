"""Store contract: the same tests on SQLite and on PostgreSQL (``db_url`` is parametrized)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import DATA, T0

from gridflow.domain.loader import content_hash
from gridflow.domain.org import Actor, Directory, Grant
from gridflow.errors import InvalidTrigger
from gridflow.storage import tables as t
from gridflow.storage.store import Store


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_schema()
    yield s
    s.dispose()


def test_schema_is_created_once_and_versioned(store, db_url):
    store.create_schema()  # idempotent
    again = Store(db_url)
    again.create_schema()
    again.dispose()
    with store.read() as conn:
        rows = list(conn.execute(sa.select(t.meta_t)))
        names = set(sa.inspect(conn).get_table_names())
    assert [(r.key, r.value) for r in rows] == [("schema_version", str(t.SCHEMA_VERSION))]
    assert {"gf_case", "gf_history", "gf_definition", "gf_timer", "gf_outbox"} <= names


# ---- definitions ------------------------------------------------------------------------------
def test_definition_gets_a_new_revision_only_when_the_text_changes(store):
    v1, v2 = "id: a\n# one\n", "id: a\n# two\n"

    def ensure(wid: str, text: str) -> int:
        with store.write() as conn:
            return store.definitions.ensure(conn, wid, "1", content_hash(text), text, "a.yaml", T0)

    assert ensure("a", v1) == 1
    assert ensure("a", v1) == 1  # same text: same revision
    assert ensure("a", v2) == 2
    assert ensure("a", v1) == 1  # back to the first text: its revision, not a third
    assert ensure("b", v2) == 1  # revisions count per workflow
    with store.read() as conn:
        rows = store.definitions.revisions(conn)
        assert [(r.workflow_id, r.revision) for r in rows] == [("a", 1), ("a", 2), ("b", 1)]
        assert store.definitions.revision(conn, "a", 2).source == v2
        assert store.definitions.revision(conn, "a", 3) is None


def test_engine_stores_each_text_once(make_engine, db_url, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    shutil.copy(DATA / "ticket.yaml", folder / "ticket.yaml")
    first = make_engine(db_url, folder)
    assert first.workflow("ticket").revision == 1
    second = make_engine(db_url, folder)  # another process starting on the same files
    assert second.workflow("ticket").revision == 1
    second.load_workflows()
    with second.store.read() as conn:
        assert [(r.workflow_id, r.revision) for r in second.store.definitions.revisions(conn)] == [
            ("ticket", 1)
        ]


def test_running_cases_stay_on_their_revision(make_engine, db_url, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    path = folder / "ticket.yaml"
    v1 = (DATA / "ticket.yaml").read_text()
    path.write_text(v1)
    engine = make_engine(db_url, folder)
    old = engine.start("ticket", actor="li.clerk", data={"title": "old"}, unit="g1")
    assert old.revision == 1

    # edit the file: `reject` now closes the case, and a new `park` trigger appears
    v2 = v1.replace("dest: rejected", "dest: closed") + (
        "  - {trigger: park, source: new, dest: rejected, roles: [clerk]}\n"
    )
    path.write_text(v2)
    engine.load_workflows()
    assert engine.workflow("ticket").revision == 2
    new = engine.start("ticket", actor="li.clerk", data={"title": "new"}, unit="g1")
    assert new.revision == 2

    # a fresh engine (another process) knows revision 1 only from the database
    fresh = make_engine(db_url, folder)
    assert fresh.workflow("ticket").revision == 2
    with pytest.raises(InvalidTrigger) as info:
        fresh.fire(old.id, "park", actor="li.clerk")
    assert info.value.allowed == ["assign", "reject"]
    rejected = fresh.fire(old.id, "reject", actor="li.clerk", comment="not ours")
    assert (rejected.state, rejected.revision) == ("rejected", 1)
    assert fresh.available_triggers(new.id, "li.clerk") == ["assign", "reject", "park"]
    closed = fresh.fire(new.id, "reject", actor="li.clerk", comment="not ours")
    assert (closed.state, closed.revision) == ("closed", 2)
    with fresh.store.read() as conn:
        assert [r.revision for r in fresh.store.definitions.revisions(conn)] == [1, 2]


# ---- cases --------------------------------------------------------------------------------------
def _case_values(**kw) -> dict:
    values = dict(
        workflow_id="ticket",
        revision=1,
        state="new",
        version=1,
        title="t",
        data={"title": "漏水", "tags": ["a", "b"], "n": 1, "nested": {"x": None}},
        unit="g1",
        unit_path="xuhui/fenglin/wannan/g1",
        created_by="li.clerk",
        created_at=T0,
        updated_at=T0,
    )
    return values | kw


def test_insert_load_update_with_version_check(store):
    with store.write() as conn:
        case_id = store.cases.insert(conn, _case_values())
    with store.read() as conn:
        row = store.cases.load(conn, case_id)
    assert (row.id, row.state, row.version) == (case_id, "new", 1)
    assert row.data == {"title": "漏水", "tags": ["a", "b"], "n": 1, "nested": {"x": None}}
    assert row.created_at == T0 and row.created_at.tzinfo is not None
    assert row.closed_at is None

    later = T0 + timedelta(hours=1)
    with store.write() as conn:
        assert store.cases.update(
            conn, case_id, 1, {"state": "assigned", "version": 2, "updated_at": later}
        )
    with store.write() as conn:  # a writer that read version 1 lost the race
        assert not store.cases.update(conn, case_id, 1, {"state": "rejected", "version": 2})
    with store.write() as conn, pytest.raises(sa.exc.IntegrityError):
        store.cases.insert(conn, _case_values(id=case_id))  # ids are unique
    with store.read() as conn:
        row = store.cases.load(conn, case_id)
        assert store.cases.load(conn, case_id + 1000) is None
    assert (row.state, row.version, row.updated_at) == ("assigned", 2, later)


def test_times_are_stored_as_utc(store):
    from zoneinfo import ZoneInfo

    local = datetime(2025, 3, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with store.write() as conn:
        case_id = store.cases.insert(conn, _case_values(created_at=local, updated_at=local))
    with store.read() as conn:
        row = store.cases.load(conn, case_id)
    assert row.created_at == local and row.created_at.utcoffset() == timedelta(0)
    assert row.created_at == datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


def test_history_is_append_only_and_seq_equals_version(any_engine, clock):
    engine = any_engine
    case = engine.start("ticket", actor="li.clerk", data={"title": "噪音"}, unit="g1")
    assert case.version == 1
    versions = [case.version]
    for trigger, who, data, comment in [
        ("assign", "li.clerk", {"department": "police"}, None),
        ("answer", "cop", {"answer": "talked to them"}, None),
        ("reopen", "li.clerk", None, "still loud"),
        ("answer", "cop", {"answer": "fined them"}, None),
    ]:
        clock.advance(minutes=5)
        before = [s.to_dict() for s in engine.history(case.id)]
        case = engine.fire(case.id, trigger, actor=who, data=data, comment=comment)
        versions.append(case.version)
        after = engine.history(case.id)
        assert [s.to_dict() for s in after[:-1]] == before  # earlier steps never change
        assert after[-1].seq == case.version
    steps = engine.history(case.id)
    assert [s.seq for s in steps] == versions == [1, 2, 3, 4, 5]
    assert [s.trigger for s in steps] == ["start", "assign", "answer", "reopen", "answer"]
    with engine.store.write() as conn, pytest.raises(sa.exc.IntegrityError):
        engine.store.cases.append_step(
            conn,
            dict(
                case_id=case.id,
                seq=3,
                trigger="forged",
                from_state="new",
                to_state="closed",
                actor="x",
                at=T0,
            ),
        )
    assert [s.trigger for s in engine.history(case.id)][2] == "answer"


# ---- find -------------------------------------------------------------------------------------
@pytest.fixture
def find_engine(make_engine, db_url):
    units = [
        ("root", "Root", "street", None, None),
        ("a", "A", "area", "root", None),
        ("g1", "G1", "grid", "a", None),
        ("g10", "G10", "grid", "a", None),
        ("g_1", "G_1", "grid", "root", None),
        ("gx1", "GX1", "grid", "root", None),
        ("gx1.m", "GX1 M", "microgrid", "gx1", None),
        ("b", "B", "area", "root", None),
        ("police", "Police", "department", "root", None),
        ("housing", "Housing", "department", "root", None),
    ]
    people = [
        Actor("li.clerk", "Li", (Grant("clerk", "root"),)),
        Actor("sun.worker", "Sun", (Grant("worker", "root"),)),
    ]
    return make_engine(db_url, directory=Directory.build(units, people))


def test_find_by_workflow_state_unit_subtree_and_text(find_engine, clock):
    engine = find_engine
    made = {}
    for key, unit, title in [
        ("g1", "g1", "pipe leak"),
        ("g10", "g10", "noise 100% loud"),
        ("a", "a", "area wide"),
        ("g_1", "g_1", "odd_name"),
        ("gx1.m", "gx1.m", "oddxname"),
        ("b", "b", "漏水严重"),
    ]:
        clock.advance(minutes=1)
        made[key] = engine.start("ticket", actor="li.clerk", data={"title": title}, unit=unit)
    counter = engine.start("counter", actor="sun.worker", unit="g1")
    engine.fire(made["g1"].id, "assign", actor="li.clerk", data={"department": "police"})
    engine.fire(made["b"].id, "reject", actor="li.clerk", comment="dup")
    engine.fire(made["a"].id, "assign", actor="li.clerk", data={"department": "housing"})

    def ids(**kw) -> list[int]:
        return [c.id for c in engine.find(**kw)]

    everything = [counter.id, *(made[k].id for k in ("b", "gx1.m", "g_1", "a", "g10", "g1"))]
    assert ids() == everything  # newest first
    assert ids(workflow="counter") == [counter.id]
    assert ids(workflow="ticket", state="assigned") == [made["a"].id, made["g1"].id]
    assert ids(state="rejected") == [made["b"].id]
    assert ids(open_only=True, workflow="ticket") == [
        made[k].id for k in ("gx1.m", "g_1", "a", "g10", "g1")
    ]
    # a subtree: the unit and everything below it, not a sibling sharing a name prefix
    assert ids(unit="a", workflow="ticket") == [made[k].id for k in ("a", "g10", "g1")]
    assert ids(unit="g1") == [counter.id, made["g1"].id]
    assert ids(unit="gx1") == [made["gx1.m"].id]
    assert ids(unit="g_1") == [made["g_1"].id]  # '_' is a character, not a wildcard
    assert ids(unit="root") == everything
    # text: in the title or anywhere in the data; LIKE wildcards are plain characters
    assert ids(text="leak") == [made["g1"].id]
    assert ids(text="100%") == [made["g10"].id]
    assert ids(text="d_n") == [made["g_1"].id]
    assert ids(text="漏水") == [made["b"].id]
    assert ids(text="housing") == [made["a"].id]  # a data value, not the title
    assert ids(text="police", unit="b") == []
    assert ids(limit=2) == everything[:2]
    assert ids(limit=2, offset=2) == everything[2:4]


# ---- one snapshot for two readers ---------------------------------------------------------------
def _meta_count(conn) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(t.meta_t)).scalar_one()


def test_snapshot_pair_readers_see_one_state_while_a_writer_commits(store):
    """A writer commits as fast as it can; every pair of readers agrees on what it sees, and
    neither sees what was committed after the pair was taken."""
    import threading

    stop, errors = threading.Event(), []

    def write() -> None:
        i = 0
        try:
            while not stop.is_set():
                with store.write() as conn:
                    conn.execute(t.meta_t.insert().values(key=f"w{i}", value="x"))
                i += 1
        except Exception as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for i in range(40):
            with store.snapshot_pair() as (a, b):
                first = _meta_count(a)
                with store.write() as conn:  # committed after the pair was taken
                    conn.execute(t.meta_t.insert().values(key=f"p{i}", value="x"))
                with store.read() as fresh:
                    assert _meta_count(fresh) > first
                assert _meta_count(b) == first
                assert _meta_count(a) == first  # still: a snapshot, not statement by statement
    finally:
        stop.set()
        writer.join()
    assert errors == []
    with store.read() as conn:
        assert _meta_count(conn) > 40 + 1  # the writer committed too
