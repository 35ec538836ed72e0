"""Persisted ``Engine.fire`` against the floor of the same writes done directly.

Subjects (events per second, SQLite file in WAL mode, synchronous=NORMAL, one transaction
per event):

- **floor (Core)**: the UPDATE of the case and the INSERT of its history row that one
  self-loop event writes (same columns, same values, same type processing), as prebuilt
  SQLAlchemy Core statements on one held connection: ``BEGIN IMMEDIATE``, UPDATE, INSERT,
  COMMIT. Nothing else.
- **floor (raw sqlite3)**: the same statements with the ``sqlite3`` module.
- **fire, self-loop**: ``Engine.fire`` of ``touch`` on a ``bench_loop`` case (one state, a
  self-loop, no SLA, no notices) — the pure fire path, returning the ``Case``.
- **fire, raise_hand**: the built-in ``raise_hand`` grid question, dispatch → sign → begin
  → answer → confirm (SLA clocks, timers cancelled and set, notices rendered to the outbox);
  events per second over the five fires.

Repeats interleave the subjects; each ratio is taken within a repeat.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __package__ in (None, ""):  # `python bench/fire.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    StepClock,
    bench_engine,
    fmt,
    fresh_dir,
    sqlite_url,
    summary,
)

# ---- the floors --------------------------------------------------------------------------
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


def _floor_engine(url: str) -> sa.Engine:
    """A plain SQLAlchemy engine with the store's file settings (not the store's code)."""
    from sqlalchemy import event

    from gridflow.storage.jsoncodec import json_dumps as _json_dumps

    eng = sa.create_engine(url, json_serializer=_json_dumps)

    @event.listens_for(eng, "connect")
    def _connect(dbapi_conn, _rec):
        dbapi_conn.isolation_level = None
        for p in _PRAGMAS:
            dbapi_conn.execute(p)

    return eng


def _event_values(i: int, version: int, now) -> tuple[dict, dict]:
    """What a ``touch`` event writes: the case columns and the history row."""
    data = {"note": f"n{i}"}
    case = dict(
        state="open",
        version=version + 1,
        data=data,
        updated_at=now,
        entered_at=now,
        closed_at=None,
        clock=None,
        clock_started_at=None,
        due_at=None,
        due_provisional=False,
        paused_at=None,
        paused_remaining=None,
        tag=None,
        party=None,
        grade=None,
    )
    hist = dict(
        seq=version + 1,
        trigger="touch",
        from_state="open",
        to_state="open",
        actor="w",
        role="worker",
        comment=None,
        payload=data,
        at=now,
        late_by=None,
        actor_unit="bench",
        elapsed_s=0.01,
        due_at=None,
        late_s=None,
        workflow_id="bench_loop",
        case_tag=None,
        case_unit=None,
        case_party=None,
        case_grade=None,
    )
    return case, hist


class CoreFloor:
    """Floor (Core): a held connection, prebuilt statements, one transaction per event.
    With ``feed``, also the change-feed row every step has written since the HTTP API's
    feed (``gf_event``: case, seq, time) — the whole of what a self-loop event writes."""

    def __init__(self, url: str, case_id: int, clock: StepClock, *, feed: bool = False):
        from gridflow.storage import tables as t

        c = t.case_t
        self.feed = t.event_t.insert() if feed else None
        self.upd = c.update().where(
            c.c.id == sa.bindparam("b_id"), c.c.version == sa.bindparam("b_v")
        )
        self.ins = t.history_t.insert()
        self.eng = _floor_engine(url)
        self.conn = self.eng.connect()
        self.case_id, self.clock = case_id, clock
        self.version = self.conn.execute(
            sa.select(c.c.version).where(c.c.id == case_id)
        ).scalar_one()
        self.conn.commit()

    def run(self, n: int) -> float:
        conn, cid, i0 = self.conn, self.case_id, self.version
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            case, hist = _event_values(i0 + i, self.version, self.clock())
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            res = conn.execute(self.upd, {"b_id": cid, "b_v": self.version, **case})
            if res.rowcount != 1:
                raise RuntimeError("floor: the case moved")
            conn.execute(self.ins, {"case_id": cid, **hist})
            if self.feed is not None:
                conn.execute(self.feed, {"case_id": cid, "seq": hist["seq"], "at": hist["at"]})
            conn.commit()
            self.version += 1
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.conn.close()
        self.eng.dispose()


class RawFloor:
    """Floor (raw sqlite3): the same statements and values with the sqlite3 module."""

    def __init__(self, path: Path, case_id: int, clock: StepClock):
        from gridflow.storage.jsoncodec import json_dumps as _json_dumps

        self.dumps = _json_dumps
        self.db = sqlite3.connect(path, isolation_level=None)
        for p in _PRAGMAS:
            self.db.execute(p)
        self.case_id, self.clock = case_id, clock
        self.version = self.db.execute(
            "SELECT version FROM gf_case WHERE id = ?", (case_id,)
        ).fetchone()[0]
        case0, hist0 = _event_values(0, self.version, clock())
        set_cols = ", ".join(f"{k} = ?" for k in case0)
        self.upd = f"UPDATE gf_case SET {set_cols} WHERE id = ? AND version = ?"
        hcols = ["case_id", *hist0]
        quoted = ", ".join(f'"{k}"' for k in hcols)
        self.ins = f"INSERT INTO gf_history ({quoted}) VALUES ({', '.join('?' * len(hcols))})"

    def _conv(self, v):  # the type processing SQLAlchemy does: naive UTC text, JSON text
        if hasattr(v, "tzinfo"):
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        if isinstance(v, dict):
            return self.dumps(v)
        return v

    def run(self, n: int) -> float:
        db, cid, conv, i0 = self.db, self.case_id, self._conv, self.version
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            case, hist = _event_values(i0 + i, self.version, self.clock())
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(self.upd, [*(conv(v) for v in case.values()), cid, self.version])
            if cur.rowcount != 1:
                raise RuntimeError("raw floor: the case moved")
            db.execute(self.ins, [cid, *(conv(v) for v in hist.values())])
            db.execute("COMMIT")
            self.version += 1
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.db.close()


class FireLoop:
    """``Engine.fire`` of the self-loop ``touch`` (returns the Case, as callers get it)."""

    def __init__(self, engine, case_id: int):
        self.engine, self.case_id, self.i = engine, case_id, 0

    def run(self, n: int) -> float:
        fire, cid = self.engine.fire, self.case_id
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            self.i += 1
            fire(cid, "touch", actor="w", data={"note": f"n{self.i}"})
        return time.perf_counter() - start, time.process_time() - cpu


RAISE_HAND_STEPS = [
    ("dispatch", "fenglin.dispatch", {"department": "police", "category": "normal"}),
    ("sign", "police.liaison", {}),
    ("begin", "police.liaison", {}),
    ("answer", "police.liaison", {"answer": "已现场处置并回复居民"}),
    ("confirm", "wannan-r1.chief", {"satisfaction": "satisfied"}),
]


def raise_hand_engine(url: str):
    from gridflow.service.engine import Engine

    # the built-in workflows and sample org; from a Monday 10:00, 20 s per clock reading
    return Engine(url, clock=StepClock(step=timedelta(seconds=20)))


class FireRaiseHand:
    """The five fires of a raise_hand grid question (cases started outside the timing);
    ``run(n)`` times ``n`` fires (n a multiple of 5)."""

    def __init__(self, engine):
        self.engine, self.i = engine, 0

    def run(self, n: int) -> float:
        e = self.engine
        ids = []
        for _ in range(max(1, n // len(RAISE_HAND_STEPS))):
            self.i += 1
            data = {"title": f"楼道堆物 {self.i}", "department": "police"}
            ids.append(e.start("raise_hand", actor="wannan-r1.chief", data=data).id)
        start, cpu = time.perf_counter(), time.process_time()
        for cid in ids:
            for trigger, actor, data in RAISE_HAND_STEPS:
                e.fire(cid, trigger, actor=actor, data=data)
        return time.perf_counter() - start, time.process_time() - cpu


# ---- profile --------------------------------------------------------------------------------
SQLITE_CALLS = {
    "Cursor.execute", "Cursor.executemany", "Connection.commit", "Connection.rollback",
    "Connection.execute", "Cursor.fetchone", "Cursor.fetchall", "Cursor.fetchmany",
    "Connection.cursor", "Cursor.close",
}  # fmt: skip
CATEGORIES = [
    # (label, test on (file path, function)) — first match wins, on self time
    ("SQLite itself (sqlite3 calls: statement steps, commit)",
     lambda f, fn: f == "<sqlite3>"),
    ("SQLAlchemy: pool, connections, transactions", lambda f, fn: "sqlalchemy/pool" in f
        or "sqlalchemy/engine/base.py" in f or "sqlalchemy/event" in f
        or "sqlalchemy/engine/util.py" in f),
    ("SQLAlchemy: statements (build, cache key, compile)", lambda f, fn: "sqlalchemy/sql" in f),
    ("SQLAlchemy: parameters, result rows, types", lambda f, fn: "sqlalchemy" in f
        or "gridflow/storage/tables.py" in f),
    ("JSON", lambda f, fn: "/json/" in f),
    ("decide (machine, transitions, guards)", lambda f, fn: "transitions/" in f
        or "gridflow/domain/machine.py" in f or "gridflow/domain/expressions.py" in f
        or "gridflow/domain/fields.py" in f or "jinja2" in f),
    ("calendar and SLA", lambda f, fn: "gridflow/domain/calendar.py" in f
        or "gridflow/domain/sla.py" in f or "zoneinfo" in f),
    ("engine and store (Python)", lambda f, fn: "gridflow/" in f),
]  # fmt: skip


def profile_fire(url_engine, n: int) -> dict[str, Any]:
    """A pyinstrument profile of ``n`` self-loop fires: the text tree and self time per
    category (as a share of the time in ``fire``)."""
    from pyinstrument import Profiler

    case_id = url_engine.start("bench_loop", actor="w").id
    prof = Profiler(interval=0.0001)
    prof.start()
    for i in range(n):
        url_engine.fire(case_id, "touch", actor="w", data={"note": f"p{i}"})
    prof.stop()
    session = prof.last_session
    root = session.root_frame()
    totals: dict[str, float] = {}
    others: dict[str, float] = {}

    def walk(frame, parent: tuple[str, str] = ("", "")) -> None:
        kids = frame.children
        own = frame.time - sum(k.time for k in kids)
        path = (frame.file_path or "").replace("\\", "/")
        fn = frame.function or ""
        if fn in SQLITE_CALLS:  # the sqlite3 module's C functions
            path = "<sqlite3>"
        elif frame.is_synthetic or path == "<built-in>":
            path, fn = parent  # "[self]" or a C helper: counts for its caller
        label = "other"
        for name, test in CATEGORIES:
            if test(path, fn):
                label = name
                break
        totals[label] = totals.get(label, 0.0) + max(own, 0.0)
        if label == "other":
            key = f"{path}:{fn}"
            others[key] = others.get(key, 0.0) + max(own, 0.0)
        for k in kids:
            walk(k, (path, fn))

    walk(root)
    whole = sum(totals.values()) or 1.0
    text = prof.output_text(unicode=True, color=False, show_all=False)
    (RESULTS / "profile_fire.txt").write_text(text)
    return {
        "events": n,
        "us_per_event_profiled": round(whole / n * 1e6, 1),
        "share": {k: round(v / whole, 3) for k, v in sorted(totals.items(), key=lambda x: -x[1])},
        "other_top": {
            k: round(v / whole, 3) for k, v in sorted(others.items(), key=lambda x: -x[1])[:8]
        },
    }


# ---- run ----------------------------------------------------------------------------------------
def run(
    quick: bool = False,
    log=print,
    *,
    rounds: int | None = None,
    repeats: int | None = None,
    profile_events: int | None = None,
) -> dict[str, Any]:
    """Repeats of interleaved rounds: in each round every subject runs a block of events in
    turn, so load from elsewhere on the machine falls on all of them alike."""
    logging.getLogger("gridflow").setLevel(logging.ERROR)
    block = 50  # events per block
    rounds = rounds or (8 if quick else 40)  # blocks per repeat
    repeats = repeats or (3 if quick else 7)
    profile_events = profile_events or (300 if quick else 2000)
    work = fresh_dir("fire")
    db = work / "fire.db"
    engine = bench_engine(sqlite_url(db))
    clock = StepClock()
    rh_engine = raise_hand_engine(sqlite_url(work / "raise_hand.db"))
    subjects = {
        "core": CoreFloor(sqlite_url(db), engine.start("bench_loop", actor="w").id, clock),
        "core_feed": CoreFloor(
            sqlite_url(db), engine.start("bench_loop", actor="w").id, clock, feed=True
        ),
        "raw": RawFloor(db, engine.start("bench_loop", actor="w").id, clock),
        "loop": FireLoop(engine, engine.start("bench_loop", actor="w").id),
        "raise_hand": FireRaiseHand(rh_engine),
    }
    for s in subjects.values():  # warm up: compiled caches, imports, page cache
        s.run(50)
    runs: dict[str, list[float]] = {k: [] for k in subjects}  # events/s, wall clock
    cpu_runs: dict[str, list[float]] = {k: [] for k in subjects}  # events per CPU second
    for r in range(repeats):
        wall = dict.fromkeys(subjects, 0.0)
        cpu = dict.fromkeys(subjects, 0.0)
        for _ in range(rounds):
            for name, s in subjects.items():
                w, c = s.run(block)
                wall[name] += w
                cpu[name] += c
        for name in subjects:
            runs[name].append(block * rounds / wall[name])
            cpu_runs[name].append(block * rounds / cpu[name])
        log(
            f"  fire repeat {r + 1}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in runs.items())
            + f"; fire/core {runs['loop'][-1] / runs['core'][-1]:.3f} wall, "
            f"{cpu_runs['loop'][-1] / cpu_runs['core'][-1]:.3f} CPU"
        )
    for s in subjects.values():
        if hasattr(s, "close"):
            s.close()

    def ratio(a: str, b: str, src=runs) -> list[float]:
        return [x / y for x, y in zip(src[a], src[b], strict=True)]

    ratios = {
        "loop_vs_core": ratio("loop", "core"),
        "loop_vs_raw": ratio("loop", "raw"),
        "loop_vs_core_feed": ratio("loop", "core_feed"),
        "raise_hand_vs_core": ratio("raise_hand", "core"),
        "raise_hand_vs_core_feed": ratio("raise_hand", "core_feed"),
        "raise_hand_vs_raw": ratio("raise_hand", "raw"),
        "core_vs_raw": ratio("core", "raw"),
        "core_feed_vs_core": ratio("core_feed", "core"),
        "loop_vs_core_cpu": ratio("loop", "core", cpu_runs),
        "raise_hand_vs_core_cpu": ratio("raise_hand", "core", cpu_runs),
    }
    profile = profile_fire(engine, profile_events)
    engine.close()
    rh_engine.close()
    out = {
        "events_per_repeat": block * rounds,
        "repeats": repeats,
        "rates": {k: summary(v, 0) for k, v in runs.items()},
        "cpu_rates": {k: summary(v, 0) for k, v in cpu_runs.items()},
        "ratios": {k: summary(v) for k, v in ratios.items()},
        "profile": profile,
        "target": "fire (self-loop) >= 0.5 x floor (Core)",
        "met": summary(ratios["loop_vs_core"])["median"] >= 0.5,
    }
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return out


def rows(res: dict[str, Any]) -> list[list[str]]:
    r, q = res["rates"], res["ratios"]
    return [
        ["floor: Core UPDATE+INSERT, held connection", fmt(r["core"], "/s", 0), "1 (floor)"],
        ["floor + the change-feed row (all a self-loop step writes)",
         fmt(r["core_feed"], "/s", 0), fmt(q["core_feed_vs_core"]) + " × Core"],
        ["floor: raw sqlite3, same statements", fmt(r["raw"], "/s", 0),
         fmt(q["core_vs_raw"]) + " Core/raw"],
        ["`fire` self-loop (no SLA)", fmt(r["loop"], "/s", 0),
         f"{fmt(q['loop_vs_core'])} × Core, {fmt(q['loop_vs_core_feed'])} × Core + feed row, "
         f"{fmt(q['loop_vs_raw'])} × raw"],
        ["`fire` raise_hand path (SLA timers, notices)", fmt(r["raise_hand"], "/s", 0),
         f"{fmt(q['raise_hand_vs_core'])} × Core, "
         f"{fmt(q['raise_hand_vs_core_feed'])} × Core + feed row, "
         f"{fmt(q['raise_hand_vs_raw'])} × raw"],
    ]  # fmt: skip


if __name__ == "__main__":
    import sys

    res = run("--quick" in sys.argv)
    print(json.dumps(res, indent=2, ensure_ascii=False))
