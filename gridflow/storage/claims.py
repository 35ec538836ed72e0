"""The claim: take due rows of a queue (storage ring).

SLA timers and outbox notices are both queues of rows that fall due (``status`` pending and
the due column at or before now, earliest first). One :class:`Queue` serves both, two ways:

- :meth:`Queue.claim` — under a lease, for work done *outside* the claiming transaction (a
  notice is delivered with no transaction open): the worker writes its name and the lease's
  end on the rows; a worker that dies leaves its lease to expire and another takes the rows.
- :meth:`Queue.due_groups` — for work done *inside* the claiming transaction (a timer acts
  in the transaction that marks it done): the keys (e.g. cases) with rows due, earliest
  first; the caller locks what it needs in that same transaction, so a crash rolls it all
  back and nothing needs a lease.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint batches; SQLite:
the write transaction (``BEGIN IMMEDIATE``) already serialises them.
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
        due_col = self._due = c[due]
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

    def due_groups(self, tx: sa.Connection, *, key: str, now: datetime, batch: int) -> list[Any]:
        """Values of column ``key`` having rows due at ``now``, the group whose first row
        falls due earliest first; at most ``batch``."""
        c = self.table.c
        first = sa.func.min(self._due).label("first")
        rows = tx.execute(
            sa.select(c[key], first)
            .where(c.status == "pending", self._due <= now)
            .group_by(c[key])
            .order_by(first, c[key])
            .limit(batch)
        )
        return [r[0] for r in rows]

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
