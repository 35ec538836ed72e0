"""``gridflow db backup``: a SQLite backup taken while another process commits steps holds
every step committed before it began, whole cases (state = its last step), its feed, and
passes ``PRAGMA integrity_check``; PostgreSQL is pointed to ``pg_dump``."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from waiting import wait_for_progress

from gridflow.drivers.cli.main import cli
from gridflow.errors import GridflowError
from gridflow.service import database
from gridflow.service.engine import Engine
from gridflow.storage.backup import check

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gridflow.service.engine import Engine
    engine = Engine(sys.argv[1])
    stop = Path(sys.argv[2])
    while not stop.exists():
        case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": "路灯" * 40})
        engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
        engine.fire(case.id, "sign", actor="police.liaison")
    engine.close()
    """
)


def _steps(path: Path) -> set[tuple[int, int]]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute("SELECT case_id, seq FROM gf_history").fetchall())


@pytest.mark.slow
def test_a_backup_taken_under_load_has_every_committed_step(tmp_path):
    db = tmp_path / "gridflow.db"
    url = f"sqlite:///{db}"
    Engine(url).close()
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url, str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_progress(lambda: len(_steps(db)), lambda n: n >= 600, alive=[writer])
        committed = _steps(db)  # every step committed before the backup begins
        began = time.perf_counter()
        done = database.backup(url, tmp_path / "copy.db", pages=8)  # many small steps
        took = time.perf_counter() - began
        after = _steps(db)
    finally:
        stop.touch()
        _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert len(after) > len(committed), "the writer kept committing during the backup"
    assert done.steps > 10 and done.pages >= 8 * 10
    print(f"backup of {done.bytes:,} bytes in {done.steps} steps under load: {took:.3f} s")

    copy = tmp_path / "copy.db"
    assert check(copy) == "ok"
    assert copy.stat().st_mode & 0o777 == 0o600
    backed = _steps(copy)
    assert committed <= backed  # every committed step is there
    with sqlite3.connect(copy) as conn:
        whole = conn.execute(
            "SELECT count(*) FROM gf_case c WHERE c.state != (SELECT h.to_state FROM "
            "gf_history h WHERE h.case_id = c.id ORDER BY h.seq DESC LIMIT 1)"
        ).fetchone()[0]
        feed = set(conn.execute("SELECT case_id, seq FROM gf_event").fetchall())
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert whole == 0  # each case as its last step left it: no half-copied transaction
    assert feed == backed  # the change feed has exactly the steps
    assert journal == "delete"  # one self-contained file
    restored = Engine(f"sqlite:///{copy}")  # opens as a gridflow database, at head
    newest = max(case_id for case_id, _ in committed)
    assert [s.trigger for s in restored.history(newest)][:1] == ["start"]
    restored.close()


def test_backup_refuses_what_it_should(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDFLOW_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    run = CliRunner()
    missing = run.invoke(cli, ["--db", url, "db", "backup", str(tmp_path / "b.db")])
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert not (tmp_path / "g.db").exists()  # asking did not create it
    Engine(url).close()
    made = run.invoke(cli, ["--db", url, "db", "backup", str(tmp_path / "b.db")])
    assert made.exit_code == 0 and "backed up to" in made.stdout and "1 step(s)" in made.stdout
    again = run.invoke(cli, ["--db", url, "db", "backup", str(tmp_path / "b.db")])
    assert again.exit_code == 1 and "exists: choose another file, or --force" in again.stderr
    forced = run.invoke(cli, ["--db", url, "db", "backup", "--force", str(tmp_path / "b.db")])
    assert forced.exit_code == 0
    itself = run.invoke(cli, ["--db", url, "db", "backup", "--force", str(tmp_path / "g.db")])
    assert itself.exit_code == 1 and "is the database itself" in itself.stderr
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    with pytest.raises(GridflowError, match="is not a file"):
        database.backup("sqlite://", tmp_path / "m.db")


def test_postgresql_is_backed_up_with_pg_dump(tmp_path):
    url = "postgresql://gf:secret@db.example:5432/gridflow?options=-csearch_path%3Dsite1"
    with pytest.raises(GridflowError) as told:
        database.backup(url, tmp_path / "x.dump")
    text = str(told.value)
    assert f"pg_dump --format=custom --schema=site1 --file={tmp_path / 'x.dump'} " in text
    assert "'postgresql://gf:***@db.example:5432/gridflow'" in text and "secret" not in text
