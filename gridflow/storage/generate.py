"""Writes :mod:`gridflow.storage.schema` from the SQLModel tables of :mod:`~.tables`.

    python -m gridflow.storage.generate          # rewrite gridflow/storage/schema.py
    python -m gridflow.storage.generate --check  # exit 1 when it disagrees with tables.py

The schema module holds the same tables as plain SQLAlchemy Core objects (names, types,
nullability, defaults, keys, indexes, constraints), so that running gridflow does not import
SQLModel; the tables are still defined once, in ``tables.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from gridflow.storage import tables
from gridflow.storage.types import UTCDateTime

TARGET = Path(__file__).with_name("schema.py")
HEADER = '''"""The tables as SQLAlchemy Core objects. GENERATED from ``tables.py``: do not edit.

Regenerate with ``python -m gridflow.storage.generate`` after changing a table; a test fails
while this file and the SQLModel classes disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

from gridflow.storage.types import UTCDateTime

SCHEMA_VERSION = {version}
metadata = sa.MetaData()
'''


def _spell(kind: sa.types.TypeEngine, where: str) -> str:
    if isinstance(kind, UTCDateTime):
        return "UTCDateTime()"
    if isinstance(kind, AutoString):
        return "sa.String()"
    for name in ("Text", "String", "BigInteger", "Integer", "Float", "Boolean", "JSON"):
        if type(kind) is getattr(sa, name):
            return f"sa.{name}()"
    raise TypeError(f"{where}: no Core spelling for {kind!r}")


def _type(column: sa.Column) -> str:
    where = f"{column.table.name}.{column.name}"
    kind = column.type
    text = _spell(kind, where)
    for dialect, variant in getattr(kind, "_variant_mapping", {}).items():
        text += f".with_variant({_spell(variant, where)}, {dialect!r})"
    return text


def _column(column: sa.Column) -> str:
    parts = [repr(column.name), _type(column)]
    if column.primary_key:
        parts.append("primary_key=True")
    parts.append(f"nullable={column.nullable}")
    default = column.default
    if default is not None:
        if not (isinstance(default, sa.ColumnDefault) and default.is_scalar):
            raise TypeError(f"{column.table.name}.{column.name}: only constant defaults")
        parts.append(f"default={default.arg!r}")
    return f"    sa.Column({', '.join(parts)}),"


def source() -> str:
    """The text of ``schema.py`` for the tables as they are defined now."""
    out = [HEADER.format(version=tables.SCHEMA_VERSION)]
    named = {v.name: k for k, v in vars(tables).items() if isinstance(v, sa.Table)}
    for table in SQLModel.metadata.sorted_tables:
        var = named.get(table.name, table.name.removeprefix("gf_") + "_t")
        lines = [f"{var} = sa.Table(", f"    {table.name!r},", "    metadata,"]
        lines += [_column(c) for c in table.columns]
        for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
            if isinstance(constraint, sa.UniqueConstraint):
                cols = ", ".join(repr(c.name) for c in constraint.columns)
                lines.append(f"    sa.UniqueConstraint({cols}, name={constraint.name!r}),")
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            cols = ", ".join(repr(c.name) for c in index.columns)
            unique = ", unique=True" if index.unique else ""
            lines.append(f"    sa.Index({index.name!r}, {cols}{unique}),")
        lines.append(")")
        out.append("\n".join(lines) + "\n")
    return "\n\n".join(out)


def _default(column: sa.Column) -> object:
    default = column.default
    return default.arg if isinstance(default, sa.ColumnDefault) else default


def differences(against: sa.MetaData | None = None) -> list[str]:
    """Where ``schema.py`` (or ``against``) and the SQLModel tables disagree: the DDL each
    compiles to on SQLite and PostgreSQL (tables, columns, types, keys, indexes), column
    defaults, and the schema version. Empty when ``schema.py`` is current."""
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from gridflow.storage import schema

    out = []
    if schema.SCHEMA_VERSION != tables.SCHEMA_VERSION:
        out.append(f"schema version {schema.SCHEMA_VERSION} != {tables.SCHEMA_VERSION}")
    defined = {t.name: t for t in SQLModel.metadata.sorted_tables}
    generated = {t.name: t for t in (against or schema.metadata).sorted_tables}
    if set(defined) != set(generated):
        out.append(f"tables {sorted(defined)} != {sorted(generated)}")
    for name in sorted(set(defined) & set(generated)):
        a, b = defined[name], generated[name]
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            ddl_a = str(CreateTable(a).compile(dialect=dialect))
            ddl_b = str(CreateTable(b).compile(dialect=dialect))
            if ddl_a != ddl_b:
                out.append(f"{name} ({dialect.name}): {ddl_a!r} != {ddl_b!r}")
            ix_a = sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in a.indexes)
            ix_b = sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in b.indexes)
            if ix_a != ix_b:
                out.append(f"{name} indexes ({dialect.name}): {ix_a} != {ix_b}")
        for col in a.columns:
            if col.name not in b.c:
                continue  # the DDL above says so
            da, db = _default(col), _default(b.c[col.name])
            if da != db:
                out.append(f"{name}.{col.name} default {da!r} != {db!r}")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = differences()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{TARGET} is not current: python -m gridflow.storage.generate", file=sys.stderr)
        return 1 if problems else 0
    TARGET.write_text(source(), encoding="utf-8")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:  # laid out as the rest of the code
        subprocess.run([ruff, "format", "--quiet", str(TARGET)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
