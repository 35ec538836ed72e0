"""Outbox statements (storage ring): notices written, claimed, finished; endpoints off.

A notice row is written in the same transaction as the event that caused it; the dispatcher
claims due ones through the shared :class:`~gridflow.storage.claims.Queue` (by
``next_attempt_at``), delivers them outside any transaction, then records the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.claims import Queue
from gridflow.storage.records import EndpointRecord, NoticeRecord
from gridflow.storage.types import UTCDateTime

_O = t.outbox_t
_E = t.endpoint_t
INSERT = _O.insert()
QUEUE = Queue(_O, due="next_attempt_at", count_attempts=False)
FINISH = (
    _O.update()
    .where(_O.c.id == sa.bindparam("b_id"), _O.c.status == "pending")
    .values(
        status=sa.bindparam("b_status"),
        attempts=sa.bindparam("b_attempts"),
        lease_owner=None,
        lease_until=None,
        last_error=sa.bindparam("b_error"),
        sent_at=sa.bindparam("b_sent_at"),
        next_attempt_at=sa.func.coalesce(
            sa.bindparam("b_next", type_=UTCDateTime()), _O.c.next_attempt_at
        ),
        subject=sa.func.coalesce(sa.bindparam("b_subject", type_=sa.String()), _O.c.subject),
        text=sa.func.coalesce(sa.bindparam("b_text", type_=sa.Text()), _O.c.text),
        html=sa.func.coalesce(sa.bindparam("b_html", type_=sa.Text()), _O.c.html),
    )
)


@dataclass(slots=True)
class Outcome:
    """What one delivery attempt came to: ``status`` sent | pending (retry at ``next_at``)
    | dead; ``attempts`` the tries so far; ``sent`` the rendered (subject, text, html)."""

    notice_id: str
    status: str
    attempts: int
    error: str | None = None
    sent_at: datetime | None = None
    next_at: datetime | None = None
    sent: tuple[str, str, str | None] | None = None

    def params(self) -> dict[str, Any]:
        subject, text, html = self.sent if self.sent is not None else (None, None, None)
        return {
            "b_id": self.notice_id,
            "b_status": self.status,
            "b_attempts": self.attempts,
            "b_error": self.error,
            "b_sent_at": self.sent_at,
            "b_next": self.next_at,
            "b_subject": subject,
            "b_text": text,
            "b_html": html,
        }


class OutboxStore:
    """Statements over ``gf_outbox`` and ``gf_endpoint``."""

    def __init__(self, is_sqlite: bool):
        self._is_sqlite = is_sqlite

    def insert(self, tx: sa.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        batch = [dict(r) for r in rows]
        if batch:
            tx.execute(INSERT, batch)

    def claim(
        self, tx: sa.Connection, *, now: datetime, batch: int, owner: str, until: datetime
    ) -> list[NoticeRecord]:
        """Lease up to ``batch`` notices due at ``now``; them, earliest due first."""
        ids = QUEUE.claim(
            tx, now=now, batch=batch, owner=owner, until=until, skip_locked=not self._is_sqlite
        )
        if not ids:
            return []
        rows = tx.execute(sa.select(_O).where(_O.c.id.in_(ids)).order_by(_O.c.next_attempt_at))
        return [NoticeRecord(*r) for r in rows]

    def finish(self, tx: sa.Connection, outcomes: Sequence[Outcome]) -> None:
        """Record delivery attempts' outcomes (one statement, executemany) on notices that
        are still pending: the new status and try count, the error, when it was sent or
        is due again, and what was sent (subject, text, html)."""
        if outcomes:
            tx.execute(FINISH, [o.params() for o in outcomes])

    def notices(
        self, tx: sa.Connection, status: str | None = None, limit: int = 50
    ) -> list[NoticeRecord]:
        """Notices, newest first."""
        q = sa.select(_O).order_by(_O.c.created_at.desc()).limit(limit)
        if status:
            q = q.where(_O.c.status == status)
        return [NoticeRecord(*r) for r in tx.execute(q)]

    def ids_starting(self, tx: sa.Connection, prefix: str, status: str, limit: int) -> list[str]:
        """Ids of notices in ``status`` that start with ``prefix``."""
        rows = tx.execute(
            sa.select(_O.c.id)
            .where(_O.c.status == status, _O.c.id.startswith(prefix, autoescape=True))
            .limit(limit)
        )
        return [r[0] for r in rows]

    def counts(self, tx: sa.Connection) -> dict[str, int]:
        """Notices by status."""
        rows = tx.execute(sa.select(_O.c.status, sa.func.count()).group_by(_O.c.status))
        return {status: int(n) for status, n in rows}

    def status_of(self, tx: sa.Connection, notice_id: str) -> str | None:
        return tx.execute(sa.select(_O.c.status).where(_O.c.id == notice_id)).scalar()

    def requeue_dead(self, tx: sa.Connection, notice_id: str | None, now: datetime) -> int:
        """Dead notices (one, or every one when ``notice_id`` is None) back to pending, due
        at ``now`` with no tries counted; how many."""
        q = _O.update().where(_O.c.status == "dead")
        if notice_id is not None:
            q = q.where(_O.c.id == notice_id)
        return int(
            tx.execute(
                q.values(
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            ).rowcount
        )

    # ---- endpoints -----------------------------------------------------------------------
    def disabled(self, tx: sa.Connection) -> list[EndpointRecord]:
        """The endpoints switched off, oldest first."""
        rows = tx.execute(sa.select(_E).order_by(_E.c.disabled_at, _E.c.channel))
        return [EndpointRecord(*r) for r in rows]

    def disable(
        self, tx: sa.Connection, channel: str, address: str, reason: str, now: datetime
    ) -> None:
        """Switch an endpoint off (once) and let its pending notices go dead."""
        exists = tx.execute(
            sa.select(_E.c.channel).where(_E.c.channel == channel, _E.c.address == address)
        ).first()
        if exists is None:
            tx.execute(
                _E.insert().values(channel=channel, address=address, reason=reason, disabled_at=now)
            )
        tx.execute(
            _O.update()
            .where(_O.c.channel == channel, _O.c.address == address, _O.c.status == "pending")
            .values(status="dead", last_error=f"endpoint disabled: {reason}")
        )

    def enable(self, tx: sa.Connection, channel: str, address: str) -> int:
        """Switch an endpoint back on: 1, or 0 when it was not off."""
        return int(
            tx.execute(_E.delete().where(_E.c.channel == channel, _E.c.address == address)).rowcount
        )
