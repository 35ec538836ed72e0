"""The outbox dispatcher: delivers notices written by events, at least once (driver ring).

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gridflow.drivers.notifiers.base import OutboundNotice
from gridflow.errors import DeliveryError, GridflowError, NotFound
from gridflow.storage import tables as t


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
        engine,
        channels: dict[str, Any],
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
        self.engine, self.store = engine, engine.store
        self.channels = channels
        self.fallback = fallback if fallback in channels else next(iter(channels))
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
        """Deliver every notice due at ``now``; returns what happened."""
        now = now or self.engine.now()
        result = DispatchResult()
        self._off = self._disabled_endpoints()  # read once a pass, kept current by _disable
        while limit is None or result.claimed < limit:
            rows = self._claim(now, batch)
            if not rows:
                break
            result.claimed += len(rows)
            for row in rows:
                self._deliver(row, now, result)
        return result

    def _claim(self, now: datetime, batch: int) -> list:
        o = t.outbox_t
        with self.store.write() as conn:
            q = (
                sa.select(o)
                .where(
                    o.c.status == "pending",
                    o.c.next_attempt_at <= now,
                    sa.or_(o.c.lease_until.is_(None), o.c.lease_until < now),
                )
                .order_by(o.c.next_attempt_at)
                .limit(batch)
            )
            if not self.store.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            rows = list(conn.execute(q))
            if rows:
                conn.execute(
                    o.update()
                    .where(o.c.id.in_([r.id for r in rows]))
                    .values(lease_owner=self.engine.owner, lease_until=now + self.lease)
                )
        return rows

    def _deliver(self, row, now: datetime, result: DispatchResult) -> None:
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

    def _failed(self, row, now, exc: DeliveryError, channel: str, address: str, result) -> None:
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
            self._disable(channel, address, str(exc), now)

    def _finish(
        self,
        row,
        now: datetime,
        *,
        status: str,
        error: str | None = None,
        next_at: datetime | None = None,
    ) -> None:
        o = t.outbox_t
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
        with self.store.write() as conn:
            conn.execute(
                o.update().where(o.c.id == row.id, o.c.status == "pending").values(**values)
            )

    # ---- disabled endpoints ------------------------------------------------------------
    def _disabled_endpoints(self) -> set[tuple[str, str]]:
        e = t.endpoint_t
        with self.store.read() as conn:
            return {
                (r.channel, r.address) for r in conn.execute(sa.select(e.c.channel, e.c.address))
            }

    def _disable(self, channel: str, address: str, reason: str, now: datetime) -> None:
        self._off.add((channel, address))
        e, o = t.endpoint_t, t.outbox_t
        with self.store.write() as conn:
            if (
                conn.execute(
                    sa.select(e.c.channel).where(e.c.channel == channel, e.c.address == address)
                ).first()
                is None
            ):
                conn.execute(
                    e.insert().values(
                        channel=channel, address=address, reason=reason, disabled_at=now
                    )
                )
            conn.execute(
                o.update()
                .where(o.c.channel == channel, o.c.address == address, o.c.status == "pending")
                .values(status="dead", last_error=f"endpoint disabled: {reason}")
            )


# ---- operator actions (CLI) -----------------------------------------------------------------
def list_notices(engine, status: str | None = None, limit: int = 50) -> list:
    o = t.outbox_t
    q = sa.select(o).order_by(o.c.created_at.desc()).limit(limit)
    if status:
        q = q.where(o.c.status == status)
    with engine.store.read() as conn:
        return list(conn.execute(q))


def counts(engine) -> dict[str, int]:
    o = t.outbox_t
    with engine.store.read() as conn:
        return {
            s: n
            for s, n in conn.execute(sa.select(o.c.status, sa.func.count()).group_by(o.c.status))
        }


def retry(engine, notice_id: str | None = None, *, all_dead: bool = False) -> int:
    """Put dead notices (one, or all) back to pending, due now; returns how many."""
    o = t.outbox_t
    q = o.update().where(o.c.status == "dead")
    if notice_id is not None:
        q = q.where(o.c.id == notice_id)
    elif not all_dead:
        raise GridflowError("say which notice to retry, or --all-dead")
    with engine.store.write() as conn:
        n = conn.execute(
            q.values(
                status="pending",
                attempts=0,
                next_attempt_at=engine.now(),
                lease_owner=None,
                lease_until=None,
            )
        ).rowcount
        if notice_id is not None and n == 0:
            row = conn.execute(sa.select(o.c.status).where(o.c.id == notice_id)).first()
            if row is None:
                raise NotFound("notice", notice_id)
            raise GridflowError(f"notice {notice_id} is {row.status}, not dead")
    return n


def disabled_endpoints(engine) -> list:
    """The endpoints switched off (channel, address, reason, disabled_at), oldest first."""
    e = t.endpoint_t
    with engine.store.read() as conn:
        return list(conn.execute(sa.select(e).order_by(e.c.disabled_at, e.c.channel)))


def enable_endpoint(engine, channel: str, address: str) -> int:
    """Switch an endpoint back on (1), or 0 when it was not off. Its dead notices stay dead
    until retried (``retry``)."""
    e = t.endpoint_t
    with engine.store.write() as conn:
        return conn.execute(
            e.delete().where(e.c.channel == channel, e.c.address == address)
        ).rowcount


def build_dispatcher(engine, settings) -> Dispatcher:
    """A dispatcher over the channels configured in ``settings`` (default: console)."""
    from gridflow.drivers.notifiers.registry import build_channels

    channels = build_channels(settings.channels or {})
    return Dispatcher(engine, channels, fallback=engine.default_channel)
