"""The store: the one database port — connections, transactions, the schema (storage ring).

SQLite (the embedded default): one file, WAL, a busy timeout, and write transactions that take
the write lock up front (``BEGIN IMMEDIATE``) so a read-then-write never deadlocks or goes
stale. PostgreSQL (several daemons): READ COMMITTED, optimistic versions on cases, and
``FOR UPDATE SKIP LOCKED`` for claiming timers and notices. Statements are SQLAlchemy Core,
grouped by what they are about and reached through the store's parts::

    with store.write() as tx:
        case = store.cases.load(tx, 7, for_update=True)
        store.timers.cancel_pending(tx, 7, now)

``cases`` (cases, history), ``timers``, ``outbox`` (notices, endpoints), ``heartbeat``
(daemons), ``definitions`` (workflow revisions, org texts), ``kpi`` (report passes). They
hand out typed records (:mod:`gridflow.storage.records`), never database rows.

Failing cleanly: a database that cannot be used — unreachable, read-only, damaged, full, busy
past the timeout, of a schema this gridflow does not know — is a one-line
:class:`~gridflow.errors.StorageError` naming the database (password hidden) and the reason,
never SQLAlchemy's several lines with the SQL and its parameters (the driver's exception is
kept as ``__cause__``). Integrity errors stay SQLAlchemy's: callers that expect them handle
them. PostgreSQL connections give up after ``CONNECT_TIMEOUT_S`` seconds (``connect_timeout``
in the URL overrides it) and wait at most ``BUSY_TIMEOUT_MS`` for a lock (``lock_timeout``),
as SQLite waits for its write lock (``busy_timeout``). A SQLite file gridflow creates is
``0600``: it holds residents' names and addresses, and only the account running gridflow
needs it (an existing file keeps the mode its owner gave it; WAL files follow the database's).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from gridflow.domain.lazy import part
from gridflow.errors import GridflowError, StorageError
from gridflow.storage import schema as t
from gridflow.storage.cases import CaseStore
from gridflow.storage.definitions import DefinitionStore
from gridflow.storage.heartbeat import HeartbeatStore
from gridflow.storage.jsoncodec import json_dumps
from gridflow.storage.outbox import OutboxStore
from gridflow.storage.timers import TimerStore

if TYPE_CHECKING:
    from gridflow.storage.accounts import AccountStore, SessionStore
    from gridflow.storage.audit import AuditStore
    from gridflow.storage.boards import BoardQueries
    from gridflow.storage.browse import CaseBrowser
    from gridflow.storage.case_migration import MigrationStore
    from gridflow.storage.files import FileStore
    from gridflow.storage.idempotency import IdempotencyStore
    from gridflow.storage.kpi import KpiQueries
    from gridflow.storage.ops import OpsQueries
    from gridflow.storage.tokens import TokenStore

Tx = sa.Connection
"""A transaction: what ``Store.write()``/``read()`` hand out and every statement takes."""

BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5
FILE_MODE = 0o600
FACETS_PENDING = "facets_pending"  # gf_meta key: facet columns to fill after an upgrade
_STARTUP_LOCK = 0x67726466  # PostgreSQL advisory lock key ("grdf"), see Store._take_turns


def normalise_url(url: str) -> str:
    """``postgresql://`` → psycopg 3; ``postgres://`` too."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _begin(conn: sa.Connection, sql: str) -> None:
    """SQLite: open the driver's transaction (the connection is in autocommit mode, so the
    driver never begins one itself); SQLAlchemy's transaction, already begun, commits or
    rolls it back. Sent straight to the driver — not from a ``begin`` event listener with
    ``exec_driver_sql``: any connection event makes SQLAlchemy dispatch events on every
    statement, and the trip through its execution machinery cost more than the BEGIN.
    Errors come out wrapped as SQLAlchemy's, as they would from ``exec_driver_sql``."""
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _in_memory(url: str) -> bool:
    return ":memory:" in url or url in ("sqlite://", "sqlite:///")


def _create_private(url: str) -> None:
    """Create a SQLite database file that does not exist yet with mode ``FILE_MODE`` (an
    empty file is an empty SQLite database). Left to SQLite when that cannot be done."""
    if _in_memory(url):
        return
    parsed = sa.engine.make_url(url)
    path = parsed.database
    if not path or path.startswith("file:") or parsed.query.get("uri"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError:  # it exists (its mode is its owner's), or SQLite will say what is wrong
        return
    os.close(fd)


def create_sa_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        _create_private(url)
        engine = sa.create_engine(
            url,
            json_serializer=json_dumps,
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
    parsed = sa.engine.make_url(url)
    connect_args = (
        {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    )
    engine = sa.create_engine(
        url,
        json_serializer=json_dumps,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args,
    )
    if url.startswith("postgresql"):

        @event.listens_for(engine, "connect")
        def _on_pg_connect(dbapi_conn, _record):
            # wait for a row or advisory lock no longer than SQLite waits for its write lock
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET lock_timeout = {BUSY_TIMEOUT_MS}")
            dbapi_conn.commit()

    return engine


# what a driver's message means, by words in it (SQLite and PostgreSQL)
_REASONS = (
    (("readonly", "read-only", "read only"), "the database is read-only"),
    (("disk is full", "no space", "disk full", "database or disk is full"), "the disk is full"),
    (
        ("not a database", "malformed", "file is encrypted", "disk image"),
        "the database file is damaged or is not a gridflow database",
    ),
    (("database is locked", "lock timeout", "due to lock"), "the database is busy"),
    (("unable to open", "no such file", "permission denied"), "the database cannot be opened"),
    (("disk i/o error", "input/output error"), "the database file could not be written or read"),
    (("timeout expired", "connection refused", "could not connect", "connection failed",
      "server closed", "could not translate host"), "the database cannot be reached"),
)  # fmt: skip


def storage_error(url: str, orig: BaseException) -> StorageError:
    """One line for a driver error: ``database URL: what it means (the driver's words)``."""
    words = " ".join(str(orig).split())
    if len(words) > 200:
        words = words[:199] + "…"
    lower = words.lower()
    meaning = next(
        (text for keys, text in _REASONS if any(k in lower for k in keys)),
        "the database refused the operation",
    )
    return StorageError(f"database {url}: {meaning} ({words})", url=url, reason=meaning)


class Store:
    """Owns the SQLAlchemy engine and the statement groups. Every statement runs inside the
    caller's transaction (``tx``); the ``write``/``read`` context managers open one.

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
        self._write_turn = threading.RLock()  # SQLite writers of this process, in turn
        self._all_held: weakref.WeakSet[sa.Connection] = weakref.WeakSet()  # for dispose()
        self.cases = CaseStore(self.is_sqlite)
        self.timers = TimerStore(self.is_sqlite)
        self.outbox = OutboxStore(self.is_sqlite)
        self.heartbeat = HeartbeatStore()
        self.definitions = DefinitionStore(self._take_turns)
        self.feed = self.cases.feed

    # the HTTP API's statement groups, made on first use (a short command needs none)
    @part
    def browse(self) -> CaseBrowser:
        from gridflow.storage.browse import CaseBrowser

        return CaseBrowser()

    @part
    def tokens(self) -> TokenStore:
        from gridflow.storage.tokens import TokenStore

        return TokenStore()

    @part
    def audit(self) -> AuditStore:
        from gridflow.storage.audit import AuditStore

        return AuditStore()

    @part
    def idempotency(self) -> IdempotencyStore:
        from gridflow.storage.idempotency import IdempotencyStore

        return IdempotencyStore(self.is_sqlite)

    @part
    def files(self) -> FileStore:
        from gridflow.storage.files import FileStore

        return FileStore()

    @part
    def ops(self) -> OpsQueries:
        from gridflow.storage.ops import OpsQueries

        return OpsQueries()

    # the web workbench's (#14)
    @part
    def accounts(self) -> AccountStore:
        from gridflow.storage.accounts import AccountStore

        return AccountStore()

    @part
    def sessions(self) -> SessionStore:
        from gridflow.storage.accounts import SessionStore

        return SessionStore()

    @part
    def boards(self) -> BoardQueries:
        from gridflow.storage.boards import BoardQueries

        return BoardQueries()

    @part
    def case_migration(self) -> MigrationStore:
        """Moving open cases onto another workflow revision (``gridflow migrate``)."""
        from gridflow.storage.case_migration import MigrationStore

        return MigrationStore(self.is_sqlite)

    def kpi(self, tx: sa.Connection) -> KpiQueries:
        """The report's statements, bound to ``tx`` (imported on first use: most commands
        report nothing)."""
        from gridflow.storage.kpi import KpiQueries

        return KpiQueries(tx, self.dialect)

    # ---- transactions ---------------------------------------------------------------
    def write(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``). Commits on success."""
        if self.is_sqlite:
            return self._queued_write()
        return self._transaction("BEGIN IMMEDIATE")

    @contextmanager
    def _queued_write(self) -> Iterator[sa.Connection]:
        """SQLite: this process's writers take turns in a lock before ``BEGIN IMMEDIATE``.
        SQLite has one writer at a time anyway; without the lock, threads waiting for it
        sleep in the busy handler's growing steps (up to 100 ms) and a thread pool of
        writers (the HTTP API's) spends its time asleep. Other processes still meet the
        busy timeout."""
        with self._write_turn, self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    def read(self) -> AbstractContextManager[sa.Connection]:
        """A read transaction (SQLite: ``BEGIN``: one snapshot for all its statements)."""
        return self._transaction("BEGIN")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sa.Connection]:
        try:
            held = self._held_connection() if self.is_sqlite else None
            if held is not None:
                with held.begin():
                    _begin(held, begin)
                    yield held
                return
            with self._connect() as conn, conn.begin():
                if self.is_sqlite:
                    _begin(conn, begin)
                else:
                    self.feed.discard(conn)
                yield conn
                if not self.is_sqlite:
                    self.feed.flush(conn)  # number this transaction's feed events, in commit order
        except sa.exc.DBAPIError as exc:
            if isinstance(exc, sa.exc.IntegrityError):
                raise
            raise self.failure(exc) from exc

    def failure(self, exc: sa.exc.DBAPIError) -> StorageError:
        """A driver error as one line: which database, what is wrong, the driver's words."""
        return storage_error(self.safe_url, exc.orig if exc.orig is not None else exc)

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
        except sa.exc.DBAPIError as exc:
            raise self.failure(exc) from exc

    @property
    def safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def create_schema(self, upgrade: bool = False) -> None:
        """Make the database usable by this gridflow (see :mod:`gridflow.storage.migrate`):
        a new database gets every table; one behind the code is a ``StorageError`` naming
        ``gridflow db upgrade`` unless ``upgrade``, then upgraded through Alembic; one of a
        newer gridflow, or whose version is no number, is a ``StorageError``. A database
        already at this version costs one read (every CLI command opens the store)."""
        if self._at_head():
            return
        from gridflow.storage import migrate

        migrate.ensure(self, upgrade)

    def _at_head(self) -> bool:
        """Whether ``gf_meta`` and Alembic's stamp both say this gridflow's version (one
        statement; False when either table is missing)."""
        head = str(t.SCHEMA_VERSION)
        try:
            with self.read() as conn:
                seen = conn.exec_driver_sql(
                    "SELECT value FROM gf_meta WHERE key = 'schema_version' "
                    "UNION ALL SELECT version_num FROM alembic_version"
                ).all()
        except (sa.exc.DBAPIError, StorageError):  # a table missing (or no database):
            return False  # migrate.ensure says why
        return sorted(str(v) for (v,) in seen) == sorted([head, head.zfill(4)])

    def schema_version(self) -> str | None:
        """The database's schema version, or None when it has none (a new database)."""
        try:
            with self.read() as conn:
                return conn.execute(
                    sa.select(t.meta_t.c.value).where(t.meta_t.c.key == "schema_version")
                ).scalar()
        except (sa.exc.DBAPIError, StorageError):  # no gf_meta yet (or no database):
            return None  # create_schema says why

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
