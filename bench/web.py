"""The web workbench: server render time of an area board against its query alone, and the
weight of each page.

**Board render**: an area (Wannan of the built-in Fenglin Street) with 1,000 open four-list
problems spread over its committees and the four lists. Two subjects, interleaved in each
repeat: the *query* — ``engine.boards.board`` with the board's filter and columns (every
count, the cards shown, their open children: all the SQL and the case records the page
needs) — and the *render* — what the server does for ``GET /board`` (the same query, the
per-area counts, the filters' lists, and the Jinja template rendered to text), measured on
the route's own code in-process, without HTTP. Ratio = render / query (target: a page costs
at most a small multiple of its data). A full request through the ASGI app (session cookie
resolved, headers, middleware) is reported beside it.

**Page weight**: each page's HTML as served to a signed-in person in the test world of
``tests/web_world.py``, plus the JavaScript (vendored htmx + the workbench's own) and CSS it
loads, raw and gzip-compressed, in KB.
"""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, fresh_dir, summary

CASES = 1000


def _world(url: str, n: int, log) -> Any:
    from argon2 import PasswordHasher

    from gridflow.service.engine import Engine

    engine = Engine(url)
    engine.accounts.hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    d = engine.directory
    committees = sorted(u.id for u in d.subtree("wannan") if u.kind == "residential")
    depts = sorted(u.id for u in d.units.values() if u.kind == "department")
    chiefs = {u: next(p.id for p in d.holders("grid_chief", u)) for u in committees}
    t = time.perf_counter()
    for i in range(n):
        unit = committees[i % len(committees)]
        case = engine.start("four_list", actor=chiefs[unit], data={"title": f"问题{i}：楼道堆物"})
        stage = i % 5
        if stage >= 1:
            engine.fire(case.id, "accept", actor="wannan.chief")
        if stage >= 2:
            engine.fire(
                case.id,
                "assign",
                actor="wannan.chief",
                data={"lead_department": depts[i % len(depts)], "deadline": "2026-12-31"},
            )
        if stage >= 3:
            engine.fire(case.id, "report", actor="wannan.chief", data={"result": "已处理"})
        if stage >= 4:
            engine.fire(
                case.id,
                "submit_for_inspection",
                actor="wannan.chief",
                data={"residents_informed": True},
            )
    log(f"  {n} open problems in {time.perf_counter() - t:.1f} s")
    engine.accounts.set_password("wannan.chief", "bench password 1")
    return engine


def board_render(quick: bool, log) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from gridflow.drivers.http.app import create_app
    from gridflow.drivers.http.settings import HttpSettings
    from gridflow.drivers.web import board as web_board
    from gridflow.drivers.web.render import context
    from gridflow.drivers.web.settings import WebSettings

    scratch = fresh_dir("web")
    engine = _world(f"sqlite:///{scratch / 'board.db'}", 200 if quick else CASES, log)
    app = create_app(
        engine, HttpSettings(files_dir=str(scratch / "files")), web=WebSettings(), sweep=False
    )
    client = TestClient(app)
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    client.post(
        "/login", data={"person": "wannan.chief", "password": "bench password 1", "csrf": token}
    )
    assert client.get("/board").status_code == 200
    web = app.state.web
    principal = engine.principals.of("wannan.chief", via="session")
    scope = engine.principals.scope(principal)
    f = engine.browse.filter(workflow="four_list", unit="wannan")
    cols = web_board.columns()

    # the route's own code, without HTTP: a request stand-in carrying the app and viewer
    class _Req:
        def __init__(self) -> None:
            self.app = app
            self.cookies: dict[str, str] = {}
            self.headers: dict[str, str] = {}

            class _U:
                path, query = "/board", ""

            self.url = _U()

            class _S:
                pass

            self.state = _S()

    client.get("/board")  # warm
    from gridflow.drivers.web.context import Viewer

    session = engine.sessions.open("wannan.chief", via="password").record
    who = Viewer(principal, session, "zh-CN")

    def query() -> None:
        engine.boards.board(scope, f, cols, limit=web.settings.board_cards)

    def render() -> None:
        req = _Req()
        req.state.viewer = who
        values = web_board._board(req, who, "wannan", None, None, False)
        web.env.get_template("board.html").render(
            context(req, who, nav="board", feed_after=0, **values)
        )

    def request() -> None:
        r = client.get("/board")
        assert r.status_code == 200

    repeats, n = (3, 10) if quick else (7, 30)
    out: dict[str, list[float]] = {
        "query": [],
        "render": [],
        "request": [],
        "ratio": [],
        "request_ratio": [],
    }
    for _ in range(repeats):
        times = {}
        for name, fn in (("query", query), ("render", render), ("request", request)):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            times[name] = (time.perf_counter() - t) / n * 1000
            out[name].append(times[name])
        out["ratio"].append(times["render"] / times["query"])
        out["request_ratio"].append(times["request"] / times["query"])
    html = client.get("/board").text
    client.close()
    engine.close()
    res = {k: summary(v) for k, v in out.items()}
    res["cases"] = 200 if quick else CASES
    res["cards_shown"] = html.count('class="card item')
    res["html_kb"] = round(len(html.encode()) / 1024, 1)
    res["met"] = res["ratio"]["median"] <= 3.0 if not quick else None
    return res


def page_weights(log) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    from web_fixtures import WebHarness
    from web_world import build_world, make_app

    from gridflow.drivers.web.render import STATIC

    scratch = fresh_dir("web-pages")
    world = build_world(f"sqlite:///{scratch / 'w.db'}", scratch / "files")
    h = WebHarness(world, make_app(world))
    c = world.cases
    pages = {
        "login": (None, "/login"),
        "my work": ("wannan.chief", "/my"),
        "area board": ("wannan.chief", "/board"),
        "street board": ("fenglin.head", "/board?unit=fenglin"),
        "举手 (must answer)": ("police.liaison", "/hands"),
        "举手 (race)": ("wannan-r1.chief", "/hands"),
        "case page": ("wannan.chief", f"/cases/{c['shed']}"),
        "new case": ("wannan-r1.chief", "/new/four_list"),
        "reports": ("wannan.chief", "/reports?period=2026Q3"),
        "admin: notices": ("ops.admin", "/admin/notices"),
        "admin: workflows": ("ops.admin", "/admin/workflows"),
        "admin: people": ("ops.admin", "/admin/people"),
        "admin: tokens": ("ops.admin", "/admin/tokens"),
    }
    assets = {name: (STATIC / name).read_bytes() for name in ("htmx.min.js", "app.js", "app.css")}
    asset_raw = sum(len(b) for b in assets.values())
    asset_gz = sum(len(gzip.compress(b, 6)) for b in assets.values())
    clients: dict[str | None, Any] = {}
    rows = []
    for name, (who, path) in pages.items():
        if who not in clients:
            clients[who] = h.login(who) if who else h.client()
        r = clients[who].get(path)
        assert r.status_code == 200, (name, r.status_code)
        body = r.content
        rows.append(
            {
                "page": name,
                "path": path,
                "html_kb": round(len(body) / 1024, 1),
                "html_gz_kb": round(len(gzip.compress(body, 6)) / 1024, 1),
                "total_kb": round((len(body) + asset_raw) / 1024, 1),
                "total_gz_kb": round((len(gzip.compress(body, 6)) + asset_gz) / 1024, 1),
            }
        )
    h.close()
    world.close()
    return {
        "pages": rows,
        "assets": {k: round(len(v) / 1024, 1) for k, v in assets.items()},
        "assets_gz_kb": round(asset_gz / 1024, 1),
    }


def run(quick: bool = False, log=print) -> dict[str, Any]:
    log("  board: render vs query")
    res = {"board": board_render(quick, log)}
    log("  page weights")
    res["weights"] = page_weights(log)
    board = res["board"]
    res["met"] = board.get("met")
    return res


def markdown_rows(res: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    from bench.common import fmt

    b = res["board"]
    board = [
        ["query alone (ms)", fmt(b["query"])],
        ["server render (ms)", fmt(b["render"])],
        ["render / query", fmt(b["ratio"])],
        ["full request in-process (ms)", fmt(b["request"])],
        ["request / query", fmt(b["request_ratio"])],
    ]
    weights = [
        [
            p["page"],
            str(p["html_kb"]),
            str(p["html_gz_kb"]),
            str(p["total_kb"]),
            str(p["total_gz_kb"]),
        ]
        for p in res["weights"]["pages"]
    ]
    return board, weights


if __name__ == "__main__":  # pragma: no cover
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
