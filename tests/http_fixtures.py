"""Fixtures of the HTTP API tests: an engine on the HTTP test org and workflows, the app,
a test client, and API tokens of the test org's people (``tests/data_http``).

``api`` is a small helper bundling the engine, the app, a client and ``auth(who)`` — the
``Authorization`` header of a token made for ``who`` (made once per test)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DATA_HTTP = Path(__file__).parent / "data_http"
HTTP_ORG = DATA_HTTP / "org.yaml"


def http_directory():
    from gridflow.domain.org_loader import load_org_file

    return load_org_file(HTTP_ORG)


def png_bytes(width: int = 2, height: int = 2, extra: int = 0) -> bytes:
    """A real (tiny) PNG image; ``extra`` bytes of padding in a text chunk make it larger."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    text = chunk(b"tEXt", b"pad\x00" + b"x" * extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + text
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class ApiHarness:
    """The engine, the app, a client, and tokens of people by id."""

    def __init__(self, engine: Any, app: Any, client: Any):
        self.engine, self.app, self.client = engine, app, client
        self.tokens: dict[str, str] = {}

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = self.engine.tokens.create(who).token
        return self.tokens[who]

    def auth(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}", **extra}

    def start(
        self, who: str, workflow: str = "ticket", unit: str | None = None, **data: Any
    ) -> dict[str, Any]:
        data.setdefault("title", "楼道堆物")
        body = {"workflow": workflow, "data": data, **({"unit": unit} if unit else {})}
        r = self.client.post("/api/v1/cases", headers=self.auth(who), json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, who: str, content: bytes, name: str = "a.png", case_id: int | None = None):
        path = f"/api/v1/cases/{case_id}/files" if case_id else "/api/v1/files"
        files = {"file": (name, io.BytesIO(content), "image/png")}
        return self.client.post(path, headers=self.auth(who), files=files)


@pytest.fixture
def make_api(make_engine, tmp_path: Path) -> Iterator[Callable[..., ApiHarness]]:
    """``make_api(url=None, **http_settings)``: an ``ApiHarness`` (SQLite by default)."""
    from fastapi.testclient import TestClient

    from gridflow.drivers.http.app import create_app
    from gridflow.drivers.http.settings import HttpSettings

    clients: list[Any] = []

    def make(url: str | None = None, *, engine: Any = None, oidc: Any = None, **settings: Any):
        if engine is None:
            url = url or f"sqlite:///{tmp_path / 'api.db'}"
            engine = make_engine(url, DATA_HTTP, directory=http_directory())
        settings.setdefault("files_dir", str(tmp_path / "files"))
        app = create_app(engine, HttpSettings(**settings), oidc=oidc, sweep=False)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return ApiHarness(engine, app, client)

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def api(make_api) -> ApiHarness:
    return make_api()
