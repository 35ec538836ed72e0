"""Local accounts (service ring): a password per person, kept as an argon2id hash.

The embedded default signs people in with a password set by an operator (``gridflow user
set-password PERSON``) or by an admin in the workbench. Only the hash is stored
(``argon2-cffi``'s ``PasswordHasher``: argon2id with its RFC 9106 parameters); a hash made with
older parameters is replaced at the next good sign-in. Checking a person without an account
costs the same hash as checking one with it, so timing does not tell who has an account.

An account belongs to a person of the org directory: a person removed from the directory
cannot sign in whatever their password (the principal no longer resolves).
"""

from __future__ import annotations

import contextlib
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gridflow.errors import NotFound, PasswordRefused
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.storage.web_records import AccountRecord

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a hash from being a denial of service

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "AccountRecord", "Accounts"]


class Accounts:
    """Set, check and remove local passwords."""

    def __init__(self, rt: Runtime, defs: Definitions, hasher: PasswordHasher | None = None):
        self.rt, self.defs = rt, defs
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def check_policy(self, person: str, password: str) -> None:
        """``PasswordRefused`` unless ``password`` is acceptable for ``person``."""
        if len(password) < MIN_LENGTH:
            raise PasswordRefused(
                f"a password needs at least {MIN_LENGTH} characters",
                reason="too_short",
                limit=MIN_LENGTH,
            )
        if len(password) > MAX_LENGTH:
            raise PasswordRefused(
                f"a password has at most {MAX_LENGTH} characters",
                reason="too_long",
                limit=MAX_LENGTH,
            )
        actor = self.defs.directory.people.get(person)
        names = {person.lower(), *(() if actor is None else (actor.name.lower(),))}
        if password.strip().lower() in names:
            raise PasswordRefused(
                "a password must not be the person's id or name", reason="is_name"
            )

    def set_password(self, person: str, password: str, *, by: str | None = None) -> bool:
        """Set ``person``'s password; True when the account is new. ``NotFound`` for a person
        not in the directory, ``PasswordRefused`` for a password the policy refuses. Every
        session of the person ends (a changed password signs out other browsers)."""
        directory = self.defs.directory
        if person not in directory.people:
            raise NotFound("person", person, directory.people)
        self.check_policy(person, password)
        digest = self.hasher.hash(password)
        store = self.rt.store
        with store.write() as tx:
            new = store.accounts.put(tx, person, digest, self.rt.now(), by)
            store.sessions.delete_person(tx, person)
        return new

    def verify(self, person: str, password: str) -> bool:
        """Whether ``password`` is ``person``'s. A person without an account, or a password
        beyond the cap, costs one hash all the same and is False."""
        store = self.rt.store
        with store.read() as tx:
            account = store.accounts.get(tx, person) if len(person) <= 200 else None
        if account is None or len(password) > MAX_LENGTH:
            self._waste(password[:MAX_LENGTH])
            return False
        try:
            self.hasher.verify(account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(account.password_hash):
            with store.write() as tx:
                store.accounts.rehash(tx, person, account.password_hash, self.hasher.hash(password))
        return True

    def _waste(self, password: str) -> None:
        with self._lock:
            if self._dummy is None:
                self._dummy = self.hasher.hash("gridflow: no such account")
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy, password)

    def has_account(self, person: str) -> bool:
        with self.rt.store.read() as tx:
            return self.rt.store.accounts.get(tx, person) is not None

    def remove(self, person: str) -> bool:
        """Remove ``person``'s password (and end their sessions); False if there was none."""
        store = self.rt.store
        with store.write() as tx:
            store.sessions.delete_person(tx, person)
            return store.accounts.delete(tx, person)

    def listed(self) -> list[AccountRecord]:
        """Every account (person and dates; never the hash's use outside this part)."""
        with self.rt.store.read() as tx:
            return self.rt.store.accounts.listed(tx)
