"""SLA timer statements (storage ring): insert, cancel, claim, act in due order, count.

A timer row is unique per (case, state entry, name), so it can fire only once; ``tick`` claims
due ones through the shared :class:`~gridflow.storage.claims.Queue`, then, per case, marks
each done in the same transaction that acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.claims import Queue
from gridflow.storage.records import TimerRecord

_TM = t.timer_t
INSERT = _TM.insert()
# ``coalesce(status, '')`` (status is NOT NULL: the same rows) keeps SQLite from reading the
# status index: without statistics its planner takes ix_gf_timer_due (status, due_at) for
# ``status = 'pending'`` over the case_id index, and walks every pending timer of every case
# (milliseconds per event at 100k open cases, growing with the table); PostgreSQL, with
# statistics, picks the case_id index either way
PENDING = sa.func.coalesce(_TM.c.status, "") == "pending"
CANCEL = (
    _TM.update()
    .where(_TM.c.case_id == sa.bindparam("b_case_id"), PENDING)
    .values(status="cancelled", done_at=sa.bindparam("b_done_at"))
)
GET = sa.select(_TM).where(_TM.c.id == sa.bindparam("b_id"))
DUE_OF_CASE = (  # PENDING: by the case_id index, not the status one (see above)
    sa.select(_TM)
    .where(
        _TM.c.case_id == sa.bindparam("b_case_id"), PENDING, _TM.c.due_at <= sa.bindparam("b_due")
    )
    .order_by(_TM.c.due_at, _TM.c.id)
)
DUE_OF_CASE_LOCKED = DUE_OF_CASE.with_for_update()
PENDING_OF_CASE = sa.select(_TM).where(_TM.c.case_id == sa.bindparam("b_case_id"), PENDING)
DONE = (
    _TM.update()
    .where(_TM.c.id == sa.bindparam("b_id"), _TM.c.status == "pending")
    .values(status="done", done_at=sa.bindparam("b_at"))
)
QUEUE = Queue(_TM, due="due_at", count_attempts=True)


class TimerStore:
    """Statements over ``gf_timer``."""

    def __init__(self, is_sqlite: bool):
        self._is_sqlite = is_sqlite

    def insert(self, tx: sa.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """New pending timers (each: case_id, entry_seq, name, kind, due_at, provisional,
        spec)."""
        batch = [{"status": "pending", "attempts": 0, **r} for r in rows]
        if batch:
            tx.execute(INSERT, batch)

    def cancel_pending(self, tx: sa.Connection, case_id: int, at: datetime) -> None:
        """The case left the state its timers belong to: they will never act."""
        tx.execute(CANCEL, {"b_case_id": case_id, "b_done_at": at})

    def claim(
        self, tx: sa.Connection, *, now: datetime, batch: int, owner: str, until: datetime
    ) -> list[int]:
        """Lease up to ``batch`` due timers; their ids, earliest due first."""
        return QUEUE.claim(
            tx, now=now, batch=batch, owner=owner, until=until, skip_locked=not self._is_sqlite
        )

    def claim_cases(self, tx: sa.Connection, *, now: datetime, batch: int) -> list[int]:
        """Up to ``batch`` cases with timers due at ``now``, the earliest due first, for
        acting on in this transaction. PostgreSQL: their case rows are locked here (``FOR
        UPDATE SKIP LOCKED``: a case another worker holds is left to it) — the case row
        before its timers, the order every writer keeps."""
        if batch <= 0:
            return []
        if self._is_sqlite:
            return [int(i) for i in QUEUE.due_groups(tx, key="case_id", now=now, batch=batch)]
        candidates = QUEUE.due_groups(tx, key="case_id", now=now, batch=batch * 4)
        if not candidates:
            return []
        c = t.case_t.c
        locked = set(
            tx.execute(
                sa.select(c.id)
                .where(c.id.in_(candidates))
                .order_by(c.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        return [int(i) for i in candidates if i in locked]

    def due_of_cases(
        self, tx: sa.Connection, case_ids: list[int], now: datetime
    ) -> dict[int, list[TimerRecord]]:
        """The pending timers due at ``now`` of ``case_ids``, each case's in due order."""
        rows = tx.execute(
            sa.select(_TM)
            .where(_TM.c.case_id.in_(case_ids), PENDING, _TM.c.due_at <= now)
            .order_by(_TM.c.case_id, _TM.c.due_at, _TM.c.id)
        )
        out: dict[int, list[TimerRecord]] = {}
        for r in rows:
            timer = TimerRecord(*r)
            out.setdefault(timer.case_id, []).append(timer)
        return out

    def get(self, tx: sa.Connection, timer_id: int) -> TimerRecord | None:
        row = tx.execute(GET, {"b_id": timer_id}).first()
        return None if row is None else TimerRecord(*row)

    def due_of_case(self, tx: sa.Connection, case_id: int, due: datetime) -> list[TimerRecord]:
        """The case's pending timers due at or before ``due``, in due order (PostgreSQL:
        locked; the caller holds the case row's lock first, the same order everywhere)."""
        q = DUE_OF_CASE if self._is_sqlite else DUE_OF_CASE_LOCKED
        return [TimerRecord(*r) for r in tx.execute(q, {"b_case_id": case_id, "b_due": due})]

    def mark_many_done(self, tx: sa.Connection, timer_ids: Sequence[int], at: datetime) -> int:
        """Pending → done for each of ``timer_ids`` (one statement); how many were pending."""
        if not timer_ids:
            return 0
        return int(tx.execute(DONE, [{"b_id": i, "b_at": at} for i in timer_ids]).rowcount)

    def pending_of_case(self, tx: sa.Connection, case_id: int) -> list[TimerRecord]:
        """The case's pending timers (by the case_id index)."""
        rows = tx.execute(PENDING_OF_CASE, {"b_case_id": case_id})
        return [TimerRecord(*r) for r in rows]

    def mark_done(self, tx: sa.Connection, timer_id: int, at: datetime) -> bool:
        """Pending → done; False if it was no longer pending (cancelled by an earlier rung)."""
        return tx.execute(DONE, {"b_id": timer_id, "b_at": at}).rowcount == 1

    def reschedule(
        self, tx: sa.Connection, case_id: int, name: str, due_at: datetime, provisional: bool
    ) -> None:
        """Move the case's pending timer ``name`` to a new due time."""
        tx.execute(
            _TM.update()
            .where(_TM.c.case_id == case_id, _TM.c.name == name, _TM.c.status == "pending")
            .values(due_at=due_at, provisional=provisional)
        )

    def counts(self, tx: sa.Connection, now: datetime) -> tuple[int, int]:
        """(due at ``now``, pending in all)."""
        due = tx.execute(
            sa.select(sa.func.count()).where(_TM.c.status == "pending", _TM.c.due_at <= now)
        ).scalar_one()
        pending = tx.execute(
            sa.select(sa.func.count()).where(_TM.c.status == "pending")
        ).scalar_one()
        return int(due), int(pending)
