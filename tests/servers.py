"""Real local servers for the delivery tests (loopback only): a scripted webhook receiver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reply(status: int, headers: dict | None = None, body: bytes = b"") -> tuple:
    """A script step: answer ``status`` with ``headers`` and ``body``."""
    return ("reply", status, headers or {}, body)


def hang(seconds: float) -> tuple:
    """A script step: answer only after ``seconds`` (past the client's timeout)."""
    return ("sleep", seconds)


class HookServer(ThreadingHTTPServer):
    """Answers each POST with the next step of its script (200 once the script is done) and
    records (headers, body, path) of every request."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, script: list[tuple], path: str = "/hook"):
        super().__init__(("127.0.0.1", 0), HookHandler)
        self.script, self.path = script, path
        self.requests: list[tuple[dict[str, str], bytes, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.path}"


class HookHandler(BaseHTTPRequestHandler):
    server: HookServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append((headers, body, self.path))
        action = self.server.script.pop(0) if self.server.script else reply(200)
        if action[0] == "sleep":
            time.sleep(action[1])
            action = reply(200)
        _, status, extra, payload = action
        try:
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (the timeout step)

    def log_message(self, format: str, *args: object) -> None:
        pass


def hook_servers() -> Iterator:
    """Body of a fixture: yields ``start(*script) -> HookServer``; stops them afterwards."""
    servers: list[HookServer] = []

    def start(*script: tuple) -> HookServer:
        server = HookServer(list(script))
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
