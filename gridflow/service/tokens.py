"""API tokens (service ring): issued, checked, listed, revoked.

A token is ``gf_`` + 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits). It is
shown once, when created; the database keeps its SHA-256 only. A fast hash is enough here:
slow hashes (bcrypt, scrypt, argon2) exist to stop guessing *low-entropy* passwords from a
stolen hash, and nobody can enumerate 2^256 secrets whatever the hash costs — while every
API request checks a token, so a slow hash would cost each request tens of milliseconds.
Lookup is by the hash (an indexed equality), so the secret never meets a timing-sensitive
comparison.

Every request reads the token row, so a revoked token fails on the very next request, on
every server sharing the database. The last use (time and address) is written at most once a
minute per token and process, so checking tokens does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from gridflow.errors import GridflowError, NotFound, Unauthenticated
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.storage.api_records import TokenRecord

PREFIX = "gf_"
LAST_USE_EVERY = 60.0  # seconds between last-use writes of one token (per process)
MAX_TOKEN_LENGTH = 200

__all__ = ["PREFIX", "IssuedToken", "TokenRecord", "Tokens", "digest"]


def digest(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``token`` is the secret, shown this once and never again."""

    id: str
    token: str
    principal: str
    kind: str
    label: str
    expires_at: datetime | None


class Tokens:
    """Issue, check, list and revoke API tokens."""

    def __init__(self, rt: Runtime, defs: Definitions):
        self.rt, self.defs = rt, defs
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(
        self,
        principal: str,
        *,
        expires_at: datetime | None = None,
        label: str = "",
        created_by: str | None = None,
    ) -> IssuedToken:
        """A new token bound to a person or a service account of the directory."""
        directory = self.defs.directory
        if principal in directory.service_accounts:
            kind = "service"
        elif principal in directory.people:
            kind = "person"
        else:
            known = [*directory.people, *directory.service_accounts]
            raise NotFound("person or service account", principal, known)
        now = self.rt.now()
        if expires_at is not None and expires_at <= now:
            raise GridflowError(f"the expiry {expires_at.isoformat()} is not in the future")
        token_id = "t_" + secrets.token_hex(6)
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.rt.store.write() as tx:
            self.rt.store.tokens.insert(
                tx,
                dict(
                    id=token_id,
                    hash=digest(secret),
                    principal=principal,
                    kind=kind,
                    label=label[:200],
                    created_at=now,
                    created_by=created_by,
                    expires_at=expires_at,
                ),
            )
        return IssuedToken(token_id, secret, principal, kind, label[:200], expires_at)

    def check(self, token: str, *, address: str | None = None) -> TokenRecord:
        """The live token ``token`` is, or ``Unauthenticated`` (unknown, revoked, expired)."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("not a gridflow API token", reason="malformed_token")
        with self.rt.store.read() as tx:
            row = self.rt.store.tokens.by_hash(tx, digest(token))
        now = self.rt.now()
        if row is None:
            raise Unauthenticated("unknown API token", reason="unknown_token")
        if row.revoked_at is not None:
            raise Unauthenticated(f"API token {row.id} was revoked", reason="revoked_token")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated(f"API token {row.id} has expired", reason="expired_token")
        self._touch(row, now, address)
        return row

    def _touch(self, row: TokenRecord, now: datetime, address: str | None) -> None:
        mono = time.monotonic()
        with self._lock:
            last = self._touched.get(row.id)
            if last is not None and mono - last < LAST_USE_EVERY:
                return
            self._touched[row.id] = mono
        with self.rt.store.write() as tx:
            self.rt.store.tokens.used(tx, row.id, now, address)

    def listed(
        self, principal: str | None = None, *, include_revoked: bool = False
    ) -> list[TokenRecord]:
        """Tokens (never their secrets), oldest first."""
        with self.rt.store.read() as tx:
            return self.rt.store.tokens.listed(tx, principal, include_revoked=include_revoked)

    def get(self, token_id: str) -> TokenRecord:
        with self.rt.store.read() as tx:
            row = self.rt.store.tokens.get(tx, token_id)
        if row is None:
            raise NotFound("token", token_id)
        return row

    def revoke(self, token_id: str, *, by: str | None = None) -> TokenRecord:
        """Revoke a token: the next request carrying it is refused (401), on every server."""
        store = self.rt.store
        with store.write() as tx:
            if not store.tokens.revoke(tx, token_id, self.rt.now(), by):
                row = store.tokens.get(tx, token_id)
                if row is None:
                    raise NotFound("token", token_id)
                raise GridflowError(f"token {token_id} is already revoked")
            row = store.tokens.get(tx, token_id)
        assert row is not None
        with self._lock:
            self._touched.pop(token_id, None)
        return row
