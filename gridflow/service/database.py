"""The database's upkeep: schema version, upgrades, backups (service ring).

What ``gridflow db upgrade | current | history | backup`` calls; none of these opens an
``Engine`` (one refuses a database behind the code). Each takes a database URL::

    upgrade(url)          -> UpgradeRecord   to head through Alembic, under the lock
    current(url)          -> SchemaStatus    revision, schema number, head, whether behind
    history(url)          -> list[RevisionRecord], oldest first, and which is current
    backup(url, file)     -> BackupRecord    SQLite: online backup API, safe while running
    pg_dump_command(url)  -> str             PostgreSQL: the documented pg_dump route
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridflow.errors import GridflowError
from gridflow.storage import migrate
from gridflow.storage.backup import (
    PAGES_PER_STEP,
    BackupRecord,
    backup_sqlite,
    pg_dump_command,
    sqlite_path,
)
from gridflow.storage.migrate import RevisionRecord, UpgradeRecord
from gridflow.storage.store import Store, normalise_url

__all__ = [
    "BackupRecord",
    "RevisionRecord",
    "SchemaStatus",
    "UpgradeRecord",
    "backup",
    "current",
    "history",
    "is_sqlite",
    "pg_dump_command",
    "upgrade",
]

HEAD_REVISION = migrate.revision_of(migrate.HEAD)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands: its Alembic ``revision`` (None: not stamped), its
    ``gf_meta`` ``version`` (None: none), this gridflow's ``head``; ``new``: no gridflow
    tables yet; ``behind``: ``gridflow db upgrade`` has work to do."""

    url: str
    revision: str | None
    version: str | None
    head: str
    head_version: int
    new: bool
    behind: bool


def _open(url: str, *, existing: bool = False) -> Store:
    """The store of ``url``; ``existing``: a SQLite file must exist already (opening the
    store would create it)."""
    if existing and is_sqlite(url):
        path = sqlite_path(normalise_url(url))
        if not path.is_file():
            raise GridflowError(f"database {url} does not exist")
    return Store(url)


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def upgrade(url: str) -> UpgradeRecord:
    """Upgrade the database to this gridflow's schema (a new one is created at head)."""
    store = _open(url)
    try:
        return migrate.upgrade(store)
    finally:
        store.dispose()


def current(url: str) -> SchemaStatus:
    """The database's revision and schema number (read only; checks it is gridflow's)."""
    store = _open(url, existing=True)
    try:
        with store.read() as conn:
            state = migrate.read_state(conn)
        behind = False
        if not state.is_new:
            number = migrate.current_version(store.safe_url, state)
            behind = number < migrate.HEAD or state.revision != HEAD_REVISION
        return SchemaStatus(
            store.safe_url,
            state.revision,
            state.version,
            HEAD_REVISION,
            migrate.HEAD,
            state.is_new,
            behind,
        )
    finally:
        store.dispose()


def history() -> list[RevisionRecord]:
    """The schema's revisions, oldest first."""
    return migrate.history()


def backup(
    url: str, target: str | Path, *, force: bool = False, pages: int = PAGES_PER_STEP
) -> BackupRecord:
    """Back up a SQLite database to ``target`` while it is in use (``pages`` per step; see
    ``gridflow.storage.backup``); for PostgreSQL a ``GridflowError`` giving the ``pg_dump``
    command to run instead."""
    if is_sqlite(url):
        return backup_sqlite(normalise_url(url), Path(target), force=force, pages=pages)
    store = _open(url)
    try:
        raise GridflowError(
            f"database {store.safe_url} is PostgreSQL: back it up with pg_dump, e.g. "
            f"{pg_dump_command(store.url, str(target))} (restore: pg_restore)"
        )
    finally:
        store.dispose()
