"""``Idempotency-Key`` for POSTs: the first response is kept and replayed (driver ring).

Replays carry ``Idempotency-Replayed: true``. Success and refusals alike are kept (the
first answer *is* the answer); a server error is not — its key is freed for a retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from gridflow.drivers.http.context import Caller, api_of
from gridflow.drivers.http.problems import gridflow_handler
from gridflow.errors import GridflowError
from gridflow.service.idempotency import request_hash

KEPT_HEADERS = ("content-type", "location", "etag")


def run(
    request: Request,
    caller: Caller,
    key: str | None,
    body: Any,
    operation: Callable[[], Response],
) -> Response:
    """``operation()``, or the stored first response to ``key``."""
    if key is None:
        return operation()
    engine = api_of(request).engine
    who = caller.principal.id
    fingerprint = request_hash(
        request.method,
        request.url.path,
        [body, caller.on_behalf_of, request.headers.get("if-match")],
    )
    replay = engine.idempotency.begin(who, key, fingerprint)
    if replay is not None:
        headers = {k: v for k, v in replay.headers.items() if k != "content-type"}
        headers["Idempotency-Replayed"] = "true"
        return Response(
            replay.body,
            status_code=replay.status,
            headers=headers,
            media_type=replay.headers.get("content-type"),
        )
    try:
        response = operation()
    except GridflowError as exc:
        response = gridflow_handler(request, exc)
    except BaseException:
        engine.idempotency.abandon(who, key)
        raise
    if response.status_code >= 500:
        engine.idempotency.abandon(who, key)
        return response
    kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
    body_text = bytes(response.body).decode("utf-8")
    engine.idempotency.complete(who, key, response.status_code, kept, body_text)
    return response


def json_response(model: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A pydantic model as a JSON response (kept byte-for-byte for replays)."""
    payload = model.model_dump(mode="json")
    return Response(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )
