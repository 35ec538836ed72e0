"""Statements of moving open cases onto another workflow revision (storage ring).

Candidates are read a page at a time by id (keyset); a batch of them is loaded locked
(PostgreSQL: ``FOR UPDATE`` in id order, the order every writer keeps — the case row before
its timers) and written with one statement per table: the cases (each at the version it was
read at), their history rows and change-feed events, their origins, the cancelled and the
new timers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.records import CaseRecord, TimerRecord

_C = t.case_t
_TM = t.timer_t
_O = t.origin_t
UPDATE = _C.update().where(
    _C.c.id == sa.bindparam("b_id"), _C.c.version == sa.bindparam("b_version")
)


class MigrationStore:
    """Statements over ``gf_case`` and ``gf_timer`` for moving cases between revisions."""

    def __init__(self, is_sqlite: bool):
        self._lock_rows = not is_sqlite

    def open_cases(
        self,
        tx: sa.Connection,
        workflow: str,
        not_revision: int,
        *,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[CaseRecord]:
        """Open cases of ``workflow`` on any revision but ``not_revision``, by id, after
        ``after_id`` (a page)."""
        rows = tx.execute(
            sa.select(_C)
            .where(
                _C.c.workflow_id == workflow,
                _C.c.revision != not_revision,
                _C.c.closed_at.is_(None),
                _C.c.id > after_id,
            )
            .order_by(_C.c.id)
            .limit(limit)
        )
        return [CaseRecord(*r) for r in rows]

    def lock_cases(self, tx: sa.Connection, case_ids: Sequence[int]) -> list[CaseRecord]:
        """The cases of ``case_ids``, by id; PostgreSQL: their rows locked until commit."""
        q = sa.select(_C).where(_C.c.id.in_(list(case_ids))).order_by(_C.c.id)
        if self._lock_rows:
            q = q.with_for_update()
        return [CaseRecord(*r) for r in tx.execute(q)]

    def timers_of(self, tx: sa.Connection, case_ids: Sequence[int]) -> dict[int, list[TimerRecord]]:
        """The pending and done timers of ``case_ids``, by case."""
        rows = tx.execute(
            sa.select(_TM)
            .where(_TM.c.case_id.in_(list(case_ids)), _TM.c.status.in_(["pending", "done"]))
            .order_by(_TM.c.case_id, _TM.c.id)
        )
        out: dict[int, list[TimerRecord]] = {}
        for r in rows:
            out.setdefault(r.case_id, []).append(TimerRecord(*r))
        return out

    def update_cases(self, tx: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Each row: ``b_id``, ``b_version`` (the version read) and the new column values
        (the same keys in every row); how many cases were still at their version (-1 when
        the driver cannot tell)."""
        if not rows:
            return 0
        return int(tx.execute(UPDATE, [dict(r) for r in rows]).rowcount)

    def cancel_pending(self, tx: sa.Connection, case_ids: Sequence[int], at: datetime) -> int:
        """Every pending timer of ``case_ids`` cancelled; how many."""
        if not case_ids:
            return 0
        res = tx.execute(
            _TM.update()
            .where(_TM.c.case_id.in_(list(case_ids)), _TM.c.status == "pending")
            .values(status="cancelled", done_at=at)
        )
        return int(res.rowcount)

    def insert_origins(self, tx: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """``gf_step_origin`` rows (case_id, seq and the origin's columns each)."""
        if rows:
            tx.execute(_O.insert(), [dict(r) for r in rows])

    def open_by_revision(self, tx: sa.Connection, workflow: str | None) -> dict[tuple, int]:
        """Open cases per (workflow, revision)."""
        q = sa.select(_C.c.workflow_id, _C.c.revision, sa.func.count()).where(
            _C.c.closed_at.is_(None)
        )
        if workflow:
            q = q.where(_C.c.workflow_id == workflow)
        rows = tx.execute(q.group_by(_C.c.workflow_id, _C.c.revision))
        return {(r[0], int(r[1])): int(r[2]) for r in rows}
