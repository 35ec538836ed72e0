"""Shared pieces of the benchmarks: paths, clocks, the bench org, statistics, machine facts.

Every figure the benchmarks report is a ratio against a floor measured in the same run, in
interleaved repeats (floor, subject, floor, subject, …), so that load from other processes on
the machine moves both sides alike. ``summary`` gives the median and the spread (min–max).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKFLOWS = BENCH / "workflows"
# generated data sets, scratch folders, raw results (gitignored); tests point it elsewhere
RESULTS = Path(os.environ.get("GRIDFLOW_BENCH_RESULTS") or BENCH / "results")
PG_BASE = os.environ.get("GRIDFLOW_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai, a working day

if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))


# ---- clocks and org ---------------------------------------------------------------------
class StepClock:
    """A virtual clock that moves ``step`` forward on every reading (distinct, ordered times
    without touching the wall clock)."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(milliseconds=10)):
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


class FixedClock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def bench_directory():
    """One unit and one person holding ``worker`` there: the org of the bench workflows."""
    from gridflow.domain.org import Actor, Directory, Grant

    return Directory.build(
        [("bench", "基准单位", "street", None, "Bench unit")],
        [Actor("w", "Worker", (Grant("worker", "bench"),))],
    )


def bench_engine(url: str, clock=None, **kw):
    from gridflow.service.engine import Engine

    kw.setdefault("directory", bench_directory())
    return Engine(url, WORKFLOWS, clock=clock or StepClock(), **kw)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def fresh_dir(name: str) -> Path:
    """A new scratch folder under bench/results/tmp (gitignored)."""
    d = RESULTS / "tmp" / f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    d.mkdir(parents=True)
    return d


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()


# ---- PostgreSQL -------------------------------------------------------------------------
def pg_unavailable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure: skip the PostgreSQL figures, say why
        text = str(exc).strip().splitlines()
        return f"PostgreSQL at {PG_BASE} unreachable: {text[0] if text else type(exc).__name__}"


@contextlib.contextmanager
def pg_schema(tag: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema; the schema is dropped afterwards."""
    import psycopg

    schema = f"gridflow_bench_{tag}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_BASE else "?"
    try:
        yield f"{PG_BASE}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '60s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---- statistics -------------------------------------------------------------------------
def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median, min, max and the relative spread ((max − min) / median) of repeats."""
    vals = sorted(float(v) for v in values)
    med = statistics.median(vals)
    return {
        "median": round(med, digits),
        "min": round(vals[0], digits),
        "max": round(vals[-1], digits),
        "spread": round((vals[-1] - vals[0]) / med, 3) if med else None,
        "n": len(vals),
    }


def fmt(s: dict[str, Any], unit: str = "", digits: int = 2) -> str:
    """``0.52 (0.49–0.55)``: median (min–max)."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# ---- machine facts -----------------------------------------------------------------------
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def pg_version() -> str | None:
    if pg_unavailable():
        return None
    import psycopg

    with psycopg.connect(PG_BASE) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def machine() -> dict[str, Any]:
    import sqlalchemy

    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(Exception):
        import psutil

        facts["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        facts["spiffworkflow"] = version("SpiffWorkflow")
    with contextlib.suppress(Exception):
        facts["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    return facts


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
