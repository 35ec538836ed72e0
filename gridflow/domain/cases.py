"""The public data shapes the engine returns: a case and one step of its history."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SlaView:
    """The SLA clock of a case as of ``now``: ``remaining``/``overdue_by`` in working seconds."""

    clock: str | None
    due: datetime | None
    provisional: bool
    paused: bool
    remaining: float | None
    overdue_by: float | None

    @property
    def overdue(self) -> bool:
        return bool(self.overdue_by)


@dataclass(frozen=True)
class Case:
    id: int
    workflow: str
    revision: int
    state: str
    version: int
    title: str
    data: dict[str, Any]
    unit: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    parent_id: int | None = None
    state_label: str = ""
    sla: SlaView | None = None
    children: list[Case] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO strings)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Origin:
    """Where a step came from, as recorded beside it: the ``channel`` (``python`` — an
    embedding app, ``cli``, ``api``, ``web``, ``daemon``), the authenticated ``principal``
    (a person or service account; None when the channel does not authenticate), the person
    acted for when acting on another's behalf (``on_behalf_of``), the API token's id, the
    client's address, the request id, and the operating-system user and host behind it."""

    channel: str = "python"
    principal: str | None = None
    on_behalf_of: str | None = None
    token_id: str | None = None
    address: str | None = None
    request_id: str | None = None
    os_user: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Step:
    case_id: int
    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    role: str | None
    comment: str | None
    payload: dict[str, Any] | None
    at: datetime
    late_by: float | None = None
    origin: Origin | None = None  # None: a system step, or one written before origins

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
