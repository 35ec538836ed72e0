"""API token statements (storage ring): only hashes are stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.api_records import TokenRecord

_T = t.token_t
BY_HASH = sa.select(_T).where(_T.c.hash == sa.bindparam("b_hash"))


class TokenStore:
    """Statements over ``gf_token``."""

    def insert(self, tx: sa.Connection, values: Mapping[str, Any]) -> None:
        tx.execute(_T.insert(), dict(values))

    def by_hash(self, tx: sa.Connection, digest: str) -> TokenRecord | None:
        row = tx.execute(BY_HASH, {"b_hash": digest}).first()
        return None if row is None else TokenRecord(*row)

    def get(self, tx: sa.Connection, token_id: str) -> TokenRecord | None:
        row = tx.execute(sa.select(_T).where(_T.c.id == token_id)).first()
        return None if row is None else TokenRecord(*row)

    def listed(
        self, tx: sa.Connection, principal: str | None = None, *, include_revoked: bool = False
    ) -> list[TokenRecord]:
        """Tokens, oldest first; of one principal when given."""
        q = sa.select(_T).order_by(_T.c.created_at, _T.c.id)
        if principal is not None:
            q = q.where(_T.c.principal == principal)
        if not include_revoked:
            q = q.where(_T.c.revoked_at.is_(None))
        return [TokenRecord(*r) for r in tx.execute(q)]

    def revoke(self, tx: sa.Connection, token_id: str, at: datetime, by: str | None) -> bool:
        """Mark a live token revoked; False when there is none (or it was already)."""
        res = tx.execute(
            _T.update()
            .where(_T.c.id == token_id, _T.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )
        return res.rowcount == 1

    def used(self, tx: sa.Connection, token_id: str, at: datetime, address: str | None) -> None:
        tx.execute(
            _T.update().where(_T.c.id == token_id).values(last_used_at=at, last_used_from=address)
        )
