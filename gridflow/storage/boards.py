"""Board statements (storage ring): the cases of one board column and how many there are,
and the open children of a page of cases — under a visibility scope, like every list.

A column is a set of states (and, for a column holding closed cases, a moment since which
they closed). Cards come open first, nearest deadline first (the overdue at the top), then
without a deadline, oldest first, then the closed ones, last closed first; the count is
exact whatever the page holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from gridflow.domain.access import CaseScope
from gridflow.storage import schema as t
from gridflow.storage.browse import CaseFilter
from gridflow.storage.browse import _where as where
from gridflow.storage.records import CaseRecord

_C = t.case_t


def _column(
    q: sa.Select, f: CaseFilter, scope: CaseScope, states: Sequence[str], since: datetime | None
) -> sa.Select:
    c = _C.c
    q = where(q, f, scope).where(c.state.in_(list(states)))
    if since is not None:  # closed cases only when closed since then; open ones all
        q = q.where(sa.or_(c.closed_at.is_(None), c.closed_at >= since))
    return q


class BoardQueries:
    """Read statements for boards."""

    def column(
        self,
        tx: sa.Connection,
        f: CaseFilter,
        scope: CaseScope,
        states: Sequence[str],
        *,
        limit: int,
        closed_since: datetime | None = None,
    ) -> tuple[list[CaseRecord], int]:
        """Up to ``limit`` visible cases in ``states`` matching ``f`` (closed since
        ``closed_since`` when given), and how many there are in all."""
        if not states:
            return [], 0
        c = _C.c
        total = tx.execute(
            _column(sa.select(sa.func.count()).select_from(_C), f, scope, states, closed_since)
        ).scalar_one()
        # open cases first, nearest deadline first; then the closed, last closed first
        order = [c.closed_at.is_not(None), c.due_at.is_(None), c.due_at, c.closed_at.desc(), c.id]
        q = _column(sa.select(_C), f, scope, states, closed_since).order_by(*order).limit(limit)
        return [CaseRecord(*r) for r in tx.execute(q)], int(total)

    def count(
        self,
        tx: sa.Connection,
        f: CaseFilter,
        scope: CaseScope,
        states: Sequence[str],
        *,
        closed_since: datetime | None = None,
    ) -> int:
        """How many visible cases in ``states`` match ``f`` (as :meth:`column` counts)."""
        if not states:
            return 0
        q = _column(sa.select(sa.func.count()).select_from(_C), f, scope, states, closed_since)
        return int(tx.execute(q).scalar_one())

    def open_children(self, tx: sa.Connection, parent_ids: Sequence[int]) -> dict[int, int]:
        """How many open children each of ``parent_ids`` has (absent: none)."""
        if not parent_ids:
            return {}
        c = _C.c
        q = (
            sa.select(c.parent_id, sa.func.count())
            .where(c.parent_id.in_(list(parent_ids)), c.closed_at.is_(None))
            .group_by(c.parent_id)
        )
        return {int(p): int(n) for p, n in tx.execute(q)}
