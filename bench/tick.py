"""Timers: ``Engine.tick`` throughput and the RSS of a process ticking, by database size.

For each size (open cases; SQLite data sets from bench/generate.py with ``--open-fraction
1``, cached under bench/results/), a worker process — a fresh interpreter doing nothing but
tick passes, like the daemon — runs repeats of two windows over the pending timers in due
order:

- **tick**: ``engine.tick(now)`` with ``now`` the due time of the K-th next pending timer:
  every timer due by then is claimed (batches of 200 under a lease) and acted on in its own
  transaction (notices rendered to the outbox, escalation notes, SLA-fired transitions).
- **floor**: the next K timers, the minimal durable work per timer with SQLAlchemy Core on a
  held connection: the same claim query and lease UPDATE per batch, then per timer one
  transaction — mark it done, bump the case version, append a history note.

Then empty passes (nothing due: the daemon's idle cost). The parent samples the worker's RSS
with psutil every 20 ms and keeps the peak. Acting on timers changes the data set (cases move
on), so later runs continue with later timers.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/tick.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, RESULTS, fmt, sqlite_url, summary

SIZES = [10_000, 100_000, 1_000_000]
QUICK_SIZES = [2_000, 20_000]


def _pending(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n = db.execute("SELECT count(*) FROM gf_timer WHERE status = 'pending'").fetchone()[0]
    db.close()
    return n


def dataset(size: int, need: int, log=print) -> tuple[Path, dict]:
    """The cached data set of ``size`` open cases, made again when earlier runs have used up
    its pending timers (fewer than ``need`` left)."""
    from bench.common import remove_sqlite
    from bench.generate import ensure_sqlite

    path = RESULTS / f"open-{size}.db"
    say = lambda m: log(f"  [generate {size:,}] {m}")  # noqa: E731
    meta = ensure_sqlite(path, size, 1.0, log=say)
    if _pending(path) < need:
        remove_sqlite(path)
        meta = ensure_sqlite(path, size, 1.0, log=say)
    return path, meta


# ---- the worker (runs in its own process) ---------------------------------------------------
class TimerFloor:
    """The floor of acting on timers: claim as tick does, then per timer one transaction
    (timer done, case version + 1, a history note)."""

    def __init__(self, url: str, owner: str = "floor"):
        import sqlalchemy as sa

        from gridflow.storage import tables as t
        from gridflow.storage.store import create_sa_engine

        self.sa, self.t = sa, t
        self.eng = create_sa_engine(url)
        self.conn = self.eng.connect()
        tm, c = t.timer_t, t.case_t
        p = sa.bindparam
        self.claim = (
            sa.select(tm.c.id, tm.c.case_id, tm.c.name)
            .where(
                tm.c.status == "pending",
                tm.c.due_at <= p("now"),
                sa.or_(tm.c.lease_until.is_(None), tm.c.lease_until < p("now")),
            )
            .order_by(tm.c.due_at)
            .limit(p("n"))
        )
        self.lease = (
            tm.update()
            .where(tm.c.id.in_(p("ids", expanding=True)))
            .values(lease_owner=owner, lease_until=p("until"), attempts=tm.c.attempts + 1)
        )
        self.done = (
            tm.update()
            .where(tm.c.id == p("b_id"), tm.c.status == "pending")
            .values(status="done", done_at=p("at"))
        )
        self.case = sa.select(c.c.version, c.c.state).where(c.c.id == p("b_id"))
        self.bump = (
            c.update()
            .where(c.c.id == p("b_id"), c.c.version == p("b_v"))
            .values(version=p("v"), updated_at=p("at"))
        )
        self.note = t.history_t.insert()

    def _tx(self):
        self.conn.exec_driver_sql("BEGIN IMMEDIATE")

    def run(self, now: datetime) -> int:
        from datetime import timedelta

        conn, acted = self.conn, 0
        while True:
            self._tx()
            rows = conn.execute(self.claim, {"now": now, "n": 200}).all()
            if rows:
                conn.execute(
                    self.lease, {"ids": [r.id for r in rows], "until": now + timedelta(minutes=1)}
                )
            conn.commit()
            if not rows:
                return acted
            for r in rows:
                self._tx()
                if conn.execute(self.done, {"b_id": r.id, "at": now}).rowcount == 1:
                    ver, state = conn.execute(self.case, {"b_id": r.case_id}).one()
                    conn.execute(
                        self.bump, {"b_id": r.case_id, "b_v": ver, "v": ver + 1, "at": now}
                    )
                    conn.execute(
                        self.note,
                        {
                            "case_id": r.case_id,
                            "seq": ver + 1,
                            "trigger": f"sla:{r.name}",
                            "from_state": state,
                            "to_state": state,
                            "actor": "system",
                            "comment": "floor",
                            "at": now,
                        },
                    )
                    acted += 1
                conn.commit()

    def close(self) -> None:
        self.conn.close()
        self.eng.dispose()


def _due_points(path: Path, k: int, count: int) -> list[datetime]:
    """Window ends: each the due time of the k-th pending timer due after the previous end
    (many timers share a due time — the data set's families are copies shifted by whole
    weeks — so a window may hold more than k, never none)."""
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out: list[datetime] = []
    after = ""
    for _ in range(count):
        row = db.execute(
            "SELECT due_at FROM gf_timer WHERE status = 'pending' AND due_at > ? "
            "ORDER BY due_at LIMIT 1 OFFSET ?",
            (after, k - 1),
        ).fetchone()
        if row is None:
            break
        after = row[0]
        out.append(datetime.fromisoformat(row[0]).replace(tzinfo=UTC))
    db.close()
    return out


def worker(path: Path, k: int, repeats: int) -> dict[str, Any]:
    import psutil

    from gridflow.service.engine import Engine

    logging.getLogger("gridflow").setLevel(logging.ERROR)
    me = psutil.Process()
    rss0 = me.memory_info().rss
    engine = Engine(sqlite_url(path))
    floor = TimerFloor(sqlite_url(path))
    rss_ready = me.memory_info().rss
    points = _due_points(path, k, 2 * repeats)
    if len(points) < 2 * repeats:
        raise SystemExit(f"{path.name}: not enough pending timers for {repeats} repeats")
    tick_rates, floor_rates, tick_cpu, floor_cpu, fired, kinds = [], [], [], [], 0, {}
    for r in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = engine.tick(points[2 * r])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        if res.errors:
            raise SystemExit(f"tick errors: {res.errors[:3]}")
        tick_rates.append(res.fired / dt)
        tick_cpu.append(res.fired / dc)
        fired += res.fired
        t, c = time.perf_counter(), time.process_time()
        acted = floor.run(points[2 * r + 1])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        floor_rates.append(acted / dt)
        floor_cpu.append(acted / dc)
    # idle passes: nothing is due
    now = points[2 * repeats - 1]
    idle = []
    for _ in range(20):
        t = time.perf_counter()
        res = engine.tick(now)
        idle.append((time.perf_counter() - t) * 1000)
        assert res.claimed == 0
    with engine.store.read() as conn:
        import sqlalchemy as sa

        from gridflow.storage import tables as tt

        kinds = dict(
            conn.execute(
                sa.select(tt.timer_t.c.kind, sa.func.count())
                .where(tt.timer_t.c.done_at >= points[0], tt.timer_t.c.status == "done")
                .group_by(tt.timer_t.c.kind)
            ).all()
        )
    engine.close()
    floor.close()
    return {
        "tick_rates": tick_rates,
        "floor_rates": floor_rates,
        "tick_cpu_rates": tick_cpu,
        "floor_cpu_rates": floor_cpu,
        "fired": fired,
        "idle_pass_ms": idle,
        "rss_start_mb": rss0 / 2**20,
        "rss_ready_mb": rss_ready / 2**20,
        "rss_end_mb": me.memory_info().rss / 2**20,
        "done_by_kind": kinds,
    }


# ---- the parent ------------------------------------------------------------------------------
def measure(path: Path, k: int, repeats: int) -> dict[str, Any]:
    import psutil

    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", str(path), str(k), str(repeats)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"tick worker failed ({proc.returncode}): {err[-2000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["rss_peak_mb"] = peak / 2**20
    return res


def run(quick: bool = False, log=print, sizes: list[int] | None = None) -> dict[str, Any]:
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    k, repeats = (300, 3) if quick else (2000, 5)
    out: dict[str, Any] = {"timers_per_window": k, "repeats": repeats, "sizes": {}}
    for size in sizes:
        path, meta = dataset(size, 3 * k * repeats, log)
        log(f"  tick: {size:,} cases ({meta['open_cases']:,} open, {meta['timer_rows']:,} timers)")
        res = measure(path, k, repeats)
        ratios = [a / b for a, b in zip(res["tick_rates"], res["floor_rates"], strict=True)]
        cpu_ratios = [
            a / b for a, b in zip(res["tick_cpu_rates"], res["floor_cpu_rates"], strict=True)
        ]
        out["sizes"][str(size)] = {
            "cases": meta["cases"],
            "open_cases": meta["open_cases"],
            "timers": meta["timer_rows"],
            "db_mb": round(path.stat().st_size / 2**20),
            "tick_per_s": summary(res["tick_rates"], 0),
            "floor_per_s": summary(res["floor_rates"], 0),
            "ratio": summary(ratios),
            "cpu_ratio": summary(cpu_ratios),
            "idle_pass_ms": summary(res["idle_pass_ms"], 2),
            "rss_peak_mb": round(res["rss_peak_mb"], 1),
            "rss_ready_mb": round(res["rss_ready_mb"], 1),
            "rss_end_mb": round(res["rss_end_mb"], 1),
            "fired": res["fired"],
            "done_by_kind": res["done_by_kind"],
        }
        s = out["sizes"][str(size)]
        log(
            f"    tick {fmt(s['tick_per_s'], '/s', 0)}, floor {fmt(s['floor_per_s'], '/s', 0)}, "
            f"ratio {fmt(s['ratio'])}, idle pass {s['idle_pass_ms']['median']} ms, "
            f"RSS peak {s['rss_peak_mb']} MB"
        )
    peaks = [v["rss_peak_mb"] for v in out["sizes"].values()]
    out["rss_growth_mb"] = round(max(peaks) - min(peaks), 1)
    out["target"] = "RSS flat across sizes and < 150 MB"
    out["met"] = max(peaks) < 150 and out["rss_growth_mb"] < 15
    return out


def rows(res: dict[str, Any]) -> list[list[str]]:
    out = []
    for s in res["sizes"].values():
        out.append(
            [
                f"{s['cases']:,} cases, {s['open_cases']:,} open ({s['timers']:,} timers, "
                f"{s['db_mb']:,} MB)",
                fmt(s["tick_per_s"], "/s", 0),
                fmt(s["floor_per_s"], "/s", 0),
                fmt(s["ratio"]),
                f"{s['idle_pass_ms']['median']:.2f} ms",
                f"{s['rss_peak_mb']:.0f} MB",
            ]
        )
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        print(json.dumps(worker(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2))
