"""The change feed: every step once, in commit order, after a cursor; under concurrent
writers on SQLite and PostgreSQL a follower misses nothing and sees nothing twice; each
principal sees the steps of the cases it may see, and its cursor still moves past the rest."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from gridflow.domain.access import CaseScope

ALL = CaseScope(everything=True)


def test_events_page_and_cursor(api) -> None:
    case = api.start("li.clerk")
    api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("li.clerk"),
        json={"trigger": "assign", "data": {"department": "police"}},
    )
    h = api.auth("li.clerk")
    page = api.client.get("/api/v1/events", headers=h).json()
    assert [(e["case_id"], e["seq"], e["trigger"]) for e in page["events"]] == [
        (case["id"], 1, "start"),
        (case["id"], 2, "assign"),
    ]
    assert page["events"][1]["origin"]["channel"] == "api"
    assert page["next"] == page["events"][-1]["id"]
    more = api.client.get("/api/v1/events", headers=h, params={"after": page["next"]}).json()
    assert more["events"] == [] and more["next"] == page["next"]
    first = api.client.get("/api/v1/events", headers=h, params={"limit": 1}).json()
    assert len(first["events"]) == 1 and first["next"] == first["events"][0]["id"]


def test_each_principal_sees_its_cases_and_moves_past_the_others(api) -> None:
    north = api.start("qian.north")
    south = api.start("zhao.area")
    page = api.client.get("/api/v1/events", headers=api.auth("zhao.area")).json()
    assert [e["case_id"] for e in page["events"]] == [south["id"]]
    north_only = api.client.get(
        "/api/v1/events", headers=api.auth("qian.north"), params={"after": 1}
    )
    assert north_only.json()["events"] == [] and north_only.json()["next"] == 2
    assert [
        e["case_id"]
        for e in api.client.get("/api/v1/events", headers=api.auth("qian.north")).json()["events"]
    ] == [north["id"]]


def follow_while_writing(engine, writers: int, events_each: int) -> list:
    """Fire from ``writers`` threads while a follower reads the feed with its cursor; the
    events the follower saw (after the writers are done and it caught up)."""
    cases = [engine.start("counter", actor="sun.worker", data={}).id for _ in range(writers)]
    seen: list = []
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(case_id: int) -> None:
        try:
            for _ in range(events_each):
                engine.fire(case_id, "bump", actor="sun.worker")
        except BaseException as exc:  # reported below
            errors.append(exc)

    def follower() -> None:
        cursor = 0
        while True:
            quiet = done.is_set()
            events, cursor = engine.feed.page(ALL, cursor, 50)
            seen.extend(events)
            if quiet and not events:
                return
            if not events:
                time.sleep(0.001)

    threads = [threading.Thread(target=writer, args=(c,)) for c in cases]
    reader = threading.Thread(target=follower)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert not errors, errors
    return seen


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_follower_sees_every_step_once_in_order_under_concurrent_writers(
    db, request, make_engine
) -> None:
    from conftest import DATA

    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    engine = make_engine(url, DATA)
    writers, each = 8, 40
    seen = follow_while_writing(engine, writers, each)
    keys = [(e.case_id, e.seq) for e in seen]
    assert len(keys) == len(set(keys)), "no step twice"
    assert len(keys) == writers * (each + 1), "every step"
    positions = [e.pos for e in seen]
    assert positions == sorted(positions)
    per_case = defaultdict(list)
    for e in seen:
        per_case[e.case_id].append(e.seq)
    assert all(seqs == list(range(1, each + 2)) for seqs in per_case.values()), "each case in order"


def test_a_database_from_before_the_feed_gets_its_history_as_events(
    make_engine, sqlite_url
) -> None:
    import sqlite3

    from conftest import DATA

    engine = make_engine(sqlite_url, DATA)
    case = engine.start("ticket", actor="li.clerk", data={"title": "旧"})
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    engine.close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:  # as schema 2 left it
        db.execute("DROP TABLE gf_event")
        db.execute("DROP TABLE alembic_version")  # from before Alembic
        db.execute("UPDATE gf_meta SET value = '2' WHERE key = 'schema_version'")
    again = make_engine(sqlite_url, DATA, upgrade=True)  # stamped 0002, upgraded to head
    events, _ = again.feed.page(ALL, 0, 10)
    assert [(e.case_id, e.seq) for e in events] == [(case.id, 1), (case.id, 2)]
