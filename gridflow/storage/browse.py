"""Browsing cases (storage ring): pages under a visibility scope, facet counts, the inbox's
candidates, and the visibility rule as SQL.

Pages are keyset pages, newest first: a page is "the ``limit`` cases with an id below the
cursor", so cases started while a client pages through (they get higher ids) never shift
what the next page holds — nothing is shown twice or skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.domain.access import CaseScope
from gridflow.storage import schema as t
from gridflow.storage.cases import like_escape, subtree
from gridflow.storage.records import CaseRecord

_C = t.case_t


def scope_clause(scope: CaseScope, table: sa.Table = _C) -> Any:
    """``scope`` (see :mod:`gridflow.domain.access`) as a WHERE clause over ``table``'s
    case columns; None when it restricts nothing."""
    if scope.everything:
        return None
    c = table.c
    parts: list[Any] = [subtree(c.unit_path, p) for p in scope.below]
    if scope.units:
        parts.append(c.unit.in_(sorted(scope.units)))
    if scope.parties:
        parts.append(c.party.in_(sorted(scope.parties)))
    if scope.creator is not None:
        parts.append(c.created_by == scope.creator)
    if scope.unscoped:
        parts.append(c.unit.is_(None))
    return sa.or_(*parts) if parts else sa.false()


@dataclass(frozen=True)
class CaseFilter:
    """What a list asks for; every field optional. ``unit_path``: that unit and below;
    ``closed``: True closed only, False open only; ``overdue_at``: open, running and past the
    deadline at that moment; ``due_before``: a running deadline before that moment."""

    workflow: str | None = None
    state: str | None = None
    unit_path: str | None = None
    text: str | None = None
    closed: bool | None = None
    overdue_at: datetime | None = None
    due_before: datetime | None = None
    tag: str | None = None
    party: str | None = None
    grade: str | None = None


def _where(q: Any, f: CaseFilter, scope: CaseScope) -> Any:
    c = _C.c
    visible = scope_clause(scope)
    if visible is not None:
        q = q.where(visible)
    for column, value in (
        (c.workflow_id, f.workflow),
        (c.state, f.state),
        (c.tag, f.tag),
        (c.party, f.party),
        (c.grade, f.grade),
    ):
        if value is not None:
            q = q.where(column == value)
    if f.unit_path:
        q = q.where(subtree(c.unit_path, f.unit_path))
    if f.text:
        like = "%" + like_escape(f.text) + "%"
        q = q.where(
            sa.or_(
                c.title.like(like, escape="\\"),
                sa.cast(c.data, sa.String).like(like, escape="\\"),
            )
        )
    if f.closed is True:
        q = q.where(c.closed_at.is_not(None))
    elif f.closed is False:
        q = q.where(c.closed_at.is_(None))
    if f.overdue_at is not None:
        q = q.where(
            c.closed_at.is_(None),
            c.paused_at.is_(None),
            c.due_at.is_not(None),
            c.due_at < f.overdue_at,
        )
    if f.due_before is not None:
        q = q.where(c.closed_at.is_(None), c.paused_at.is_(None), c.due_at < f.due_before)
    return q


class CaseBrowser:
    """Read statements for lists, counts and the inbox."""

    def page(
        self,
        tx: sa.Connection,
        f: CaseFilter,
        scope: CaseScope,
        *,
        before_id: int | None,
        limit: int,
    ) -> list[CaseRecord]:
        """Up to ``limit`` visible cases matching ``f`` with an id below ``before_id``,
        newest first."""
        q = _where(sa.select(_C), f, scope)
        if before_id is not None:
            q = q.where(_C.c.id < before_id)
        rows = tx.execute(q.order_by(_C.c.id.desc()).limit(limit))
        return [CaseRecord(*r) for r in rows]

    def counts(
        self, tx: sa.Connection, f: CaseFilter, scope: CaseScope, by: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """How many visible cases match ``f``, grouped by each column named in ``by``."""
        out: dict[str, dict[str, int]] = {}
        for name in by:
            column = _C.c[name]
            q = _where(sa.select(column, sa.func.count()), f, scope).group_by(column)
            out[name] = {"" if value is None else str(value): int(n) for value, n in tx.execute(q)}
        return out

    def open_visible(self, tx: sa.Connection, scope: CaseScope, limit: int) -> list[CaseRecord]:
        """Open visible cases, the overdue and nearest deadlines first, at most ``limit``
        (the inbox's candidates; the service keeps those the principal may act on)."""
        c = _C.c
        q = _where(sa.select(_C), CaseFilter(closed=False), scope)
        q = q.order_by(c.due_at.is_(None), c.due_at, c.id).limit(limit)
        return [CaseRecord(*r) for r in tx.execute(q)]

    def load_visible(self, tx: sa.Connection, case_id: int, scope: CaseScope) -> bool:
        """Whether case ``case_id`` exists and is visible under ``scope``."""
        q = _where(sa.select(_C.c.id).where(_C.c.id == case_id), CaseFilter(), scope)
        return tx.execute(q).first() is not None
