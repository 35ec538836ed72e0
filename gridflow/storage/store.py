"""The SQL store: connections, transactions and the statements the engine runs (storage ring).

SQLite (the embedded default): one file, WAL, a busy timeout, and write transactions that take
the write lock up front (``BEGIN IMMEDIATE``) so a read-then-write never deadlocks or goes
stale. PostgreSQL (several daemons): READ COMMITTED, optimistic versions on cases, and
``FOR UPDATE SKIP LOCKED`` for claiming timers and notices. Statements are SQLAlchemy Core.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import SQLModel

from gridflow.errors import GridflowError
from gridflow.storage import tables as t

BUSY_TIMEOUT_MS = 30_000
FACETS_PENDING = "facets_pending"  # gf_meta key: facet columns to fill after an upgrade
_STARTUP_LOCK = 0x67726466  # PostgreSQL advisory lock key ("grdf"), see Store._take_turns


def normalise_url(url: str) -> str:
    """``postgresql://`` → psycopg 3; ``postgres://`` too."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``): ``_`` and ``%``
    are wildcards, and unit ids may contain ``_``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# what json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) builds on
# every call, built once (an encoder keeps no state between calls)
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _json_dumps(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


# ---- the hot path's statements, built once ------------------------------------------------
# Each is a fixed statement with bound parameters: building a statement per call, and
# SQLAlchemy deriving its cache key, cost more than running it. Built once, the cache key is
# memoised on the object and the compiled form comes from the engine's compiled cache (for an
# UPDATE/INSERT without ``.values()``, one compiled form per set of parameter names).
_CASE = t.case_t
LOAD_CASE = sa.select(_CASE).where(_CASE.c.id == sa.bindparam("b_id"))
LOAD_CASE_LOCKED = LOAD_CASE.with_for_update()
UPDATE_CASE = _CASE.update().where(
    _CASE.c.id == sa.bindparam("b_id"), _CASE.c.version == sa.bindparam("b_version")
)
INSERT_CASE = _CASE.insert()
# how a value of each case column comes back from the database (see Store.as_updated)
_CASE_KINDS: dict[str, Any] = {
    c.name: "time"
    if isinstance(c.type, t.UTCDateTime)
    else "json"
    if isinstance(c.type, sa.JSON)
    else bool
    if isinstance(c.type, sa.Boolean)
    else float
    if isinstance(c.type, sa.Float)
    else int
    if isinstance(c.type, sa.Integer)
    else str
    for c in _CASE.columns
}
# the keys of a LOAD_CASE row, in order (Row._asdict works them out again on every call)
_CASE_KEYS = tuple(c.key for c in _CASE.columns)
INSERT_HISTORY = t.history_t.insert()
INSERT_TIMERS = t.timer_t.insert()
INSERT_OUTBOX = t.outbox_t.insert()
# ``coalesce(status, '')`` (status is NOT NULL: the same rows) keeps SQLite from reading the
# status index: without statistics its planner takes ix_gf_timer_due (status, due_at) for
# ``status = 'pending'`` over the case_id index, and walks every pending timer of every case
# (milliseconds per event at 100k open cases, growing with the table); PostgreSQL, with
# statistics, picks the case_id index either way
PENDING = sa.func.coalesce(t.timer_t.c.status, "") == "pending"
CANCEL_TIMERS = (
    t.timer_t.update()
    .where(t.timer_t.c.case_id == sa.bindparam("b_case_id"), PENDING)
    .values(status="cancelled", done_at=sa.bindparam("b_done_at"))
)


# tick: claim due timers under a lease, then act on each with the case's earlier-due ones
_TM = t.timer_t
CLAIM_TIMERS = (
    sa.select(_TM.c.id)
    .where(
        _TM.c.status == "pending",
        _TM.c.due_at <= sa.bindparam("b_now"),
        sa.or_(_TM.c.lease_until.is_(None), _TM.c.lease_until < sa.bindparam("b_now")),
    )
    .order_by(_TM.c.due_at)
    .limit(sa.bindparam("b_batch"))
)
CLAIM_TIMERS_SKIP_LOCKED = CLAIM_TIMERS.with_for_update(skip_locked=True)
LEASE_TIMERS = (
    _TM.update()
    .where(_TM.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(
        lease_owner=sa.bindparam("b_owner"),
        lease_until=sa.bindparam("b_until"),
        attempts=_TM.c.attempts + 1,
    )
)
TIMER_HEAD = sa.select(_TM.c.case_id, _TM.c.status, _TM.c.due_at).where(
    _TM.c.id == sa.bindparam("b_id")
)
DUE_OF_CASE = (  # PENDING: by the case_id index, not the status one (see above)
    sa.select(_TM)
    .where(
        _TM.c.case_id == sa.bindparam("b_case_id"), PENDING, _TM.c.due_at <= sa.bindparam("b_due")
    )
    .order_by(_TM.c.due_at, _TM.c.id)
)
DUE_OF_CASE_LOCKED = DUE_OF_CASE.with_for_update()
TIMER_DONE = (
    _TM.update()
    .where(_TM.c.id == sa.bindparam("b_id"), _TM.c.status == "pending")
    .values(status="done", done_at=sa.bindparam("b_at"))
)


def _begin(conn: sa.Connection, sql: str) -> None:
    """SQLite: open the driver's transaction (the connection is in autocommit mode, so the
    driver never begins one itself); SQLAlchemy's transaction, already begun, commits or
    rolls it back. Sent straight to the driver — not from a ``begin`` event listener with
    ``exec_driver_sql``: any connection event makes SQLAlchemy dispatch events on every
    statement, and the trip through its execution machinery cost more than the BEGIN.
    Errors come out wrapped as SQLAlchemy's, as they would from ``exec_driver_sql``."""
    try:
        conn.connection.driver_connection.execute(sql)
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _in_memory(url: str) -> bool:
    return ":memory:" in url or url in ("sqlite://", "sqlite:///")


def create_sa_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            json_serializer=_json_dumps,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            # each thread holds a connection (Store._held_connection): no cap on how many
            # threads, five kept open when returned
            **({} if _in_memory(url) else {"pool_size": 5, "max_overflow": -1}),
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (Store._begin)
            cur = dbapi_conn.cursor()
            if not _in_memory(url):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        return engine
    return sa.create_engine(
        url, json_serializer=_json_dumps, pool_pre_ping=True, pool_size=5, max_overflow=10
    )


class Store:
    """Owns the SQLAlchemy engine. Every method taking ``conn`` runs inside the caller's
    transaction; the ``write``/``read`` context managers open one.

    SQLite: each thread keeps one connection between transactions (a pool checkout and
    return per event cost ≈7 % of a ``fire``); a transaction opened while the thread's own
    is still running takes a connection from the pool, as does PostgreSQL always (its
    connections can go stale, and the pool pre-pings them)."""

    def __init__(self, url: str):
        self.url = normalise_url(url)
        try:
            self.sa = create_sa_engine(self.url)
        except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
            raise GridflowError(f"cannot use database URL {url!r}: {exc}") from None
        self.dialect = self.sa.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._held = threading.local()
        self._all_held: weakref.WeakSet[sa.Connection] = weakref.WeakSet()  # for dispose()

    # ---- transactions ---------------------------------------------------------------
    def write(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``). Commits on success."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction (SQLite: ``BEGIN``: one snapshot for all its statements)."""
        return self._transaction("BEGIN")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sa.Connection]:
        held = self._held_connection() if self.is_sqlite else None
        if held is not None:
            with held.begin():
                _begin(held, begin)
                yield held
            return
        with self._connect() as conn, conn.begin():
            if self.is_sqlite:
                _begin(conn, begin)
            yield conn

    @contextmanager
    def snapshot_pair(self) -> Iterator[tuple[sa.Connection, sa.Connection]]:
        """Two read transactions that see the same database state, for two threads to read
        at once (a report's passes, one per core). SQLite: both snapshots are taken while a
        third connection holds the write lock, so no commit can fall between them (writers
        wait a moment; WAL readers never do). PostgreSQL: REPEATABLE READ, the second
        transaction importing the first one's exported snapshot. An in-memory SQLite
        database (one connection per thread) gives the same transaction twice."""
        if self.is_sqlite and _in_memory(self.url):
            with self.read() as conn:
                yield conn, conn
            return
        with self._connect() as a, self._connect() as b:
            if self.is_sqlite:
                with self._connect() as gate, gate.begin():
                    _begin(gate, "BEGIN IMMEDIATE")
                    for conn in (a, b):
                        conn.begin()
                        _begin(conn, "BEGIN")
                        conn.exec_driver_sql("SELECT count(*) FROM gf_meta").scalar()
                    gate.rollback()  # nothing written: let writers go on
            else:
                a.begin()
                a.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                snapshot = a.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                b.begin()
                b.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                b.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            try:
                yield a, b
            finally:
                a.rollback()
                b.rollback()

    def _held_connection(self) -> sa.Connection | None:
        """This thread's connection, opened on first use; None while it is in a transaction
        (a nested one gets its own connection). A thread's connection goes back to the pool
        when the thread ends (its thread-local value is collected), or on ``dispose``."""
        conn, pid = getattr(self._held, "conn", None), getattr(self._held, "pid", None)
        if conn is not None and not conn.closed and pid == os.getpid():
            return None if conn.in_transaction() else conn
        conn = self._connect()
        self._held.conn, self._held.pid = conn, os.getpid()
        self._all_held.add(conn)
        return conn

    def _connect(self) -> sa.Connection:
        """A connection from the pool (use it in a ``with``: closing returns it)."""
        try:
            return self.sa.connect()
        except sa.exc.OperationalError as exc:
            raise GridflowError(f"cannot open database {self.safe_url}: {exc.orig}") from None

    @property
    def safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def create_schema(self) -> None:
        """Create missing tables (idempotent) and check the schema version."""
        try:
            with self.write() as conn:
                self._take_turns(conn)  # no two processes race to CREATE the same table
                SQLModel.metadata.create_all(
                    conn,
                    tables=[
                        t.meta_t,
                        t.definition_t,
                        t.case_t,
                        t.history_t,
                        t.timer_t,
                        t.outbox_t,
                        t.org_t,
                        t.daemon_t,
                        t.endpoint_t,
                    ],
                )
        except sa.exc.OperationalError as exc:
            raise GridflowError(f"cannot open database {self.safe_url}: {exc.orig}") from None
        except sa.exc.IntegrityError:
            pass  # another process created them at the same moment
        with self.write() as conn:
            self._take_turns(conn)
            row = conn.execute(
                sa.select(t.meta_t.c.value).where(t.meta_t.c.key == "schema_version")
            ).first()
            if row is None:
                conn.execute(
                    t.meta_t.insert().values(key="schema_version", value=str(t.SCHEMA_VERSION))
                )
            elif int(row[0]) == 1:
                self._upgrade_1_to_2(conn)
            elif int(row[0]) != t.SCHEMA_VERSION:
                raise GridflowError(
                    f"database {self.safe_url} has schema version {row[0]}; this gridflow "
                    f"uses {t.SCHEMA_VERSION}"
                )

    def _upgrade_1_to_2(self, conn) -> None:
        """Schema 1 → 2: the facet columns and the report indexes. The history rows get
        their case's workflow and unit here; the facet values need the workflows' ``facets``,
        so they are filled by :meth:`fill_facets` once the engine has loaded them (marked
        pending in ``gf_meta`` until then)."""
        for table, names in (
            ("gf_case", ("tag", "party", "grade")),
            ("gf_history", ("workflow_id", "case_tag", "case_unit", "case_party", "case_grade")),
        ):
            for name in names:
                conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} VARCHAR"))
        conn.execute(
            sa.text(
                "UPDATE gf_history SET (workflow_id, case_unit) = "
                "(SELECT c.workflow_id, c.unit FROM gf_case c WHERE c.id = gf_history.case_id)"
            )
        )
        for index in (*t.case_t.indexes, *t.history_t.indexes):
            index.create(conn, checkfirst=True)
        conn.execute(t.meta_t.update().where(t.meta_t.c.key == "schema_version").values(value="2"))
        conn.execute(t.meta_t.insert().values(key=FACETS_PENDING, value="1"))

    def fill_facets(self, conn, facets: dict[str, Any]) -> None:
        """After an upgrade from schema 1: each case's facet columns from its data (by
        ``facets``: workflow id → its ``Facets``), copied to its history rows (as the case is
        now: the values at each past step are not known). Once."""
        m = t.meta_t
        if conn.execute(sa.select(m.c.value).where(m.c.key == FACETS_PENDING)).first() is None:
            return
        c = t.case_t.c
        for workflow_id, fields in facets.items():
            values = {name: c.data[f].as_string() for name, f in fields if f}
            if values:
                conn.execute(t.case_t.update().where(c.workflow_id == workflow_id).values(values))
        conn.execute(
            sa.text(
                "UPDATE gf_history SET (case_tag, case_party, case_grade) = (SELECT c.tag, "
                "c.party, c.grade FROM gf_case c WHERE c.id = gf_history.case_id)"
            )
        )
        conn.execute(m.delete().where(m.c.key == FACETS_PENDING))

    def dispose(self) -> None:
        """Close every thread's held connection and the pool's."""
        for conn in list(self._all_held):
            conn.close()
        self.sa.dispose()

    def _take_turns(self, conn) -> None:
        """PostgreSQL: processes starting together (several daemons) insert the schema version
        and new definition revisions one at a time, not both the same key. Held until the
        transaction ends; SQLite's ``BEGIN IMMEDIATE`` already serializes writers."""
        if not self.is_sqlite:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STARTUP_LOCK})

    # ---- definitions ----------------------------------------------------------------
    def ensure_definition(
        self,
        conn,
        workflow_id: str,
        label: str,
        content_hash: str,
        source: str,
        file: str,
        now: datetime,
    ) -> int:
        """The revision of this exact text, storing it as the next revision if new."""
        self._take_turns(conn)
        d = t.definition_t
        rev = conn.execute(
            sa.select(d.c.revision).where(
                d.c.workflow_id == workflow_id, d.c.content_hash == content_hash
            )
        ).scalar()
        if rev is not None:
            return rev
        latest = (
            conn.execute(
                sa.select(sa.func.max(d.c.revision)).where(d.c.workflow_id == workflow_id)
            ).scalar()
            or 0
        )
        conn.execute(
            d.insert().values(
                workflow_id=workflow_id,
                revision=latest + 1,
                label_version=str(label),
                content_hash=content_hash,
                source=source,
                file=file,
                loaded_at=now,
            )
        )
        return latest + 1

    def definition_source(self, conn, workflow_id: str, revision: int):
        d = t.definition_t
        return conn.execute(
            sa.select(d.c.source, d.c.file).where(
                d.c.workflow_id == workflow_id, d.c.revision == revision
            )
        ).first()

    def definitions(self, conn) -> list:
        d = t.definition_t
        return list(
            conn.execute(
                sa.select(
                    d.c.workflow_id,
                    d.c.revision,
                    d.c.label_version,
                    d.c.content_hash,
                    d.c.file,
                    d.c.loaded_at,
                ).order_by(d.c.workflow_id, d.c.revision)
            )
        )

    # ---- cases ------------------------------------------------------------------------
    def insert_case(self, conn, values: dict) -> int:
        return conn.execute(INSERT_CASE, values).inserted_primary_key[0]

    def load_case(self, conn, case_id: int, *, for_update: bool = False):
        q = LOAD_CASE_LOCKED if for_update and not self.is_sqlite else LOAD_CASE
        return conn.execute(q, {"b_id": case_id}).first()

    def update_case(self, conn, case_id: int, version: int, values: dict) -> bool:
        """Apply ``values`` (plain values, no SQL expressions) if the case is still at
        ``version``; False if it moved on."""
        res = conn.execute(UPDATE_CASE, {"b_id": case_id, "b_version": version, **values})
        return res.rowcount == 1

    @staticmethod
    def as_updated(row, values: dict) -> Any:
        """The case ``row`` as reading it back after ``update_case(…, values)`` would give —
        without the read: each new value goes through its column type as it is stored and
        read back (aware UTC datetimes, JSON text and back, bool, float)."""
        # a row of LOAD_CASE: every case column, in table order
        merged = (
            dict(zip(_CASE_KEYS, row, strict=True))
            if len(row) == len(_CASE_KEYS)
            else row._asdict()
        )
        for key, value in values.items():
            if value is not None:
                kind = _CASE_KINDS.get(key)
                if kind == "time":
                    value = (
                        value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
                    )
                elif kind == "json":
                    value = json.loads(_json_dumps(value))
                elif kind is not None:
                    value = kind(value)
            merged[key] = value
        return SimpleNamespace(**merged)

    def append_history(self, conn, values: dict) -> None:
        conn.execute(INSERT_HISTORY, values)

    def history(self, conn, case_id: int) -> list:
        h = t.history_t
        return list(conn.execute(sa.select(h).where(h.c.case_id == case_id).order_by(h.c.seq)))

    def children(self, conn, case_id: int, group: int | None = None) -> list:
        c = t.case_t
        q = sa.select(c).where(c.c.parent_id == case_id)
        if group is not None:
            q = q.where(c.c.spawn_group == group)
        return list(conn.execute(q.order_by(c.c.id)))

    def open_siblings(self, conn, parent_id: int, group: int) -> int:
        c = t.case_t
        return conn.execute(
            sa.select(sa.func.count()).where(
                c.c.parent_id == parent_id, c.c.spawn_group == group, c.c.closed_at.is_(None)
            )
        ).scalar_one()

    def find(
        self,
        conn,
        *,
        workflow: str | None = None,
        state: str | None = None,
        unit_path: str | None = None,
        text: str | None = None,
        open_only: bool = False,
        overdue_at: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list:
        c = t.case_t
        q = sa.select(c)
        if workflow:
            q = q.where(c.c.workflow_id == workflow)
        if state:
            q = q.where(c.c.state == state)
        if unit_path:
            q = q.where(
                sa.or_(
                    c.c.unit_path == unit_path,
                    c.c.unit_path.like(_like_escape(unit_path) + "/%", escape="\\"),
                )
            )
        if text:
            like = "%" + _like_escape(text) + "%"
            q = q.where(
                sa.or_(
                    c.c.title.like(like, escape="\\"),
                    sa.cast(c.c.data, sa.String).like(like, escape="\\"),
                )
            )
        if open_only:
            q = q.where(c.c.closed_at.is_(None))
        if overdue_at is not None:
            q = q.where(
                c.c.closed_at.is_(None),
                c.c.paused_at.is_(None),
                c.c.due_at.is_not(None),
                c.c.due_at < overdue_at,
            )
        return list(conn.execute(q.order_by(c.c.id.desc()).limit(limit).offset(offset)))

    # ---- org --------------------------------------------------------------------------
    def save_org(self, conn, content_hash: str, source: str, file: str, now: datetime) -> None:
        conn.execute(
            t.org_t.insert().values(
                content_hash=content_hash, source=source, file=file, loaded_at=now
            )
        )

    def latest_org(self, conn):
        o = t.org_t
        return conn.execute(sa.select(o).order_by(o.c.id.desc()).limit(1)).first()
