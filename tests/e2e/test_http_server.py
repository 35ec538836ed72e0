"""``gridflow serve`` as a real process (uvicorn on loopback): the SSE change feed delivers
every step once, in order, and resumes after a server restart; SIGHUP reloads the org; the
embedded daemon; two servers on one PostgreSQL serve the same data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_fixtures import DATA_HTTP, HTTP_ORG
from servers import free_port
from waiting import wait_for_progress

pytestmark = pytest.mark.slow


def cli(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "gridflow.drivers.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out.stdout


class Server:
    """One ``gridflow serve`` process."""

    def __init__(self, env: dict, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "a") as err:  # a file, not a pipe: pipes fill up
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gridflow.drivers.cli.main",
                    "serve",
                    "--port",
                    str(self.port),
                    *extra,
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        wait_for_progress(self._up, bool, alive=[self.proc], why=self.story, stall=60)

    def _up(self) -> bool:
        try:
            return httpx.get(self.url + "/livez", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def story(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict]:
    """Environment of a site on a fresh SQLite file: the HTTP test org loaded."""
    env = dict(os.environ)
    env.update(
        GRIDFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'site.db'}",
        GRIDFLOW_WORKFLOWS=str(DATA_HTTP),
        GRIDFLOW_FILES_DIR=str(tmp_path / "files"),
        GRIDFLOW_LOG_FORMAT="json",
        GRIDFLOW_CONFIG=str(tmp_path / "gridflow.toml"),
    )
    (tmp_path / "gridflow.toml").write_text("[daemon]\ninterval_seconds = 0.2\n", encoding="utf-8")
    cli(env, "org", "load", str(HTTP_ORG))
    yield env


def token(env: dict, who: str) -> dict[str, str]:
    secret = cli(env, "token", "create", "--person", who).strip()
    return {"Authorization": f"Bearer {secret}"}


class Follower:
    """Reads the SSE stream in a thread; reconnects are the test's to make."""

    def __init__(self, url: str, headers: dict, last_id: str | None = None):
        self.events: list[dict] = []
        self.ids: list[int] = []
        h = dict(headers)
        if last_id is not None:
            h["Last-Event-ID"] = last_id
        self.headers, self.url = h, url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            with httpx.stream(
                "GET", self.url + "/api/v1/events/stream", headers=self.headers, timeout=None
            ) as r:
                event: dict = {}
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("id: "):
                        event["id"] = int(line[4:])
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "":
                        if "data" in event:
                            self.events.append(event["data"])
                        if "id" in event:
                            self.ids.append(event["id"])
                        event = {}
        except httpx.HTTPError:
            return  # the server went away


def fire_many(url: str, headers: dict, n: int) -> list[int]:
    ids = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        for i in range(n):
            r = c.post("/api/v1/cases", json={"workflow": "ticket", "data": {"title": f"第{i}件"}})
            assert r.status_code == 201, r.text
            case_id = r.json()["id"]
            r = c.post(
                f"/api/v1/cases/{case_id}/events",
                json={"trigger": "assign", "data": {"department": "police"}},
            )
            assert r.status_code == 200, r.text
            ids.append(case_id)
    return ids


def test_sse_delivers_every_step_once_in_order_and_resumes_after_a_restart(site, tmp_path) -> None:
    log = tmp_path / "serve.log"
    server = Server(site, log)
    clerk = token(site, "li.clerk")
    follower = Follower(server.url, clerk)
    fire_many(server.url, clerk, 5)  # 10 steps
    wait_for_progress(
        lambda: len(follower.events), lambda n: n >= 10, alive=[server.proc], why=server.story
    )
    assert [(e["case_id"], e["seq"]) for e in follower.events] == [
        (c, s) for c in range(1, 6) for s in (1, 2)
    ]
    last = str(follower.ids[-1])
    server.stop()
    follower.thread.join(timeout=30)
    # steps written while no server runs (the CLI, another process) are not lost
    cli(site, "start", "ticket", "--actor", "li.clerk", "--set", "title=停机期间")
    server = Server(site, log)
    again = Follower(server.url, clerk, last_id=last)
    fire_many(server.url, clerk, 2)
    wait_for_progress(
        lambda: len(again.events), lambda n: n >= 5, alive=[server.proc], why=server.story
    )
    got = follower.events + again.events
    keys = [(e["case_id"], e["seq"]) for e in got]
    assert len(keys) == len(set(keys)) == 15, keys
    assert [e["id"] for e in got] == sorted(e["id"] for e in got)
    assert again.events[0]["case_id"] == 6 and again.events[0]["origin"]["channel"] == "cli"
    again.stop.set()
    server.stop()
    # every log line is a JSON object, and request lines carry their request id
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [x for x in lines if x["logger"] == "gridflow.http.access"]
    assert access and all(x["request_id"] for x in access)


def test_sighup_reloads_the_org_directory(site, tmp_path) -> None:
    server = Server(site, tmp_path / "serve.log")
    try:
        assert (
            httpx.get(server.url + "/api/v1/me", headers=token(site, "li.clerk")).status_code == 200
        )
        org = HTTP_ORG.read_text(encoding="utf-8").replace(
            "service_accounts:",
            "  - id: new.person\n    name: 新同事\n    roles: [{role: clerk, unit: fenglin}]\nservice_accounts:",
        )
        edited = tmp_path / "org.yaml"
        edited.write_text(org, encoding="utf-8")
        cli(site, "org", "load", str(edited))
        newcomer = token(site, "new.person")
        assert httpx.get(server.url + "/api/v1/me", headers=newcomer).status_code == 401
        server.proc.send_signal(signal.SIGHUP)

        def status() -> int:
            return httpx.get(server.url + "/api/v1/me", headers=newcomer).status_code

        wait_for_progress(
            status, lambda s: s == 200, alive=[server.proc], why=server.story, stall=30
        )
    finally:
        server.stop()


def test_the_embedded_daemon_passes(site, tmp_path) -> None:
    server = Server(site, tmp_path / "serve.log", "--with-daemon")
    try:

        def passed() -> bool:
            return (
                "gridflow_daemon_last_pass_timestamp_seconds"
                in httpx.get(server.url + "/metrics").text
            )

        wait_for_progress(passed, bool, alive=[server.proc], why=server.story, stall=30)
        status = json.loads(cli(site, "status", "--json"))
        assert any(d["live"] for d in status["daemons"])
    finally:
        server.stop()


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_serve_the_same_data(pg_url, tmp_path) -> None:
    env = dict(os.environ)
    env.update(
        GRIDFLOW_DATABASE_URL=pg_url,
        GRIDFLOW_WORKFLOWS=str(DATA_HTTP),
        GRIDFLOW_FILES_DIR=str(tmp_path / "files"),
        GRIDFLOW_CONFIG=str(tmp_path / "none.toml"),
    )
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    cli(env, "org", "load", str(HTTP_ORG))
    a = Server(env, tmp_path / "a.log")
    b = Server(env, tmp_path / "b.log")
    try:
        clerk = token(env, "li.clerk")
        made = fire_many(a.url, clerk, 3) + fire_many(b.url, clerk, 3)
        for server in (a, b):
            listed = httpx.get(server.url + "/api/v1/cases", headers=clerk).json()
            assert sorted(c["id"] for c in listed["items"]) == sorted(made)
            one = httpx.get(f"{server.url}/api/v1/cases/{made[0]}", headers=clerk)
            assert one.json()["state"] == "assigned" and one.headers["etag"] == '"2"'
            feed = httpx.get(
                server.url + "/api/v1/events", headers=clerk, params={"limit": 100}
            ).json()
            assert len(feed["events"]) == 12
        # If-Match across servers: read on A, someone moves it on B, A's stale write is 412
        r = httpx.post(
            f"{b.url}/api/v1/cases/{made[0]}/events",
            headers={**token(env, "cop"), "If-Match": '"2"'},
            json={"trigger": "answer", "data": {"answer": "已处理"}},
        )
        assert r.status_code == 200
        r = httpx.post(
            f"{a.url}/api/v1/cases/{made[0]}/events",
            headers={**token(env, "cop"), "If-Match": '"2"'},
            json={"trigger": "answer", "data": {"answer": "再答"}},
        )
        assert r.status_code == 412
        # a token revoked through one server fails at once on the other
        admin = token(env, "ops.admin")
        token_id = json.loads(cli(env, "token", "list", "--principal", "li.clerk", "--json"))[0][
            "id"
        ]
        assert (
            httpx.delete(f"{a.url}/api/v1/admin/tokens/{token_id}", headers=admin).status_code
            == 200
        )
        assert httpx.get(b.url + "/api/v1/me", headers=clerk).status_code == 401
    finally:
        a.stop()
        b.stop()
