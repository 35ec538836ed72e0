"""The HTTP API under load: events fired through ``gridflow serve`` against the same events
through ``Engine.fire`` in-process, in the same run.

Subjects (the bench self-loop ``touch`` on ``bench_loop``: one persisted event each; every
client owns one case, so clients never queue on one case's row):

- **in-process, N threads**: N threads of this process calling ``engine.fire`` — what an
  embedding app gets.
- **HTTP, N clients**: N concurrent clients (asyncio, one keep-alive connection each, a
  minimal HTTP/1.1 writer so the load generator costs little CPU) on loopback POSTing
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
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/http.py`: this file must not hide the stdlib's
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

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


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator shares
    the machine's cores with the server, and a full client library (httpx: 1–4 ms of CPU per
    request at 64 connections here) would measure itself instead of the server."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def over_http(site: Site, port: int, n: int, per_client: int) -> dict[str, Any]:
    """``n`` concurrent clients (one keep-alive connection each) firing ``per_client``
    events each through the API."""
    lat: list[float] = []
    errors: list[str] = []

    async def client(case_id: int) -> None:
        conn = Connection(port, site.token)
        await conn.open()
        try:
            for i in range(per_client):
                body = json.dumps({"trigger": "touch", "data": {"note": f"n{i}"}}).encode()
                t = time.perf_counter()
                status, text = await conn.post(f"/api/v1/cases/{case_id}/events", body)
                lat.append(time.perf_counter() - t)
                if status != 200:
                    errors.append(f"{status} {text[:200]!r}")
        finally:
            conn.close()

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(cid) for cid in site.cases[:n]))
        return time.perf_counter() - t0

    wall = asyncio.run(main())
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return _figures(lat, wall)


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
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
