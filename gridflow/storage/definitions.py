"""Workflow revisions and the org directory's texts (storage ring)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.records import DefinitionRecord, OrgRecord

_DEF = t.definition_t
_ORG = t.org_t


class DefinitionStore:
    """Statements over ``gf_definition`` and ``gf_org``. ``serialise`` (the store's) makes
    processes starting together take turns inserting new revisions."""

    def __init__(self, serialise: Callable[[sa.Connection], None]):
        self._serialise = serialise

    def ensure(
        self,
        tx: sa.Connection,
        workflow_id: str,
        label: str,
        content_hash: str,
        source: str,
        file: str,
        now: datetime,
    ) -> int:
        """The revision of this exact text, storing it as the next revision if new."""
        self._serialise(tx)
        d = _DEF.c
        rev = tx.execute(
            sa.select(d.revision).where(
                d.workflow_id == workflow_id, d.content_hash == content_hash
            )
        ).scalar()
        if rev is not None:
            return int(rev)
        latest = (
            tx.execute(
                sa.select(sa.func.max(d.revision)).where(d.workflow_id == workflow_id)
            ).scalar()
            or 0
        )
        tx.execute(
            _DEF.insert().values(
                workflow_id=workflow_id,
                revision=latest + 1,
                label_version=str(label),
                content_hash=content_hash,
                source=source,
                file=file,
                loaded_at=now,
            )
        )
        return int(latest) + 1

    def revision(
        self, tx: sa.Connection, workflow_id: str, revision: int
    ) -> DefinitionRecord | None:
        row = tx.execute(
            sa.select(_DEF).where(_DEF.c.workflow_id == workflow_id, _DEF.c.revision == revision)
        ).first()
        return None if row is None else DefinitionRecord(*row)

    def revisions(self, tx: sa.Connection) -> list[DefinitionRecord]:
        rows = tx.execute(sa.select(_DEF).order_by(_DEF.c.workflow_id, _DEF.c.revision))
        return [DefinitionRecord(*r) for r in rows]

    def save_org(
        self, tx: sa.Connection, content_hash: str, source: str, file: str, now: datetime
    ) -> None:
        tx.execute(
            _ORG.insert().values(content_hash=content_hash, source=source, file=file, loaded_at=now)
        )

    def latest_org(self, tx: sa.Connection) -> OrgRecord | None:
        row = tx.execute(sa.select(_ORG).order_by(_ORG.c.id.desc()).limit(1)).first()
        return None if row is None else OrgRecord(*row)
