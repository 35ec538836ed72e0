"""The outbox dispatcher: delivers notices written by events, at least once (service ring).

A notice row is written in the same transaction as the event that caused it. The
dispatcher claims a batch of due rows under a lease (PostgreSQL: ``FOR UPDATE SKIP
LOCKED``; SQLite: the single writer), delivers each through its channel *outside* any
transaction, then records the outcome:

- delivered → ``sent``;
- ``DeliveryError(permanent=False)`` → retried after an exponential backoff with full jitter
  (``base * 2**attempt``, capped), or after the peer's ``Retry-After`` — until
  ``max_attempts``, then ``dead``;
- ``DeliveryError(permanent=True)`` → ``dead`` at once (an operator can ``retry`` it);
- ``disable_endpoint`` (HTTP 410) → the endpoint is recorded as disabled; its pending
  notices go ``dead`` and new ones are not tried.

A dispatcher that dies after delivering but before recording leaves the lease to expire;
the notice is then delivered again with the same id (the idempotency key every channel
passes on or de-duplicates by). So: at least once, and exactly once wherever the channel
honours the id.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gridflow.domain.notice import Channel, OutboundNotice
from gridflow.errors import DeliveryError, GridflowError, NotFound
from gridflow.service.runtime import Runtime
from gridflow.service.timers import batches
from gridflow.storage.records import EndpointRecord, NoticeRecord


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Delivers pending notices of one engine's database through configured channels.

    ``channels``: name → Channel. A notice naming a channel that is not configured goes to
    ``fallback`` (so a person's ``email`` notices are not lost on a site without SMTP).
    """

    def __init__(
        self,
        rt: Runtime,
        channels: Mapping[str, Channel],
        *,
        fallback: str | None = None,
        max_attempts: int = 8,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        lease: float = 120.0,
        rng: random.Random | None = None,
    ):
        if not channels:
            raise GridflowError("no notice channels configured")
        self.rt, self.store = rt, rt.store
        self.channels = dict(channels)
        self.fallback: str = (
            fallback if fallback is not None and fallback in channels else next(iter(channels))
        )
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.lease = timedelta(seconds=lease)
        self.rng = rng or random.Random()
        self._off: set[tuple[str, str]] = set()  # disabled (channel, address) pairs

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones (full jitter)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return self.rng.uniform(ceiling / 2, ceiling)

    # ---- one pass ---------------------------------------------------------------------
    def run_once(
        self, now: datetime | None = None, *, batch: int = 100, limit: int | None = None
    ) -> DispatchResult:
        """Deliver every notice due at ``now`` (at most ``limit``); returns what happened."""
        now = now or self.rt.now()
        result = DispatchResult()
        with self.store.read() as tx:  # read once a pass, kept current by _disable
            self._off = {(e.channel, e.address) for e in self.store.outbox.disabled(tx)}
        while size := batches(limit, batch, result.claimed):
            with self.store.write() as tx:
                rows = self.store.outbox.claim(
                    tx, now=now, batch=size, owner=self.rt.owner, until=now + self.lease
                )
            if not rows:
                break
            result.claimed += len(rows)
            for row in rows:
                self._deliver(row, now, result)
        return result

    def _deliver(self, row: NoticeRecord, now: datetime, result: DispatchResult) -> None:
        configured = row.channel in self.channels
        name = row.channel if configured else self.fallback
        # a fallback channel cannot use another channel's address (an e-mail address is no
        # webhook URL or folder): it gets the notice without one
        address = row.address if configured else ""
        notice = OutboundNotice(
            id=row.id,
            channel=name,
            address=address,
            subject=row.subject,
            text=row.text,
            html=row.html,
            case_id=row.case_id,
            workflow_id=row.workflow_id,
            notice=row.notice,
            lang=row.lang,
            created_at=row.created_at,
            attempt=row.attempts + 1,
        )
        if (name, address) in self._off:
            self._finish(row, now, status="dead", error="endpoint disabled (410 Gone)")
            result.dead += 1
            return
        try:
            self.channels[name].deliver(notice)
        except DeliveryError as exc:
            self._failed(row, now, exc, name, address, result)
            return
        except Exception as exc:  # a channel bug must not stop the other notices
            error = DeliveryError(f"{type(exc).__name__}: {exc}")
            self._failed(row, now, error, name, address, result)
            return
        self._finish(row, now, status="sent")
        result.sent += 1

    def _failed(
        self,
        row: NoticeRecord,
        now: datetime,
        exc: DeliveryError,
        channel: str,
        address: str,
        result: DispatchResult,
    ) -> None:
        attempts = row.attempts + 1
        result.errors.append(f"notice {row.id} via {channel}: {exc}")
        if exc.permanent or attempts >= self.max_attempts:
            reason = str(exc) if exc.permanent else f"gave up after {attempts} tries: {exc}"
            self._finish(row, now, status="dead", error=reason)
            result.dead += 1
        else:
            delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempts)
            delay = min(max(delay, 0.0), self.max_delay)
            self._finish(
                row, now, status="pending", error=str(exc), next_at=now + timedelta(seconds=delay)
            )
            result.retried += 1
        # only after recording this try: `_finish` updates pending rows only, so disabling
        # first left this notice's attempt, error and lease unwritten
        if exc.disable_endpoint:
            self._off.add((channel, address))
            with self.store.write() as tx:
                self.store.outbox.disable(tx, channel, address, str(exc), now)

    def _finish(
        self,
        row: NoticeRecord,
        now: datetime,
        *,
        status: str,
        error: str | None = None,
        next_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = dict(
            status=status,
            attempts=row.attempts + 1,
            lease_owner=None,
            lease_until=None,
            last_error=error,
        )
        if status == "sent":
            values["sent_at"] = now
        if next_at is not None:
            values["next_attempt_at"] = next_at
        with self.store.write() as tx:
            self.store.outbox.finish(tx, row.id, values)


class OutboxAdmin:
    """What an operator does with the outbox: look, count, retry, switch endpoints on."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def notices(self, status: str | None = None, limit: int = 50) -> list[NoticeRecord]:
        """Notices, newest first."""
        with self.rt.store.read() as tx:
            return self.rt.store.outbox.notices(tx, status, limit)

    def counts(self) -> dict[str, int]:
        """Notices by status."""
        with self.rt.store.read() as tx:
            return self.rt.store.outbox.counts(tx)

    def resolve(self, prefix: str, status: str = "dead") -> str:
        """The one notice in ``status`` whose id starts with ``prefix``."""
        with self.rt.store.read() as tx:
            ids = self.rt.store.outbox.ids_starting(tx, prefix, status, 2)
        if len(ids) != 1:
            many = "more than one" if ids else "no"
            raise GridflowError(f"{many} {status} notice starts with {prefix!r}")
        return ids[0]

    def retry(self, notice_id: str | None = None, *, all_dead: bool = False) -> int:
        """Put dead notices (one, or all) back to pending, due now; returns how many."""
        if notice_id is None and not all_dead:
            raise GridflowError("say which notice to retry, or --all-dead")
        store = self.rt.store
        with store.write() as tx:
            n = store.outbox.requeue_dead(tx, notice_id, self.rt.now())
            if notice_id is not None and n == 0:
                status = store.outbox.status_of(tx, notice_id)
                if status is None:
                    raise NotFound("notice", notice_id)
                raise GridflowError(f"notice {notice_id} is {status}, not dead")
        return n

    def disabled_endpoints(self) -> list[EndpointRecord]:
        """The endpoints switched off (channel, address, reason, disabled_at), oldest first."""
        with self.rt.store.read() as tx:
            return self.rt.store.outbox.disabled(tx)

    def enable_endpoint(self, channel: str, address: str) -> int:
        """Switch an endpoint back on (1), or 0 when it was not off. Its dead notices stay
        dead until retried (``retry``)."""
        with self.rt.store.write() as tx:
            return self.rt.store.outbox.enable(tx, channel, address)
