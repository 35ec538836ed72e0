"""The schema's version, kept by Alembic: check, create, stamp, upgrade (storage ring).

Each schema version is one Alembic revision in ``migrations/versions`` (``0001`` is schema
1, the baseline; revision ``000N`` is schema N) and each revision also sets
``gf_meta.schema_version``, the number older gridflows read. What opening a database does
(:func:`ensure`, called by ``Store.create_schema``):

* at this gridflow's version: nothing more than the one read ``Store.create_schema`` made;
* new (no ``gf_meta``, no ``alembic_version``): every table at head, stamped head — no
  revision is run, so a new database costs one ``create_all``;
* behind (``gf_meta`` or ``alembic_version`` older): a ``StorageError`` naming ``gridflow
  db upgrade``, unless ``upgrade`` is set; then :func:`upgrade`. A database from before
  Alembic (``gf_meta`` only) is first stamped with the revision of its ``gf_meta`` number;
* newer, or not a gridflow schema (a version that is no number, a revision not ours): a
  ``StorageError``.

Concurrent openers take turns: the work runs in one write transaction that first takes
PostgreSQL's advisory lock (SQLite's ``BEGIN IMMEDIATE`` is the write lock), and looks at
the version again once it holds it — the second of two upgraders finds the work done. All
revisions between the current one and head commit together or not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from gridflow.errors import StorageError
from gridflow.storage import schema as t

if TYPE_CHECKING:
    from alembic.config import Config

    from gridflow.storage.store import Store

SCRIPTS = Path(__file__).with_name("migrations")
HEAD = t.SCHEMA_VERSION
UPGRADE_COMMAND = "gridflow db upgrade"


def revision_of(version: int) -> str:
    """The Alembic revision of schema ``version`` (``4`` → ``"0004"``)."""
    return f"{version:04d}"


@dataclass(frozen=True)
class SchemaState:
    """What a database says about its schema. ``version``: ``gf_meta.schema_version`` (None:
    none); ``revision``: ``alembic_version`` (None: not stamped); ``tables``: how many
    gridflow tables it has."""

    version: str | None
    revision: str | None
    tables: int

    @property
    def is_new(self) -> bool:
        return self.version is None and self.revision is None


@dataclass(frozen=True)
class UpgradeRecord:
    """An upgrade done (or found not needed): schema numbers and revisions before and after."""

    from_version: int | None
    to_version: int
    from_revision: str | None
    to_revision: str
    stamped: bool  # the database had no alembic_version and was stamped from gf_meta
    seconds: float


@dataclass(frozen=True)
class RevisionRecord:
    """One revision of the schema's history: id, schema number, first line of its doc."""

    revision: str
    version: int
    doc: str
    down_revision: str | None


def read_state(conn: sa.Connection) -> SchemaState:
    """The schema state as ``conn`` sees it (no lock, no change)."""
    seen = sa.inspect(conn)
    names = set(seen.get_table_names())
    version = revision = None
    if t.meta_t.name in names:
        version = conn.execute(
            sa.select(t.meta_t.c.value).where(t.meta_t.c.key == "schema_version")
        ).scalar()
    if "alembic_version" in names:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    tables = sum(1 for n in names if n.startswith("gf_"))
    return SchemaState(
        None if version is None else str(version).strip(),
        None if revision is None else str(revision),
        tables,
    )


def current_version(url: str, state: SchemaState) -> int:
    """The schema number of a database that is not new, checked: a ``StorageError`` when it
    is no gridflow schema or a newer gridflow's."""
    version, revision = state.version, state.revision
    if version is not None and (not version.isdigit() or len(version) > 6):
        raise _foreign(url, f"schema version {version[:20]!r}")
    if revision is not None and (not revision.isdigit() or len(revision) != 4):
        raise _foreign(url, f"Alembic revision {revision[:20]!r}")
    number = max(int(version or 0), int(revision or 0))
    if number > HEAD:
        raise StorageError(
            f"database {url} was written by a newer gridflow (schema {number}; this one "
            f"knows up to {HEAD}): upgrade gridflow",
            url=url,
            reason="newer schema",
        )
    if number < 1:
        raise _foreign(url, f"schema version {version!r}")
    return number


def _foreign(url: str, what: str) -> StorageError:
    return StorageError(
        f"database {url} has {what}, which is no gridflow schema: is it another program's "
        "database, or damaged?",
        url=url,
        reason="unknown schema version",
    )


def behind(url: str, number: int) -> StorageError:
    """The refusal of an engine opening a database behind the code."""
    return StorageError(
        f"database {url} is at schema {number}, this gridflow uses {HEAD}: back it up, then "
        f"run `{UPGRADE_COMMAND}` (or set upgrade_on_start = true under [database])",
        url=url,
        reason="schema behind",
    )


def ensure(store: Store, upgrade: bool) -> UpgradeRecord | None:
    """Make the database usable by this gridflow (see the module doc); what was upgraded,
    or None when nothing was."""
    with store.write() as conn:
        store._take_turns(conn)  # from here, no other gridflow changes the schema
        state = read_state(conn)
        if state.is_new:
            _create_at_head(conn)
            return None
        number = current_version(store.safe_url, state)
        if number == HEAD:
            if state.revision is None:  # at head by gf_meta alone: stamp it
                from alembic import command

                command.stamp(config(conn), revision_of(HEAD))
            return None
        if not upgrade:
            raise behind(store.safe_url, number)
        return _upgrade(conn, state, number)


def upgrade(store: Store) -> UpgradeRecord:
    """Upgrade the database to head (``gridflow db upgrade``); a new database is created at
    head. Safe to run while other processes do the same (they take turns)."""
    began = time.perf_counter()
    with store.write() as conn:
        store._take_turns(conn)
        state = read_state(conn)
        if state.is_new:
            _create_at_head(conn)
            return UpgradeRecord(None, HEAD, None, revision_of(HEAD), False, _since(began))
        number = current_version(store.safe_url, state)
        if number == HEAD and state.revision == revision_of(HEAD):
            return UpgradeRecord(HEAD, HEAD, state.revision, state.revision, False, _since(began))
        return _upgrade(conn, state, number, began)


def _since(began: float) -> float:
    return round(time.perf_counter() - began, 3)


def _create_at_head(conn: sa.Connection) -> None:
    """A new database: every table as defined now, the version, the stamp."""
    from alembic import command

    t.metadata.create_all(conn)
    if conn.execute(sa.select(t.meta_t.c.key).where(t.meta_t.c.key == "schema_version")).first():
        conn.execute(  # gf_meta without a version (never written by gridflow): head
            t.meta_t.update().where(t.meta_t.c.key == "schema_version").values(value=str(HEAD))
        )
    else:
        conn.execute(t.meta_t.insert().values(key="schema_version", value=str(HEAD)))
    command.stamp(config(conn), revision_of(HEAD))


def _upgrade(
    conn: sa.Connection, state: SchemaState, number: int, began: float | None = None
) -> UpgradeRecord:
    from alembic import command

    began = time.perf_counter() if began is None else began
    cfg = config(conn)
    stamped = state.revision is None
    if stamped:  # from before Alembic: gf_meta says where it stands
        command.stamp(cfg, revision_of(number))
    command.upgrade(cfg, "head")
    return UpgradeRecord(
        number,
        HEAD,
        state.revision or revision_of(number),
        revision_of(HEAD),
        stamped,
        _since(began),
    )


def config(conn: sa.Connection | None = None) -> Config:
    """Alembic's configuration without an ``alembic.ini``: the scripts shipped in this
    package, and the connection (in its transaction) the revisions run on."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def history() -> list[RevisionRecord]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(config())
    out = []
    for script in scripts.walk_revisions():
        down = script.down_revision
        out.append(
            RevisionRecord(
                script.revision,
                int(script.revision),
                (script.doc or "").strip().splitlines()[0] if script.doc else "",
                down if isinstance(down, str) or down is None else ",".join(down),
            )
        )
    return out[::-1]
