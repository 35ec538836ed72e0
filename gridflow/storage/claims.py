"""The one claim: take due rows of a queue under a lease (storage ring).

SLA timers and outbox notices are both queues of rows that fall due: a worker claims a batch
of due rows whose lease is free or expired, writing its name and the lease's end on them, then
works on them. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint
batches; SQLite: the write transaction (``BEGIN IMMEDIATE``) already serialises claimers.
A worker that dies leaves its lease to expire; another then takes the rows again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa


class Queue:
    """A table read as a queue: ``due`` names the column saying when a row falls due; rows
    are pending while ``status`` is ``'pending'``; ``count_attempts`` adds one to
    ``attempts`` on each claim (timers count claims, notices count delivery tries instead).
    The statements are built once."""

    def __init__(self, table: sa.Table, *, due: str, count_attempts: bool):
        self.table = table
        c = table.c
        due_col = c[due]
        self._pick = (
            sa.select(c.id)
            .where(
                c.status == "pending",
                due_col <= sa.bindparam("b_now"),
                sa.or_(c.lease_until.is_(None), c.lease_until < sa.bindparam("b_now")),
            )
            .order_by(due_col)
            .limit(sa.bindparam("b_batch"))
        )
        self._pick_skip_locked = self._pick.with_for_update(skip_locked=True)
        values: dict[str, Any] = {
            "lease_owner": sa.bindparam("b_owner"),
            "lease_until": sa.bindparam("b_until"),
        }
        if count_attempts:
            values["attempts"] = c.attempts + 1
        self._lease = (
            table.update().where(c.id.in_(sa.bindparam("b_ids", expanding=True))).values(**values)
        )

    def claim(
        self,
        tx: sa.Connection,
        *,
        now: datetime,
        batch: int,
        owner: str,
        until: datetime,
        skip_locked: bool,
    ) -> list[Any]:
        """Lease up to ``batch`` rows due at ``now`` to ``owner`` until ``until``; their ids,
        earliest due first."""
        if batch <= 0:
            return []
        pick = self._pick_skip_locked if skip_locked else self._pick
        ids = [r[0] for r in tx.execute(pick, {"b_now": now, "b_batch": batch})]
        if ids:
            tx.execute(self._lease, {"b_ids": ids, "b_owner": owner, "b_until": until})
        return ids
