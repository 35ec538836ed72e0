"""Databases as older gridflows left them, made from a current one (test helper).

``to_schema_1`` turns a database made by this gridflow into what schema 1 (revision
``0001``, before Alembic) was: no facet columns or report indexes, no notice context, no
per-job daemon beats, none of the tables added since, no ``alembic_version``, and
``gf_meta.schema_version`` 1. The rows kept are the ones this gridflow wrote, so an upgrade
can be checked against the figures of the same events before.
"""

from __future__ import annotations

import sqlalchemy as sa

from gridflow.storage import tables as t

LATER_TABLES = (
    "gf_step_origin", "gf_token", "gf_audit", "gf_idempotency", "gf_file", "gf_event",
    "gf_account", "gf_session", "gf_login_state",
)  # fmt: skip
LATER_COLUMNS = (
    ("gf_case", ("tag", "party", "grade")),
    ("gf_history", ("workflow_id", "case_tag", "case_unit", "case_party", "case_grade")),
    ("gf_outbox", ("recipient_name", "context")),
    ("gf_daemon", ("timers_at", "delivery_at")),
)


def to_schema_1(conn: sa.Connection) -> None:
    """Make the database of ``conn`` (in a write transaction) a schema-1 database."""
    for index in (*t.case_t.indexes, *t.history_t.indexes):
        if index.name in ("ix_gf_case_kpi", "ix_gf_history_kpi"):
            index.drop(conn)
    for table, names in LATER_COLUMNS:
        for name in names:
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {name}"))
    for name in (*LATER_TABLES, "alembic_version"):
        conn.execute(sa.text(f"DROP TABLE {name}"))
    conn.execute(t.meta_t.update().where(t.meta_t.c.key == "schema_version").values(value="1"))


def to_schema(conn: sa.Connection, version: int) -> None:
    """Schema 2 or 3 as a database from before Alembic: only ``gf_meta`` says which, and
    it holds the tables of its day (schema 3: all but the workbench's)."""
    conn.execute(sa.text("DROP TABLE alembic_version"))
    if version <= 3:
        for name in ("gf_account", "gf_session", "gf_login_state"):
            conn.execute(sa.text(f"DROP TABLE {name}"))
    conn.execute(
        t.meta_t.update().where(t.meta_t.c.key == "schema_version").values(value=str(version))
    )


def structure(conn: sa.Connection) -> dict[str, set[str]]:
    """Table → column names (gridflow's tables), to compare two databases' shapes."""
    seen = sa.inspect(conn)
    return {
        n: {c["name"] for c in seen.get_columns(n)}
        for n in seen.get_table_names()
        if n.startswith("gf_")
    }
