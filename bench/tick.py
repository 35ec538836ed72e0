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
    """The floor of acting on timers: the minimal durable work per due timer with SQLAlchemy
    Core on a held connection — take the due timers (earliest first), mark each done, bump
    its case's version, append a history note and write one ~800-byte outbox row (a notice
    owed, as a reminder writes) — ``per_tx`` timers per transaction (1: one transaction per
    timer; 500: batched, the inserts by executemany)."""

    CONTEXT = json.dumps(
        {"case": {"title": "楼道堆物" * 20, "data": {"x": "y" * 400}}, "sla": {"due": 1}},
        ensure_ascii=False,
    )

    def __init__(self, url: str):
        import sqlalchemy as sa

        from gridflow.storage import schema as t
        from gridflow.storage.store import create_sa_engine

        self.sa, self.t = sa, t
        self.eng = create_sa_engine(url)
        self.conn = self.eng.connect()
        tm, c = t.timer_t, t.case_t
        p = sa.bindparam
        self.due = (
            sa.select(tm.c.id, tm.c.case_id, tm.c.name)
            .where(tm.c.status == "pending", tm.c.due_at <= p("now"))
            .order_by(tm.c.due_at)
            .limit(p("n"))
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
        self.owe = t.outbox_t.insert()

    def run(self, now: datetime, per_tx: int) -> int:
        import uuid

        conn, acted = self.conn, 0
        while True:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            rows = conn.execute(self.due, {"now": now, "n": per_tx}).all()
            notes, owed = [], []
            for r in rows:
                if conn.execute(self.done, {"b_id": r.id, "at": now}).rowcount != 1:
                    continue
                ver, state = conn.execute(self.case, {"b_id": r.case_id}).one()
                conn.execute(self.bump, {"b_id": r.case_id, "b_v": ver, "v": ver + 1, "at": now})
                notes.append(
                    {
                        "case_id": r.case_id,
                        "seq": ver + 1,
                        "trigger": f"sla:{r.name}",
                        "from_state": state,
                        "to_state": state,
                        "actor": "system",
                        "comment": "floor",
                        "at": now,
                    }
                )
                owed.append(
                    {
                        "id": uuid.uuid4().hex,
                        "case_id": r.case_id,
                        "notice": "reminder",
                        "recipient": "someone",
                        "channel": "email",
                        "address": "someone@example.org",
                        "context": self.CONTEXT,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
                acted += 1
            if notes:
                conn.execute(self.note, notes)
                conn.execute(self.owe, owed)
            conn.commit()
            if not rows:
                return acted

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
    points = _due_points(path, k, 3 * repeats)
    if len(points) < 3 * repeats:
        raise SystemExit(f"{path.name}: not enough pending timers for {repeats} repeats")
    tick_rates, floor_rates, batched_rates, fired, kinds = [], [], [], 0, {}
    tick_cpu, batched_cpu = [], []
    for r in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = engine.tick(points[3 * r])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        if res.errors:
            raise SystemExit(f"tick errors: {res.errors[:3]}")
        tick_rates.append(res.fired / dt)
        tick_cpu.append(res.fired / dc)
        fired += res.fired
        t = time.perf_counter()
        acted = floor.run(points[3 * r + 1], per_tx=1)
        floor_rates.append(acted / (time.perf_counter() - t))
        t, c = time.perf_counter(), time.process_time()
        acted = floor.run(points[3 * r + 2], per_tx=500)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        batched_rates.append(acted / dt)
        batched_cpu.append(acted / dc)
    # idle passes: nothing is due
    now = points[3 * repeats - 1]
    idle = []
    for _ in range(20):
        t = time.perf_counter()
        res = engine.tick(now)
        idle.append((time.perf_counter() - t) * 1000)
        assert res.claimed == 0
    with engine.store.read() as conn:
        import sqlalchemy as sa

        from gridflow.storage import schema as tt

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
        "batched_rates": batched_rates,
        "tick_cpu_rates": tick_cpu,
        "batched_cpu_rates": batched_cpu,
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


def apscheduler(n: int, repeats: int) -> list[float]:
    """Due jobs per second of APScheduler's SQLite job store, each run in a fresh process."""
    script = Path(__file__).with_name("apscheduler_floor.py")
    rates = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, str(script), str(n)], capture_output=True, text=True, check=True
        )
        rates.append(json.loads(out.stdout.strip().splitlines()[-1])["per_s"])
    return rates


def run(quick: bool = False, log=print, sizes: list[int] | None = None) -> dict[str, Any]:
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    k, repeats = (300, 3) if quick else (2000, 5)
    out: dict[str, Any] = {"timers_per_window": k, "repeats": repeats, "sizes": {}}
    ap = apscheduler(k, repeats)
    out["apscheduler_per_s"] = summary(ap, 0)
    log(f"  APScheduler SQLAlchemyJobStore (SQLite): {fmt(out['apscheduler_per_s'], '/s', 0)}")
    for size in sizes:
        path, meta = dataset(size, 4 * k * repeats, log)
        window = min(k, _pending(path) // (4 * repeats))  # a small set holds fewer windows
        log(
            f"  tick: {size:,} cases ({meta['open_cases']:,} open, {meta['timer_rows']:,} "
            f"timers), windows of {window}"
        )
        res = measure(path, window, repeats)
        pairs = zip(res["tick_rates"], res["floor_rates"], res["batched_rates"], strict=True)
        vs_floor, vs_batched = [], []
        for tick_rate, floor_rate, batched_rate in pairs:
            vs_floor.append(tick_rate / floor_rate)
            vs_batched.append(tick_rate / batched_rate)
        cpu_ratios = [
            a / b for a, b in zip(res["tick_cpu_rates"], res["batched_cpu_rates"], strict=True)
        ]
        out["sizes"][str(size)] = {
            "cases": meta["cases"],
            "open_cases": meta["open_cases"],
            "timers": meta["timer_rows"],
            "db_mb": round(path.stat().st_size / 2**20),
            "timers_per_window": window,
            "tick_per_s": summary(res["tick_rates"], 0),
            "floor_per_s": summary(res["floor_rates"], 0),
            "batched_floor_per_s": summary(res["batched_rates"], 0),
            "ratio": summary(vs_floor),
            "ratio_batched": summary(vs_batched),
            "cpu_ratio_batched": summary(cpu_ratios),
            "ratio_apscheduler": summary([r / (sum(ap) / len(ap)) for r in res["tick_rates"]]),
            "idle_pass_ms": summary(res["idle_pass_ms"], 2),
            "rss_peak_mb": round(res["rss_peak_mb"], 1),
            "rss_ready_mb": round(res["rss_ready_mb"], 1),
            "rss_end_mb": round(res["rss_end_mb"], 1),
            "fired": res["fired"],
            "done_by_kind": res["done_by_kind"],
        }
        s = out["sizes"][str(size)]
        log(
            f"    tick {fmt(s['tick_per_s'], '/s', 0)}; floors: one per transaction "
            f"{fmt(s['floor_per_s'], '/s', 0)}, batched {fmt(s['batched_floor_per_s'], '/s', 0)};"
            f" tick/batched {fmt(s['ratio_batched'])}, tick/APScheduler "
            f"{fmt(s['ratio_apscheduler'])}; idle pass {s['idle_pass_ms']['median']} ms, "
            f"RSS peak {s['rss_peak_mb']} MB"
        )
    peaks = [v["rss_peak_mb"] for v in out["sizes"].values()]
    out["rss_growth_mb"] = round(max(peaks) - min(peaks), 1)
    first = next(iter(out["sizes"].values()))
    out["target"] = (
        "tick ≥ 0.6 × the batched floor and ≥ 1.0 × APScheduler's job store; "
        "RSS flat across sizes and < 150 MB"
    )
    out["met"] = (
        first["ratio_batched"]["median"] >= 0.6
        and first["ratio_apscheduler"]["median"] >= 1.0
        and max(peaks) < 150
        and out["rss_growth_mb"] < 15
    )
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
                fmt(s["batched_floor_per_s"], "/s", 0),
                fmt(s["ratio_batched"]),
                fmt(s["ratio_apscheduler"]),
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
