"""Uploaded-file statements (storage ring): the rows; the bytes live on disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.api_records import FileRecord

_F = t.file_t


class FileStore:
    """Statements over ``gf_file``."""

    def insert(self, tx: sa.Connection, values: Mapping[str, Any]) -> None:
        tx.execute(_F.insert(), dict(values))

    def get(self, tx: sa.Connection, file_id: str) -> FileRecord | None:
        row = tx.execute(sa.select(_F).where(_F.c.id == file_id)).first()
        return None if row is None else FileRecord(*row)

    def many(self, tx: sa.Connection, ids: Sequence[str]) -> list[FileRecord]:
        if not ids:
            return []
        return [FileRecord(*r) for r in tx.execute(sa.select(_F).where(_F.c.id.in_(list(ids))))]

    def of_case(self, tx: sa.Connection, case_id: int) -> list[FileRecord]:
        q = sa.select(_F).where(_F.c.case_id == case_id).order_by(_F.c.uploaded_at, _F.c.id)
        return [FileRecord(*r) for r in tx.execute(q)]

    def bind(self, tx: sa.Connection, ids: Sequence[str], case_id: int, uploader: str) -> int:
        """Give unbound files of ``uploader`` to ``case_id``; how many."""
        if not ids:
            return 0
        res = tx.execute(
            _F.update()
            .where(_F.c.id.in_(list(ids)), _F.c.case_id.is_(None), _F.c.uploaded_by == uploader)
            .values(case_id=case_id)
        )
        return int(res.rowcount or 0)
