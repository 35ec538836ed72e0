"""Typed rows of the HTTP API's tables (storage ring): tokens, refusals, idempotency keys,
files, and change-feed events. Fields in column order; built positionally from whole-table
SELECTs, like :mod:`gridflow.storage.records`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gridflow.storage.records import OriginRecord, StepRecord


@dataclass(slots=True)
class TokenRecord:
    """An API token as stored (``gf_token``): never the token itself, only its hash."""

    id: str
    hash: str
    principal: str
    kind: str
    label: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    last_used_from: str | None


@dataclass(slots=True)
class AuditRecord:
    """A refused attempt (``gf_audit``)."""

    id: int
    at: datetime
    outcome: str
    status: int
    principal: str | None
    token_id: str | None
    on_behalf_of: str | None
    action: str
    case_id: int | None
    trigger: str | None
    reason: str
    channel: str
    address: str | None
    request_id: str | None


@dataclass(slots=True)
class IdempotencyRecord:
    """A stored first response (``gf_idempotency``)."""

    principal: str
    key: str
    request_hash: str
    state: str
    status: int | None
    headers: dict[str, Any] | None
    body: str | None
    created_at: datetime


@dataclass(slots=True)
class FileRecord:
    """An uploaded file (``gf_file``)."""

    id: str
    sha256: str
    name: str
    content_type: str
    size: int
    case_id: int | None
    uploaded_by: str
    uploaded_at: datetime


@dataclass(slots=True)
class EventRecord:
    """One change-feed event: its position, the step, its case's workflow, its origin."""

    pos: int
    workflow_id: str
    step: StepRecord
    origin: OriginRecord | None
