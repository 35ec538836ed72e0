"""Idempotency-key statements (storage ring): reserve a key, store the first response,
read it back, sweep old keys."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.api_records import IdempotencyRecord

_I = t.idempotency_t


class IdempotencyStore:
    """Statements over ``gf_idempotency``."""

    def __init__(self, is_sqlite: bool):
        # each dialect imported only where it runs (PostgreSQL's pulls in asyncio)
        dialect = "sqlite" if is_sqlite else "postgresql"
        self._insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(_I)

    def reserve(
        self, tx: sa.Connection, principal: str, key: str, request_hash: str, at: datetime
    ) -> IdempotencyRecord | None:
        """Claim ``key`` for a new request: None when claimed now, else the row already
        there (pending or done)."""
        res = tx.execute(
            self._insert.on_conflict_do_nothing(),
            {
                "principal": principal,
                "key": key,
                "request_hash": request_hash,
                "state": "pending",
                "created_at": at,
            },
        )
        if res.rowcount == 1:
            return None
        return self.get(tx, principal, key)

    def get(self, tx: sa.Connection, principal: str, key: str) -> IdempotencyRecord | None:
        row = tx.execute(sa.select(_I).where(_I.c.principal == principal, _I.c.key == key)).first()
        return None if row is None else IdempotencyRecord(*row)

    def complete(
        self,
        tx: sa.Connection,
        principal: str,
        key: str,
        status: int,
        headers: Mapping[str, str],
        body: str,
    ) -> None:
        tx.execute(
            _I.update()
            .where(_I.c.principal == principal, _I.c.key == key)
            .values(state="done", status=status, headers=dict(headers), body=body)
        )

    def release(self, tx: sa.Connection, principal: str, key: str) -> None:
        """Drop a pending key (its request never got an answer to keep)."""
        tx.execute(
            _I.delete().where(_I.c.principal == principal, _I.c.key == key, _I.c.state == "pending")
        )

    def take_over(
        self, tx: sa.Connection, principal: str, key: str, request_hash: str, at: datetime
    ) -> bool:
        """Restart a pending key left by a request that died (created before ``at``)."""
        res = tx.execute(
            _I.update()
            .where(
                _I.c.principal == principal,
                _I.c.key == key,
                _I.c.state == "pending",
                _I.c.request_hash == request_hash,
                _I.c.created_at < at,
            )
            .values(created_at=at)
        )
        return res.rowcount == 1

    def sweep(self, tx: sa.Connection, before: datetime) -> int:
        """Delete keys created before ``before``; how many."""
        return int(tx.execute(_I.delete().where(_I.c.created_at < before)).rowcount or 0)
