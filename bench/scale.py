"""PostgreSQL scale-out: tick throughput with 1, 2 and 4 daemon processes on one database.

A fresh schema (dropped afterwards) gets open cases with their pending timers from
bench/generate.py (COPY). Each run releases a backlog — every timer due by the K-th next one —
to N worker processes at once (each a fresh interpreter with its own Engine, created before
the start signal), each calling ``engine.tick(now)`` until nothing is left to claim
(``FOR UPDATE SKIP LOCKED`` splits the batches; batches of 50 so four workers share a window).
Throughput = timers acted on / (last worker done − start signal). Speed-up(N) = throughput(N)
/ throughput(1) of the same repeat; efficiency = speed-up / N. Also measured: the CPU time of
the workers and of all PostgreSQL server processes during the run (the machine's: other
sessions count too), to show what is busy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/scale.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, fmt, pg_schema, pg_unavailable, summary

COUNTS = [1, 2, 4]
BATCH = 50

_WORKER = r"""
import json, logging, sys, time
from datetime import datetime
logging.getLogger("gridflow").setLevel(logging.ERROR)
from gridflow.service.engine import Engine
url, now, batch = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
engine = Engine(url, create_schema=False)
engine.store.sa.connect().close()
print("ready", flush=True)
sys.stdin.readline()
t0, c0 = time.time(), time.process_time()
res = engine.tick(now, batch=batch)
print(json.dumps({"start": t0, "end": time.time(), "cpu": time.process_time() - c0,
                  "fired": res.fired, "claimed": res.claimed, "skipped": res.skipped,
                  "errors": res.errors[:3]}), flush=True)
engine.close()
"""


def _pg_cpu() -> float:
    """CPU seconds used so far by all PostgreSQL server processes on this machine."""
    import psutil

    total = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        t = p.info["cpu_times"]
        if p.info["name"] and p.info["name"].startswith("postgres") and t:
            # live processes, plus what exited backends left to the postmaster (children_*)
            total += t.user + t.system + t.children_user + t.children_system
    return total


def _due_points(url: str, k: int, count: int) -> list[datetime]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as db:
        out = []
        for j in range(1, count + 1):
            row = db.execute(
                "SELECT due_at FROM gf_timer WHERE status = 'pending' ORDER BY due_at "
                "LIMIT 1 OFFSET %s",
                (k * j - 1,),
            ).fetchone()
            if row is None:
                break
            out.append(row[0].astimezone(UTC))
    return out


def one_run(url: str, n: int, now: datetime) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, now.isoformat(), str(BATCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(n)
    ]
    for p in procs:
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"scale worker did not start: {line} {p.stderr.read()[-2000:]}")
    pg0 = _pg_cpu()
    t0 = time.time()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"scale worker failed: {err[-2000:]}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    end = max(o["end"] for o in outs)
    time.sleep(0.5)  # the postmaster reaps the workers' backends (their CPU goes to it)
    pg_cpu = _pg_cpu() - pg0
    fired = sum(o["fired"] for o in outs)
    errors = [e for o in outs for e in o["errors"]]
    if errors:
        raise RuntimeError(f"tick errors: {errors[:3]}")
    wall = end - t0
    worker_cpu = sum(o["cpu"] for o in outs)
    return {
        "workers": n,
        "fired": fired,
        "wall_s": wall,
        "per_s": fired / wall,
        "worker_cpu_s": worker_cpu,
        "pg_cpu_s": pg_cpu,
        "cores_busy": (worker_cpu + pg_cpu) / wall,
        "split": [o["fired"] for o in outs],
    }


def run(quick: bool = False, log=print) -> dict[str, Any]:
    reason = pg_unavailable()
    if reason:
        log(f"  scale: skipped — {reason}")
        return {"skipped": reason}
    from bench.generate import generate

    cases = 4_000 if quick else 30_000
    k = 400 if quick else 2_500
    repeats = 1 if quick else 3
    out: dict[str, Any] = {
        "cases": cases,
        "timers_per_run": k,
        "repeats": repeats,
        "batch": BATCH,
        "cores": os.cpu_count(),
    }
    with pg_schema("scale") as url:
        log(f"  scale: generating {cases:,} open cases into a fresh schema …")
        meta = generate(url, cases, open_fraction=1.0, log=lambda m: log(f"  [generate] {m}"))
        out["timers"] = meta["timer_rows"]
        points = _due_points(url, k, repeats * len(COUNTS))
        runs: dict[int, list[dict]] = {n: [] for n in COUNTS}
        i = 0
        for r in range(repeats):
            for n in COUNTS:
                res = one_run(url, n, points[i])
                i += 1
                runs[n].append(res)
                log(
                    f"  scale repeat {r + 1}/{repeats}, {n} worker(s): {res['fired']} timers, "
                    f"{res['per_s']:.0f}/s, split {res['split']}, "
                    f"cores busy {res['cores_busy']:.2f} (workers {res['worker_cpu_s']:.1f} s, "
                    f"postgres {res['pg_cpu_s']:.1f} s CPU)"
                )
    out["per_s"] = {str(n): summary([x["per_s"] for x in v], 0) for n, v in runs.items()}
    out["speedup"] = {
        str(n): summary([a["per_s"] / b["per_s"] for a, b in zip(v, runs[1], strict=True)])
        for n, v in runs.items()
    }
    out["efficiency"] = {
        str(n): summary([a["per_s"] / b["per_s"] / n for a, b in zip(v, runs[1], strict=True)])
        for n, v in runs.items()
    }
    out["cores_busy"] = {str(n): summary([x["cores_busy"] for x in v]) for n, v in runs.items()}
    out["worker_cpu_ms_per_timer"] = {
        str(n): summary([x["worker_cpu_s"] / x["fired"] * 1000 for x in v], 2)
        for n, v in runs.items()
    }
    out["pg_cpu_ms_per_timer"] = {
        str(n): summary([x["pg_cpu_s"] / x["fired"] * 1000 for x in v], 2) for n, v in runs.items()
    }
    out["target"] = "throughput(N) >= 0.7 x N x throughput(1)"
    out["met"] = all(out["efficiency"][str(n)]["median"] >= 0.7 for n in COUNTS)
    return out


def rows(res: dict[str, Any]) -> list[list[str]]:
    if "skipped" in res:
        return [["scale-out", "skipped", res["skipped"], "", ""]]
    return [
        [
            f"{n} daemon process{'es' if int(n) > 1 else ''}",
            fmt(res["per_s"][n], "/s", 0),
            fmt(res["speedup"][n]) + "×",
            fmt(res["efficiency"][n]),
            fmt(res["cores_busy"][n]),
        ]
        for n in res["per_s"]
    ]


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
