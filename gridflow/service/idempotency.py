"""Idempotency keys (service ring): a retried request gets the first response.

A client sends ``Idempotency-Key: K`` with a POST. The first request with K (per principal)
reserves it, runs, and stores its response — success or refusal — for 24 hours; a retry
with the same K and the same request gets that response again without running anything. The
same K with a *different* request is an error (``IdempotencyError``, HTTP 422); a retry
while the first is still running gets ``in_flight`` (HTTP 409).

Limits, stated: the response is stored in its own transaction right after the operation's.
A server killed between the two leaves the key pending; a retry after ``STALE`` seconds runs
the request again (an ``If-Match`` on the retry keeps that from applying an event twice).
Keys older than ``TTL`` are deleted by :meth:`Idempotency.sweep` (the server runs it
periodically).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridflow.errors import IdempotencyError
from gridflow.service.runtime import Runtime

TTL = timedelta(hours=24)
STALE = timedelta(minutes=5)
MAX_KEY = 200


@dataclass(frozen=True)
class Replay:
    """A stored first response."""

    status: int
    headers: dict[str, str]
    body: str


def request_hash(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and the JSON body."""
    text = json.dumps([method, path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Idempotency:
    """Reserve, replay, complete and sweep idempotency keys."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def begin(self, principal: str, key: str, fingerprint: str) -> Replay | None:
        """None: run the request (``key`` is now reserved). A ``Replay``: answer it."""
        if not key or len(key) > MAX_KEY or not key.isprintable():
            raise IdempotencyError(
                f"an Idempotency-Key is 1 to {MAX_KEY} printable characters", key=key[:MAX_KEY]
            )
        store, now = self.rt.store, self.rt.now()
        with store.write() as tx:
            row = store.idempotency.reserve(tx, principal, key, fingerprint, now)
            if row is None:
                return None
            if row.created_at < now - TTL:  # expired but not yet swept: start afresh
                store.idempotency.sweep(tx, now - TTL)
                if store.idempotency.reserve(tx, principal, key, fingerprint, now) is None:
                    return None
            if row.request_hash != fingerprint:
                raise IdempotencyError(
                    f"Idempotency-Key {key!r} was used for a different request",
                    key=key,
                )
            if row.state == "done" and row.status is not None:
                return Replay(row.status, dict(row.headers or {}), row.body or "")
            if store.idempotency.take_over(tx, principal, key, fingerprint, now - STALE):
                return None
        raise IdempotencyError(
            f"a request with Idempotency-Key {key!r} is still running", key=key, in_flight=True
        )

    def complete(
        self, principal: str, key: str, status: int, headers: dict[str, str], body: str
    ) -> None:
        with self.rt.store.write() as tx:
            self.rt.store.idempotency.complete(tx, principal, key, status, headers, body)

    def abandon(self, principal: str, key: str) -> None:
        """Free a reserved key whose request failed without an answer worth keeping."""
        with self.rt.store.write() as tx:
            self.rt.store.idempotency.release(tx, principal, key)

    def sweep(self, now: datetime | None = None) -> int:
        """Delete keys older than ``TTL``; how many."""
        now = now or self.rt.now()
        with self.rt.store.write() as tx:
            return self.rt.store.idempotency.sweep(tx, now - TTL)
