"""What a user would pick instead of gridflow's timers: APScheduler 3.11 with its
SQLAlchemyJobStore on SQLite (WAL, synchronous=NORMAL), firing due jobs that each do one
insert — the rate at which it works through ``n`` jobs that are all due.

Each job is a ``date`` job persisted in the job store (pickled, as the store does); the
scheduler starts with all of them due and runs them on its default thread pool; the clock
stops when the last job's row is in. Run in a fresh process (``python bench/apscheduler_floor.py
N``) so that its threads and imports measure alone.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_DB: Path | None = None
_local = threading.local()


def job(i: int) -> None:
    """One due job's work: one insert, committed (a connection per worker thread)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        assert _DB is not None
        conn = _local.conn = sqlite3.connect(_DB, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("INSERT INTO done (i) VALUES (?)", (i,))


def run(n: int) -> dict[str, float]:
    global _DB
    import sqlalchemy as sa
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    folder = Path(tempfile.mkdtemp(prefix="gf-apscheduler-"))
    _DB = folder / "jobs.db"
    setup = sqlite3.connect(_DB)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE done (i INTEGER)")
    setup.commit()
    engine = sa.create_engine(f"sqlite:///{_DB}", connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    store = SQLAlchemyJobStore(engine=engine)
    sched = BackgroundScheduler(jobstores={"default": store}, timezone="UTC")
    when = datetime.now(UTC) + timedelta(seconds=1)
    sched.start(paused=True)
    for i in range(n):
        sched.add_job(job, "date", run_date=when, args=[i], id=f"j{i}", misfire_grace_time=None)
    while datetime.now(UTC) < when:
        time.sleep(0.01)
    t = time.perf_counter()
    sched.resume()
    while setup.execute("SELECT count(*) FROM done").fetchone()[0] < n:
        time.sleep(0.005)
    elapsed = time.perf_counter() - t
    sched.shutdown(wait=True)
    setup.close()
    return {"jobs": n, "seconds": elapsed, "per_s": n / elapsed}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
