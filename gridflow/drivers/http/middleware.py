"""Request ids, access lines, request metrics and body limits (driver ring), as one plain
ASGI middleware (cheaper than Starlette's ``BaseHTTPMiddleware`` on every request).

- ``X-Request-ID``: taken from the client when it is a sane token (1–64 of
  ``[A-Za-z0-9._-]``), else made up; put on every response and every log line.
- One access line per request: method, route, status, milliseconds, principal, address.
- ``gridflow_http_requests_total`` by method, route template and status.
- Bodies over the limit are refused with 413 before they are read: by ``Content-Length``,
  and by counting a chunked body as it arrives (uploads have their own, larger limit).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from gridflow.drivers.http.logs import request_id_var
from gridflow.drivers.http.metrics import Metrics

log = logging.getLogger("gridflow.http.access")
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _BodyTooLarge(Exception):  # private signal: a chunked body passed the limit
    pass


class RequestContext:
    def __init__(
        self, app: Any, metrics: Metrics, max_body: int, max_upload: int, max_form: int = 0
    ):
        self.app, self.metrics = app, metrics
        self.max_body, self.max_upload = max_body, max_upload
        self.max_form = max_form or max_upload

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _RID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        raw_rid = rid.encode()
        limit = self.max_upload if scope["path"].endswith("/files") else self.max_body
        if not scope["path"].startswith("/api/") and headers.get(b"content-type", b"").startswith(
            b"multipart/form-data"
        ):  # the workbench's forms with photos (each file is capped again when stored)
            limit = self.max_form

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", raw_rid)]
            await send(message)

        seen = {"bytes": 0}

        async def counted_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit:
                    raise _BodyTooLarge()
            return message

        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await self._too_large(scope, send_with_id, rid, limit)
            else:
                try:
                    await self.app(scope, counted_receive, send_with_id)
                except _BodyTooLarge:
                    if not status["started"]:
                        await self._too_large(scope, send_with_id, rid, limit)
                except Exception:  # a bug: logged here with the request id, never shown
                    log.exception("internal error serving %s %s", scope["method"], scope["path"])
                    if status["started"]:
                        raise
                    await self._problem(
                        scope,
                        send_with_id,
                        rid,
                        500,
                        "internal",
                        "internal error; the server log has it under this request id",
                    )
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.request_seconds.labels(route).observe(elapsed)
            state = scope.get("state", {})
            principal = getattr(state.get("principal"), "id", None) if state else None
            client = scope.get("client")
            log.info(
                "%s %s %s %.1f ms",
                scope["method"],
                scope["path"],
                status["code"],
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status["code"],
                    "ms": round(elapsed * 1000, 2),
                    "principal": principal,
                    "address": client[0] if client else None,
                },
            )
            request_id_var.reset(token)

    @classmethod
    async def _too_large(cls, scope: dict, send: Any, rid: str, limit: int) -> None:
        detail = f"the request body is larger than {limit} bytes"
        await cls._problem(scope, send, rid, 413, "body-too-large", detail)

    @staticmethod
    async def _problem(
        scope: dict, send: Any, rid: str, status: int, name: str, detail: str
    ) -> None:
        from http import HTTPStatus

        body = json.dumps(
            {
                "type": f"urn:gridflow:problem:{name}",
                "title": HTTPStatus(status).phrase,
                "status": status,
                "detail": detail,
                "instance": scope["path"],
                "request_id": rid,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
