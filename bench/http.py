"""The HTTP API under load: events fired through ``gridflow serve`` against the same events
through ``Engine.fire`` in-process, in the same run.

Subjects (the bench self-loop ``touch`` on ``bench_loop``: one persisted event each; every
client owns one case, so clients never queue on one case's row):

- **in-process, N threads**: N threads of this process calling ``engine.fire`` — what an
  embedding app gets.
- **HTTP, N clients**: N concurrent clients (httpx, asyncio, keep-alive) on loopback POSTing
  ``/api/v1/cases/{id}/events`` with an API token to a ``gridflow serve`` subprocess (one
  uvicorn process, its thread pool over one engine) — each request authenticated (a token
  read), the case's visibility checked (a read), the event fired (a write transaction), the
  case page answered as JSON, a JSON access line logged.

N = 16 and 64; repeats interleave the subjects; throughput = events / wall time; latency
p50 / p99 per event (client side). Target: HTTP ≥ 0.5 × in-process at 16 clients on SQLite.
PostgreSQL too when reachable. The server and the clients share the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/http.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import WORKFLOWS, fmt, fresh_dir, pg_schema, pg_unavailable, summary

CLIENTS = [16, 64]
ORG = """units: {id: bench, name: 基准单位, kind: street}
people:
  - {id: w, name: Worker, roles: [{role: worker, unit: bench}]}
"""


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Site:
    """A database with the bench org, ``n`` cases per client slot, and a token."""

    def __init__(self, url: str, scratch: Path, slots: int):
        from gridflow.service.engine import Engine

        self.url, self.scratch = url, scratch
        (scratch / "org.yaml").write_text(ORG, encoding="utf-8")
        self.engine = Engine(url, WORKFLOWS)
        self.engine.load_org(scratch / "org.yaml")
        self.cases = [self.engine.start("bench_loop", actor="w", data={}).id for _ in range(slots)]
        self.token = self.engine.tokens.create("w").token

    def close(self) -> None:
        self.engine.close()


class Server:
    def __init__(self, site: Site):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = dict(os.environ)
        env.update(
            GRIDFLOW_DATABASE_URL=site.url,
            GRIDFLOW_WORKFLOWS=str(WORKFLOWS),
            GRIDFLOW_LOG_FORMAT="json",
            GRIDFLOW_FILES_DIR=str(site.scratch / "files"),
            GRIDFLOW_CONFIG=str(site.scratch / "none.toml"),
        )
        (site.scratch / "none.toml").write_text("", encoding="utf-8")
        self.log = open(site.scratch / "serve.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridflow.drivers.cli.main", "serve", "--port", str(self.port)],
            env=env,
            cwd=site.scratch,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        import httpx

        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridflow serve exited: see {site.scratch / 'serve.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/livez", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("gridflow serve did not come up")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()


def _line(r: dict[str, Any]) -> str:
    return f"{r['per_s']:.0f}/s (p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms)"


def _figures(lat: list[float], wall: float) -> dict[str, float]:
    return {"per_s": len(lat) / wall, "p50_ms": _pct(lat, 50) * 1e3, "p99_ms": _pct(lat, 99) * 1e3}


def in_process(site: Site, n: int, per_client: int) -> dict[str, Any]:
    """``n`` threads firing ``per_client`` events each on their own case."""
    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n + 1)

    def work(case_id: int) -> None:
        mine = []
        barrier.wait()
        for i in range(per_client):
            t = time.perf_counter()
            site.engine.fire(case_id, "touch", actor="w", data={"note": f"n{i}"})
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=work, args=(c,)) for c in site.cases[:n]]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "per_s": len(lat) / wall,
        "p50_ms": _pct(lat, 50) * 1000,
        "p99_ms": _pct(lat, 99) * 1000,
    }


def over_http(site: Site, port: int, n: int, per_client: int) -> dict[str, Any]:
    """``n`` concurrent clients firing ``per_client`` events each through the API."""
    import httpx

    lat: list[float] = []
    errors: list[str] = []

    async def client(c: httpx.AsyncClient, case_id: int) -> None:
        for i in range(per_client):
            t = time.perf_counter()
            r = await c.post(
                f"/api/v1/cases/{case_id}/events",
                json={"trigger": "touch", "data": {"note": f"n{i}"}},
            )
            lat.append(time.perf_counter() - t)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")

    async def main() -> float:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        headers = {"Authorization": f"Bearer {site.token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits, timeout=120
        ) as c:
            await c.get("/api/v1/me")  # warm the connection pool
            t0 = time.perf_counter()
            await asyncio.gather(*(client(c, cid) for cid in site.cases[:n]))
            return time.perf_counter() - t0

    wall = asyncio.run(main())
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return {
        "per_s": len(lat) / wall,
        "p50_ms": _pct(lat, 50) * 1000,
        "p99_ms": _pct(lat, 99) * 1000,
    }


def measure(url: str, scratch: Path, events: int, repeats: int, log) -> dict[str, Any]:
    site = Site(url, scratch, max(CLIENTS))
    server = Server(site)
    raw: dict[str, list[dict[str, Any]]] = {}
    try:
        for rep in range(repeats):
            for n in CLIENTS:
                per_client = max(1, events // n)
                a = in_process(site, n, per_client)
                b = over_http(site, server.port, n, per_client)
                raw.setdefault(f"inproc_{n}", []).append(a)
                raw.setdefault(f"http_{n}", []).append(b)
                raw.setdefault(f"ratio_{n}", []).append({"ratio": b["per_s"] / a["per_s"]})
                log(f"  repeat {rep + 1}, {n} clients: in-process {_line(a)}; HTTP {_line(b)}")
    finally:
        server.stop()
        site.close()
    out: dict[str, Any] = {}
    for key, rows in raw.items():
        out[key] = {m: summary([r[m] for r in rows]) for m in rows[0]}
    return out


def run(quick: bool = False, log=print, events: int | None = None, repeats: int | None = None):
    events = events or (640 if quick else 3200)
    repeats = repeats or (2 if quick else 5)
    res: dict[str, Any] = {"events_per_subject": events, "repeats": repeats, "clients": CLIENTS}
    scratch = fresh_dir("http")
    log("SQLite")
    res["sqlite"] = measure(f"sqlite:///{scratch / 'http.db'}", scratch, events, repeats, log)
    reason = pg_unavailable()
    if reason:
        res["postgresql"] = {"skipped": reason}
    else:
        log("PostgreSQL")
        pg_scratch = fresh_dir("http-pg")
        with pg_schema("http") as url:
            res["postgresql"] = measure(url, pg_scratch, events, repeats, log)
    ratio = res["sqlite"]["ratio_16"]["ratio"]["median"]
    res["met"] = ratio >= 0.5
    return res


def rows(res: dict[str, Any]) -> list[list[str]]:
    out = []
    for db in ("sqlite", "postgresql"):
        r = res.get(db, {})
        if "skipped" in r or not r:
            continue
        for n in res["clients"]:
            a, b = r[f"inproc_{n}"], r[f"http_{n}"]
            out.append(
                [
                    db,
                    str(n),
                    fmt(a["per_s"], digits=0),
                    f"{a['p50_ms']['median']:.1f} / {a['p99_ms']['median']:.1f}",
                    fmt(b["per_s"], digits=0),
                    f"{b['p50_ms']['median']:.1f} / {b['p99_ms']['median']:.1f}",
                    fmt(r[f"ratio_{n}"]["ratio"]),
                ]
            )
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
