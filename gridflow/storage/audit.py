"""Audit statements (storage ring): refused attempts, written and listed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.api_records import AuditRecord

_A = t.audit_t


class AuditStore:
    """Statements over ``gf_audit``."""

    def insert(self, tx: sa.Connection, values: Mapping[str, Any]) -> None:
        tx.execute(_A.insert(), dict(values))

    def page(
        self,
        tx: sa.Connection,
        *,
        before_id: int | None,
        limit: int,
        principal: str | None = None,
        outcome: str | None = None,
        case_id: int | None = None,
    ) -> list[AuditRecord]:
        """Refusals, newest first, with an id below ``before_id``."""
        q = sa.select(_A)
        if before_id is not None:
            q = q.where(_A.c.id < before_id)
        if principal is not None:
            q = q.where(_A.c.principal == principal)
        if outcome is not None:
            q = q.where(_A.c.outcome == outcome)
        if case_id is not None:
            q = q.where(_A.c.case_id == case_id)
        rows = tx.execute(q.order_by(_A.c.id.desc()).limit(limit))
        return [AuditRecord(*r) for r in rows]
