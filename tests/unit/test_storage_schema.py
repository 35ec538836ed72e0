"""The tables are defined once (SQLModel, ``storage/tables.py``); the Core tables the code
runs on (``storage/schema.py``) are generated from them, and the typed records follow them.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from gridflow.storage import records, schema
from gridflow.storage.generate import differences


def test_the_generated_schema_is_current() -> None:
    assert differences() == []


def test_a_table_that_differs_is_noticed() -> None:
    import sqlalchemy as sa

    changed = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        if table.name == "gf_case":
            columns = [
                sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in table.columns
                if c.name != "grade"
            ]
            sa.Table(table.name, changed, *columns)
        else:
            table.to_metadata(changed)
    found = differences(changed)
    assert found and all("gf_case" in d for d in found)


@pytest.mark.parametrize(
    ("record", "table"),
    [
        (records.CaseRecord, schema.case_t),
        (records.StepRecord, schema.history_t),
        (records.OriginRecord, schema.origin_t),
        (records.TimerRecord, schema.timer_t),
        (records.NoticeRecord, schema.outbox_t),
        (records.EndpointRecord, schema.endpoint_t),
        (records.DaemonRecord, schema.daemon_t),
        (records.DefinitionRecord, schema.definition_t),
        (records.OrgRecord, schema.org_t),
    ],
)
def test_records_follow_their_tables(record, table) -> None:
    assert [f.name for f in dataclasses.fields(record)] == [c.name for c in table.columns]


def test_running_gridflow_imports_neither_sqlmodel_nor_the_orm() -> None:
    code = (
        "import sys, gridflow.service.engine, gridflow.drivers.cli.main; "
        "print(sorted(m for m in ('sqlmodel', 'sqlalchemy.orm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
