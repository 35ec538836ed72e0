"""Fixtures of the web workbench's tests: the world (tests/web_world.py) on SQLite, the app
with the workbench, and signed-in test clients.

``web.login(who)`` signs ``who`` in through the real login form (CSRF double-submit cookie
included) and returns a client holding the session; ``web.csrf(client)`` is the session's
CSRF token as pages carry it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_world import PASSWORD, World, build_world, make_app

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def form_csrf(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


class WebHarness:
    def __init__(self, world: World, app: Any, base_url: str = "http://testserver"):
        self.world, self.app, self.base_url = world, app, base_url
        self.clients: list[Any] = []

    @property
    def engine(self) -> Any:
        return self.world.engine

    def client(self, **kw: Any) -> Any:
        from fastapi.testclient import TestClient

        c = TestClient(self.app, base_url=self.base_url, raise_server_exceptions=False, **kw)
        self.clients.append(c)
        return c

    def login(self, who: str, password: str = PASSWORD, client: Any = None) -> Any:
        c = client or self.client()
        page = c.get("/login")
        assert page.status_code == 200, page.text
        r = c.post(
            "/login",
            data={"person": who, "password": password, "csrf": form_csrf(page.text), "next": "/my"},
            follow_redirects=False,
        )
        assert r.status_code == 303, (r.status_code, r.text[:500])
        return c

    def csrf(self, client: Any) -> str:
        return form_csrf(client.get("/my").text)

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def make_web(tmp_path: Path) -> Iterator[Callable[..., WebHarness]]:
    """``make_web(**web_settings)``: a harness on a fresh world (SQLite)."""
    made: list[WebHarness] = []

    def make(
        url: str | None = None,
        base_url: str = "http://testserver",
        org: Path | None = None,
        **settings: Any,
    ):
        folder = tmp_path / f"w{len(made)}"
        folder.mkdir()
        extra = {"org": org} if org is not None else {}
        world = build_world(url or f"sqlite:///{folder / 'web.db'}", folder / "files", **extra)
        harness = WebHarness(world, make_app(world, **settings), base_url)
        made.append(harness)
        return harness

    yield make
    for h in made:
        h.close()
        h.world.close()


@pytest.fixture
def web(make_web) -> WebHarness:
    return make_web()
