"""Statements of the web workbench's sign-in (storage ring): local accounts (argon2 hashes),
sessions (hashed ids) and SSO logins under way (hashed states)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.web_records import AccountRecord, LoginStateRecord, SessionRecord

_A, _S, _L = t.account_t, t.session_t, t.login_state_t


class AccountStore:
    """Statements over ``gf_account``."""

    def get(self, tx: sa.Connection, person: str) -> AccountRecord | None:
        row = tx.execute(sa.select(_A).where(_A.c.person == person)).first()
        return None if row is None else AccountRecord(*row)

    def put(
        self, tx: sa.Connection, person: str, password_hash: str, at: datetime, by: str | None
    ) -> bool:
        """Set the hash of ``person``'s password; True when the account is new."""
        res = tx.execute(
            _A.update()
            .where(_A.c.person == person)
            .values(password_hash=password_hash, updated_at=at, updated_by=by)
        )
        if res.rowcount == 1:
            return False
        tx.execute(
            _A.insert().values(
                person=person,
                password_hash=password_hash,
                created_at=at,
                updated_at=at,
                updated_by=by,
            )
        )
        return True

    def rehash(self, tx: sa.Connection, person: str, old: str, new: str) -> None:
        """Replace a hash made with older parameters (only if it is still ``old``)."""
        tx.execute(
            _A.update()
            .where(_A.c.person == person, _A.c.password_hash == old)
            .values(password_hash=new)
        )

    def delete(self, tx: sa.Connection, person: str) -> bool:
        return tx.execute(_A.delete().where(_A.c.person == person)).rowcount == 1

    def listed(self, tx: sa.Connection) -> list[AccountRecord]:
        return [AccountRecord(*r) for r in tx.execute(sa.select(_A).order_by(_A.c.person))]


class SessionStore:
    """Statements over ``gf_session`` and ``gf_login_state``."""

    def insert(self, tx: sa.Connection, values: Mapping[str, Any]) -> None:
        tx.execute(_S.insert(), dict(values))

    def get(self, tx: sa.Connection, id_hash: str) -> SessionRecord | None:
        row = tx.execute(sa.select(_S).where(_S.c.id_hash == id_hash)).first()
        return None if row is None else SessionRecord(*row)

    def seen(self, tx: sa.Connection, id_hash: str, at: datetime) -> None:
        tx.execute(_S.update().where(_S.c.id_hash == id_hash).values(seen_at=at))

    def delete(self, tx: sa.Connection, id_hash: str) -> bool:
        return tx.execute(_S.delete().where(_S.c.id_hash == id_hash)).rowcount == 1

    def delete_person(self, tx: sa.Connection, person: str) -> int:
        return int(tx.execute(_S.delete().where(_S.c.person == person)).rowcount or 0)

    def sweep(self, tx: sa.Connection, now: datetime, idle_before: datetime) -> int:
        """Delete sessions past their absolute expiry or idle since before ``idle_before``."""
        res = tx.execute(
            _S.delete().where(sa.or_(_S.c.expires_at <= now, _S.c.seen_at < idle_before))
        )
        return int(res.rowcount or 0)

    def counts(self, tx: sa.Connection, now: datetime) -> dict[str, int]:
        """Live sessions per person."""
        q = (
            sa.select(_S.c.person, sa.func.count())
            .where(_S.c.expires_at > now)
            .group_by(_S.c.person)
        )
        return {p: int(n) for p, n in tx.execute(q)}

    # ---- SSO logins under way ------------------------------------------------------------
    def begin_login(self, tx: sa.Connection, values: Mapping[str, Any]) -> None:
        tx.execute(_L.insert(), dict(values))

    def take_login(self, tx: sa.Connection, state_hash: str) -> LoginStateRecord | None:
        """The login under way with this state, removed (a state is good once)."""
        row = tx.execute(sa.select(_L).where(_L.c.state_hash == state_hash)).first()
        if row is None:
            return None
        if tx.execute(_L.delete().where(_L.c.state_hash == state_hash)).rowcount != 1:
            return None  # another request took it first
        return LoginStateRecord(*row)

    def sweep_logins(self, tx: sa.Connection, before: datetime) -> int:
        return int(tx.execute(_L.delete().where(_L.c.created_at < before)).rowcount or 0)
