"""The schema through Alembic: the revisions agree with the tables, versions are checked,
databases from before Alembic are stamped from ``gf_meta``, concurrent upgraders take turns.

CI's check that the table definitions and the migrations agree is
``test_the_revisions_build_the_tables_as_defined``, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from conftest import FakeClock
from old_schemas import to_schema, to_schema_1
from test_upgrade import T0, _events, _steps
from waiting import wait_for_progress

from gridflow.drivers.cli.main import cli
from gridflow.errors import StorageError
from gridflow.service import database
from gridflow.service.engine import Engine
from gridflow.storage import migrate, schema
from gridflow.storage.store import Store

HEAD = migrate.revision_of(migrate.HEAD)


def _differences(url: str, metadata: sa.MetaData) -> list:
    store = Store(url)
    try:
        with store.read() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        store.dispose()


def test_the_revisions_build_the_tables_as_defined(db_url):
    """From an empty database through every revision (0001 … head): the tables, columns,
    types, nullability, keys, unique constraints and indexes are those of ``tables.py``
    (through the generated ``schema.py``). Nothing is ignored: the comparison already
    leaves out Alembic's own ``alembic_version``."""
    store = Store(db_url)
    with store.write() as conn:
        command.upgrade(migrate.config(conn), "head")
    with store.read() as conn:
        state = migrate.read_state(conn)
    store.dispose()
    assert (state.version, state.revision) == (str(migrate.HEAD), HEAD)
    assert _differences(db_url, schema.metadata) == []
    # the comparison notices a difference (a column the revisions do not make)
    other = sa.MetaData()
    for table in schema.metadata.sorted_tables:
        table.to_metadata(other)
    other.tables["gf_case"].append_column(sa.Column("extra", sa.String(), nullable=True))
    assert [d[0] for d in _differences(db_url, other)] == ["add_column"]


def test_a_new_database_is_made_at_head_and_stamped(db_url):
    engine = Engine(db_url)
    with engine.store.read() as conn:
        state = migrate.read_state(conn)
    assert (state.version, state.revision) == (str(migrate.HEAD), HEAD)
    engine.close()
    assert _differences(db_url, schema.metadata) == []  # create_all agrees with the revisions
    status = database.current(db_url)
    assert (status.revision, status.behind, status.new) == (HEAD, False, False)


@pytest.mark.parametrize("version", [2, 3])
def test_a_database_from_before_alembic_is_stamped_from_gf_meta(db_url, version):
    engine = Engine(db_url, clock=FakeClock(T0))
    _events(engine)
    steps = _steps(engine)
    with engine.store.write() as conn:
        to_schema(conn, version)
    engine.close()
    assert database.current(db_url).behind
    done = database.upgrade(db_url)
    assert (done.from_version, done.from_revision, done.stamped) == (
        version,
        migrate.revision_of(version),
        True,
    )
    again = Engine(db_url, clock=FakeClock(T0))
    assert _steps(again) == steps
    again.close()
    assert _differences(db_url, schema.metadata) == []
    assert database.upgrade(db_url).from_revision == HEAD  # nothing left to do


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("version", "abc", "schema version 'abc', which is no gridflow schema"),
        ("revision", "f00dcafe", "Alembic revision 'f00dcafe', which is no gridflow schema"),
        ("version", "9", "written by a newer gridflow (schema 9; this one knows up to"),
        ("revision", "0009", "written by a newer gridflow (schema 9;"),
    ],
)
def test_a_version_not_ours_is_refused(db_url, column, value, words):
    Engine(db_url).close()
    store = Store(db_url)
    with store.write() as conn:
        if column == "version":
            conn.execute(sa.text("UPDATE gf_meta SET value = :v"), {"v": value})
        else:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": value})
    store.dispose()
    for attempt in (lambda: Engine(db_url, upgrade=True), lambda: database.upgrade(db_url)):
        with pytest.raises(StorageError) as refused:
            attempt()
        assert words in str(refused.value) and "\n" not in str(refused.value)


def test_db_commands(sqlite_url, monkeypatch):
    for name in ("GRIDFLOW_DATABASE_URL", "GRIDFLOW_CONFIG", "GRIDFLOW_UPGRADE_ON_START"):
        monkeypatch.delenv(name, raising=False)
    run = CliRunner()
    engine = Engine(sqlite_url, clock=FakeClock(T0))
    _events(engine)
    with engine.store.write() as conn:
        to_schema_1(conn)
    engine.close()
    db = ["--db", sqlite_url]
    current = run.invoke(cli, [*db, "db", "current"])
    assert current.exit_code == 0 and "(not stamped) (schema 1)" in current.stdout
    assert "behind: run `gridflow db upgrade`" in current.stdout
    refused = run.invoke(cli, [*db, "list"])
    assert refused.exit_code == 1 and "run `gridflow db upgrade`" in refused.stderr
    assert "Traceback" not in refused.stderr
    monkeypatch.setenv("GRIDFLOW_UPGRADE_ON_START", "maybe")
    bad = run.invoke(cli, [*db, "list"])
    assert bad.exit_code == 1 and "GRIDFLOW_UPGRADE_ON_START must be" in bad.stderr
    monkeypatch.delenv("GRIDFLOW_UPGRADE_ON_START")
    upgraded = run.invoke(cli, [*db, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from revision 0001 (schema 1) to {HEAD}" in upgraded.stdout
    assert run.invoke(cli, [*db, "list"]).exit_code == 0
    assert "up to date" in run.invoke(cli, [*db, "db", "current"]).stdout
    again = run.invoke(cli, [*db, "db", "upgrade"])
    assert f"already at revision {HEAD}" in again.stdout
    history = run.invoke(cli, [*db, "db", "history"]).stdout.splitlines()
    assert [line.split()[2] for line in history] == ["0001", "0002", "0003", "0004"]
    assert history[0].startswith("<base> -> 0001  schema 1, the baseline")


def test_upgrade_on_start_in_the_settings(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDFLOW_UPGRADE_ON_START", raising=False)
    engine = Engine(sqlite_url, clock=FakeClock(T0))
    _events(engine)
    with engine.store.write() as conn:
        to_schema_1(conn)
    engine.close()
    config = tmp_path / "gridflow.toml"
    config.write_text("[database]\nupgrade_on_start = true\n", encoding="utf-8")
    listed = CliRunner().invoke(cli, ["--db", sqlite_url, "--config", str(config), "list"])
    assert listed.exit_code == 0, listed.output
    assert database.current(sqlite_url).behind is False
    config.write_text('[database]\nupgrade_on_start = "yes"\n', encoding="utf-8")
    bad = CliRunner().invoke(cli, ["--db", sqlite_url, "--config", str(config), "list"])
    assert bad.exit_code == 1 and "upgrade_on_start must be true or false" in bad.stderr


_UPGRADER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    go = Path(sys.argv[2])
    from gridflow.service import database
    Path(sys.argv[3]).touch()  # ready
    while not go.exists():
        time.sleep(0.01)
    done = database.upgrade(sys.argv[1])
    print(json.dumps([done.from_version, done.to_version, done.from_revision, done.stamped]))
    """
)


@pytest.mark.slow
def test_concurrent_upgraders_take_turns(db_url, tmp_path):
    """Four processes upgrade one schema-1 database at the same moment: one upgrades, the
    others wait for its lock and find the work done; every step is still there."""
    engine = Engine(db_url, clock=FakeClock(T0))
    _events(engine)
    steps = _steps(engine)
    with engine.store.write() as conn:
        to_schema_1(conn)
    engine.close()
    go = tmp_path / "go"
    procs = []
    for n in range(4):
        ready = tmp_path / f"ready{n}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _UPGRADER, db_url, str(go), str(ready)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    wait_for_progress(
        lambda: sum((tmp_path / f"ready{n}").exists() for n in range(4)),
        lambda k: k == 4,
        alive=procs,
    )
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(tuple(json.loads(out)))
    upgrades = [r for r in results if r[2] == "0001"]
    assert upgrades == [(1, migrate.HEAD, "0001", True)]  # exactly one upgraded
    assert sorted(results[:]) == sorted(
        [*upgrades, *[(migrate.HEAD, migrate.HEAD, HEAD, False)] * 3]
    )
    again = Engine(db_url, clock=FakeClock(T0))
    assert _steps(again) == steps
    again.close()
    assert _differences(db_url, schema.metadata) == []


def test_migrations_ship_with_the_package():
    from gridflow.storage import migrations

    folder = Path(migrations.__file__).parent
    assert (folder / "env.py").is_file()
    assert sorted(p.name[:5] for p in (folder / "versions").glob("r0*.py")) == [
        "r0001",
        "r0002",
        "r0003",
        "r0004",
    ]
