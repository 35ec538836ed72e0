"""Web sessions and SSO logins under way (service ring).

A session is 256 random bits handed to the browser in a cookie; the database keeps its
SHA-256 only (like API tokens: a stolen database holds no live session). Each session has
its own CSRF token, which every form and htmx request carries back. A session ends when it
has been idle for ``idle`` or lived for ``absolute`` (both checked on every request, on every
server sharing the database), at logout, and when the person's password changes.
``seen_at`` is written at most once per ``TOUCH_EVERY`` per session, so reading pages does
not turn every request into a write.

An SSO login (OIDC authorization code, WeCom OAuth) keeps its ``state`` (hashed), ``nonce``
and PKCE verifier here between the redirect and the callback: good once, for ``LOGIN_TTL``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from gridflow.errors import Unauthenticated
from gridflow.service.runtime import Runtime
from gridflow.storage.web_records import LoginStateRecord, SessionRecord

TOUCH_EVERY = timedelta(seconds=60)
LOGIN_TTL = timedelta(minutes=10)
MAX_SECRET = 200

__all__ = ["LOGIN_TTL", "LoginStart", "LoginStateRecord", "NewSession", "SessionRecord", "Sessions"]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``secret`` goes into the cookie, this once."""

    secret: str
    record: SessionRecord


@dataclass(frozen=True)
class LoginStart:
    """An SSO login begun: ``state`` and ``nonce`` go to the provider, ``challenge`` is the
    PKCE S256 challenge of the verifier kept here."""

    state: str
    nonce: str
    verifier: str
    challenge: str


class Sessions:
    """Open, resolve and close sessions; keep SSO logins between redirect and callback."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.idle = timedelta(hours=8)
        self.absolute = timedelta(days=7)

    def configure(self, *, idle: timedelta, absolute: timedelta) -> None:
        self.idle, self.absolute = idle, absolute

    def open(
        self, person: str, *, via: str, address: str | None = None, user_agent: str = ""
    ) -> NewSession:
        """A new session for ``person`` (always new: an id is never reused or carried over
        from before the login)."""
        now = self.rt.now()
        secret = secrets.token_urlsafe(32)
        record = SessionRecord(
            id_hash=_hash(secret),
            person=person,
            via=via,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            seen_at=now,
            expires_at=now + self.absolute,
            address=address,
            user_agent=user_agent[:300],
        )
        with self.rt.store.write() as tx:
            self.rt.store.sessions.insert(
                tx, {k: getattr(record, k) for k in SessionRecord.__slots__}
            )
        return NewSession(secret, record)

    def resolve(self, secret: str) -> SessionRecord | None:
        """The live session the cookie ``secret`` names, or None (unknown, idle too long,
        past its absolute expiry — an expired one is deleted)."""
        if not secret or len(secret) > MAX_SECRET:
            return None
        key = _hash(secret)
        store = self.rt.store
        with store.read() as tx:
            row = store.sessions.get(tx, key)
        if row is None:
            return None
        now = self.rt.now()
        if now >= row.expires_at or now - row.seen_at >= self.idle:
            with store.write() as tx:
                store.sessions.delete(tx, key)
            return None
        if now - row.seen_at >= TOUCH_EVERY:
            with store.write() as tx:
                store.sessions.seen(tx, key, now)
            row.seen_at = now
        return row

    def close(self, secret: str) -> bool:
        """End the session (logout); False if there was none."""
        if not secret or len(secret) > MAX_SECRET:
            return False
        with self.rt.store.write() as tx:
            return self.rt.store.sessions.delete(tx, _hash(secret))

    def close_person(self, person: str) -> int:
        """End every session of ``person``; how many."""
        with self.rt.store.write() as tx:
            return self.rt.store.sessions.delete_person(tx, person)

    def sweep(self) -> int:
        """Delete expired sessions and stale SSO logins; how many sessions."""
        now = self.rt.now()
        with self.rt.store.write() as tx:
            self.rt.store.sessions.sweep_logins(tx, now - LOGIN_TTL)
            return self.rt.store.sessions.sweep(tx, now, now - self.idle)

    def live_counts(self) -> dict[str, int]:
        """Live sessions per person (admin pages)."""
        with self.rt.store.read() as tx:
            return self.rt.store.sessions.counts(tx, self.rt.now())

    # ---- SSO logins under way -----------------------------------------------------------
    def begin_login(self, provider: str, next_url: str = "/") -> LoginStart:
        """Keep a new login's state, nonce and PKCE verifier until its callback."""
        import base64

        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters: RFC 7636 allows 43 to 128
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
            .decode("ascii")
            .rstrip("=")
        )
        with self.rt.store.write() as tx:
            self.rt.store.sessions.begin_login(
                tx,
                dict(
                    state_hash=_hash(state),
                    provider=provider,
                    nonce=nonce,
                    verifier=verifier,
                    next_url=next_url[:500],
                    created_at=self.rt.now(),
                ),
            )
        return LoginStart(state, nonce, verifier, challenge)

    def finish_login(self, provider: str, state: str) -> LoginStateRecord:
        """The login ``state`` began, taken (good once); ``Unauthenticated`` when unknown,
        used, stale or begun with another provider."""
        if not state or len(state) > MAX_SECRET:
            raise Unauthenticated("no login under way with this state", reason="login_state")
        with self.rt.store.write() as tx:
            row = self.rt.store.sessions.take_login(tx, _hash(state))
        if row is None or row.provider != provider:
            raise Unauthenticated("no login under way with this state", reason="login_state")
        if self.rt.now() - row.created_at > LOGIN_TTL:
            raise Unauthenticated("the login took too long; start again", reason="login_expired")
        return row
