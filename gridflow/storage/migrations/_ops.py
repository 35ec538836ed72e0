"""What the revisions share: add what is missing, set the schema version (storage ring).

A schema-2 or -3 database may already hold tables or columns its version number does not
promise (gridflow added some tables without raising the number), so revisions after the
baseline create a table or add a column only when it is not there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def add_missing_columns(table: str, *columns: sa.Column[Any]) -> None:
    """Add each of ``columns`` to ``table`` unless it has one of that name already."""
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    for column in columns:
        if column.name not in have:
            op.add_column(table, column)


def create_missing_index(name: str, table: str, columns: list[str]) -> None:
    have = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}
    if name not in have:
        op.create_index(name, table, columns, unique=False)


def set_schema_version(version: int) -> None:
    """``gf_meta.schema_version`` follows the revisions, so an older gridflow (which reads
    only that number) still sees what the database is."""
    op.execute(
        sa.text("UPDATE gf_meta SET value = :v WHERE key = 'schema_version'").bindparams(
            v=str(version)
        )
    )


def refuse_downgrade() -> None:
    raise NotImplementedError("gridflow does not downgrade a schema: restore a backup instead")
