"""Typed rows: what the store hands out. Database rows never leave the storage ring.

One frozen-free, slotted dataclass per table, its fields in the table's column order (a test
keeps them in step with ``tables.py``), built positionally from a whole-table SELECT: that
costs a tuple unpack, not a dict. Times are aware UTC datetimes; JSON columns are Python
values. The service ring reads these and never sees SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class CaseRecord:
    """A case (``gf_case``) as stored."""

    id: int
    workflow_id: str
    revision: int
    state: str
    version: int
    title: str
    data: dict[str, Any]
    unit: str | None
    unit_path: str | None
    tag: str | None
    party: str | None
    grade: str | None
    created_by: str | None
    parent_id: int | None
    spawn_group: int | None
    parent_trigger: str | None
    created_at: datetime
    updated_at: datetime
    entered_at: datetime | None
    closed_at: datetime | None
    work_seconds: float | None
    clock: str | None
    clock_started_at: datetime | None
    due_at: datetime | None
    due_provisional: bool
    paused_at: datetime | None
    paused_remaining: float | None


@dataclass(slots=True)
class StepRecord:
    """One history row (``gf_history``): an accepted event or a system note."""

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
    late_by: float | None
    actor_unit: str | None
    elapsed_s: float | None
    due_at: datetime | None
    late_s: float | None
    workflow_id: str | None
    case_tag: str | None
    case_unit: str | None
    case_party: str | None
    case_grade: str | None


@dataclass(slots=True)
class OriginRecord:
    """Where a step came from (``gf_step_origin``)."""

    case_id: int
    seq: int
    channel: str
    principal: str | None
    on_behalf_of: str | None
    token_id: str | None
    address: str | None
    request_id: str | None
    os_user: str | None
    host: str | None


@dataclass(slots=True)
class TimerRecord:
    """A durable SLA timer (``gf_timer``)."""

    id: int
    case_id: int
    entry_seq: int
    name: str
    kind: str
    due_at: datetime
    provisional: bool
    status: str
    lease_owner: str | None
    lease_until: datetime | None
    attempts: int
    spec: dict[str, Any] | None
    done_at: datetime | None


@dataclass(slots=True)
class NoticeRecord:
    """A notice in the outbox (``gf_outbox``)."""

    id: str
    case_id: int | None
    history_seq: int | None
    workflow_id: str | None
    notice: str
    recipient: str
    recipient_name: str | None
    channel: str
    address: str
    lang: str
    subject: str
    text: str
    html: str | None
    context: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(slots=True)
class EndpointRecord:
    """A notice endpoint switched off (``gf_endpoint``)."""

    channel: str
    address: str
    reason: str
    disabled_at: datetime


@dataclass(slots=True)
class DaemonRecord:
    """A daemon's heartbeat row (``gf_daemon``)."""

    id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    ticks: int
    timers_fired: int
    notices_sent: int
    stopped_at: datetime | None
    timers_at: datetime | None
    delivery_at: datetime | None


@dataclass(slots=True)
class DefinitionRecord:
    """One stored revision of a workflow text (``gf_definition``)."""

    workflow_id: str
    revision: int
    label_version: str
    content_hash: str
    source: str
    file: str
    loaded_at: datetime


@dataclass(slots=True)
class OrgRecord:
    """One stored text of the org directory (``gf_org``)."""

    id: int
    content_hash: str
    source: str
    file: str
    loaded_at: datetime
