"""Typed rows of the web workbench's tables (storage ring): local accounts, sessions and SSO
logins under way. Fields in column order; built positionally from whole-table SELECTs, like
:mod:`gridflow.storage.records`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class AccountRecord:
    """A local account (``gf_account``): the argon2 hash, never the password."""

    person: str
    password_hash: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


@dataclass(slots=True)
class SessionRecord:
    """A signed-in browser (``gf_session``): the hash of its cookie, never the cookie."""

    id_hash: str
    person: str
    via: str
    csrf: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime
    address: str | None
    user_agent: str


@dataclass(slots=True)
class LoginStateRecord:
    """An SSO login under way (``gf_login_state``)."""

    state_hash: str
    provider: str
    nonce: str
    verifier: str
    next_url: str
    created_at: datetime
