"""Real local servers for the delivery tests (loopback only): a scripted webhook receiver."""

from __future__ import annotations

import contextlib
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


class BadPeer:
    """A TCP peer on loopback that misbehaves: ``trickle`` answers an HTTP 200 one byte every
    ``every`` seconds (a whole answer would take minutes); ``silent`` accepts and never
    answers. Records how many bytes it managed to send and how many connections it saw."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self, mode: str, every: float = 0.5):
        self.mode, self.every = mode, every
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sent = 0
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request (headers, maybe the body)
            if self.mode == "silent":
                self._stop.wait()
                return
            for byte in self.ANSWER:
                if self._stop.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client gave up and closed: stop trickling
                    return
                self.sent += 1

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
