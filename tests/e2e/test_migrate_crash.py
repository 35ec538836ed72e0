"""``gridflow migrate --apply`` killed with SIGKILL midway, then run again: every case moved
exactly once (one ``migrate`` history row each), no timer doubled; a third run moves
nothing and changes nothing (#16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import DATA, T0, FakeClock
from migrate_site import PERMIT, RENAMED, open_permits, write
from waiting import wait_for_progress

from gridflow.service.engine import Engine
from gridflow.storage import tables as t

pytestmark = pytest.mark.slow
N = 600


def seed(url: str, tmp_path: Path, directory) -> Path:
    """``N`` permits in review on revision 1; revision 2 (review renamed) stored; the
    folder of revision 2."""
    engine = Engine(url, write(tmp_path / "v1", PERMIT), clock=FakeClock(), directory=directory)
    engine.load_org(DATA / "org.yaml")  # the CLI's engine reads the stored directory
    open_permits(engine, N, submit=N)
    folder = tmp_path / "v2"
    engine.load_workflows(write(folder, RENAMED))
    engine.close()
    return folder


def counts(url: str) -> tuple[int, int]:
    """(migrate history rows, cases on revision 2)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            h, cs = t.history_t, t.case_t
            rows = c.execute(sa.select(sa.func.count()).where(h.c.trigger == "migrate"))
            moved = c.execute(sa.select(sa.func.count()).where(cs.c.revision == 2))
            return int(rows.scalar_one()), int(moved.scalar_one())
    finally:
        eng.dispose()


def command(url: str, folder: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gridflow.drivers.cli.main",
        "--db",
        url,
        "--workflows",
        str(folder),
        "migrate",
        "permit",
        "--to",
        "2",
        "--map",
        "review=checking",
        "--actor",
        "wang.chief",
        *extra,
    ]


def test_sigkill_midway_then_rerun_moves_each_case_exactly_once(tmp_path, db_url, directory):
    folder = seed(db_url, tmp_path, directory)
    env = {**os.environ, "GRIDFLOW_NOW": (T0 + timedelta(hours=1)).isoformat()}
    with open(tmp_path / "migrate.log", "w") as log:
        proc = subprocess.Popen(
            command(db_url, folder, "--apply", "--batch", "1"),
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_for_progress(lambda: counts(db_url)[0], lambda n: n >= 5, alive=[proc], poll=0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    rows, moved = counts(db_url)
    assert rows == moved and 0 < moved < N  # whole cases only, and killed midway

    done = subprocess.run(
        command(db_url, folder, "--apply", "--batch", "50"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert f"{N - moved} to migrate" in done.stdout
    assert counts(db_url) == (N, N)

    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            h, tm, cs = t.history_t, t.timer_t, t.case_t
            per_case = c.execute(
                sa.select(h.c.case_id, sa.func.count())
                .where(h.c.trigger == "migrate")
                .group_by(h.c.case_id)
            ).all()
            assert len(per_case) == N and {n for _, n in per_case} == {1}
            pending = c.execute(
                sa.select(tm.c.case_id, tm.c.name, sa.func.count())
                .where(tm.c.status == "pending")
                .group_by(tm.c.case_id, tm.c.name)
            ).all()
            assert len(pending) == 2 * N and {n for *_, n in pending} == {1}
            states = c.execute(sa.select(cs.c.state, cs.c.version).distinct()).all()
            assert states == [("checking", 3)]
            before = c.execute(sa.select(sa.func.count()).select_from(h)).scalar_one()
    finally:
        eng.dispose()

    again = subprocess.run(
        command(db_url, folder, "--apply"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert "0 to migrate" in again.stdout and "migrated 0 case(s)" in again.stdout
    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            assert c.execute(sa.select(sa.func.count()).select_from(t.history_t)).scalar_one() == (
                before
            )
    finally:
        eng.dispose()
