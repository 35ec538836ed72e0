"""SQLite: a connection held per thread between transactions (``Store._held_connection``).

What must hold: one thread's transactions reuse one connection; a transaction opened inside
another on the same thread gets a connection of its own (and sees the outer one's
committed data only); more threads than the pool keeps all work at once; a finished
thread's connection goes back to the pool; ``dispose`` closes them all; an error inside a
transaction rolls it back and leaves the held connection usable.
"""

from __future__ import annotations

import gc
import threading

import pytest
import sqlalchemy as sa

from gridflow.storage import tables as t
from gridflow.storage.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'held.db'}")
    s.create_schema()
    yield s
    s.dispose()


def _driver(conn: sa.Connection):
    return conn.connection.driver_connection


def _meta(conn, key: str):
    return conn.execute(sa.select(t.meta_t.c.value).where(t.meta_t.c.key == key)).scalar()


def test_a_thread_reuses_its_connection(store):
    with store.write() as a:
        first = _driver(a)
    with store.read() as b:
        second = _driver(b)
    with store.write() as c:
        third = _driver(c)
    assert first is second is third
    assert store.sa.pool.checkedout() == 1  # kept out of the pool between transactions


def test_a_nested_transaction_gets_its_own_connection(store):
    with store.write() as outer:
        outer.execute(t.meta_t.insert().values(key="k", value="uncommitted"))
        with store.read() as inner:
            assert _driver(inner) is not _driver(outer)
            assert _meta(inner, "k") is None  # the outer write is not committed yet
        assert _meta(outer, "k") == "uncommitted"
    with store.read() as again:
        assert _meta(again, "k") == "uncommitted"


def test_an_error_rolls_back_and_the_connection_stays_usable(store):
    with pytest.raises(RuntimeError), store.write() as conn:
        held = _driver(conn)
        conn.execute(t.meta_t.insert().values(key="lost", value="x"))
        raise RuntimeError("boom")
    with store.write() as conn:
        assert _driver(conn) is held
        assert _meta(conn, "lost") is None
        conn.execute(t.meta_t.insert().values(key="kept", value="y"))
    with store.read() as conn:
        assert _meta(conn, "kept") == "y"


def test_more_threads_than_the_pool_keeps_all_work_at_once(store):
    n = 24  # the pool keeps 5; every thread holds one while it lives
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with store.read():
                pass
            barrier.wait(timeout=30)  # all n threads hold their connection now
            with store.write() as conn:
                conn.execute(t.meta_t.insert().values(key=f"t{i}", value=str(i)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == []
    with store.read() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(t.meta_t.c.key.like("t%"))
        ).scalar_one()
    assert count == n


def test_a_finished_threads_connection_goes_back_to_the_pool(store):
    before = store.sa.pool.checkedout()  # this thread's own (create_schema used it)
    seen = []

    def work() -> None:
        with store.write() as conn:
            conn.execute(t.meta_t.insert().values(key="from-thread", value="1"))
        seen.append(store.sa.pool.checkedout())

    th = threading.Thread(target=work)
    th.start()
    th.join()
    gc.collect()
    assert seen == [before + 1]  # held between its transactions…
    assert store.sa.pool.checkedout() == before  # …and returned when the thread ended


def test_dispose_closes_every_held_connection(store):
    started, stop = threading.Event(), threading.Event()

    def hold() -> None:
        with store.read():
            pass
        started.set()
        stop.wait(timeout=30)

    th = threading.Thread(target=hold)
    th.start()
    started.wait(timeout=30)
    with store.read():
        pass
    assert store.sa.pool.checkedout() == 2  # this thread's and the other's
    store.dispose()
    assert store.sa.pool.checkedout() == 0
    stop.set()
    th.join()
    with store.read() as conn:  # a new connection after dispose
        assert _meta(conn, "schema_version") == str(t.SCHEMA_VERSION)
