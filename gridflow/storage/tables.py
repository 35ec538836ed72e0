"""The database tables, declared with SQLModel: the definition (storage ring).

SQLModel classes define the tables. The statements are SQLAlchemy Core (the ORM's own Python
is ~95% of a persisted event's cost), over :mod:`gridflow.storage.schema` — the same tables
as plain Core ``Table`` objects, generated from these classes (``python -m
gridflow.storage.generate``; a test checks that it is current and compiles to the same DDL
on SQLite and PostgreSQL), so that a command need not import SQLModel, pydantic's model
machinery and the ORM to run (a third of a short command's time). All times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gridflow.storage.types import UTCDateTime

SCHEMA_VERSION = 4  # 2: case facets on cases and history, report indexes; 3: notices owed
# (outbox context, recipient_name) and step origins (gf_step_origin); 4: the web workbench's
# tables. Each version is an Alembic revision in storage/migrations/versions (a test checks
# that they build these tables).


def _time(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


def _json(**kw: Any) -> Any:
    return Field(default=None, sa_type=sa.JSON, **kw)


class Meta(SQLModel, table=True):
    __tablename__ = "gf_meta"
    key: str = Field(primary_key=True)
    value: str


class DefinitionRow(SQLModel, table=True):
    """Every distinct text of a workflow ever loaded; ``revision`` counts up per workflow."""

    __tablename__ = "gf_definition"
    workflow_id: str = Field(primary_key=True)
    revision: int = Field(primary_key=True)
    label_version: str  # the ``version`` the author wrote in the YAML
    content_hash: str = Field(index=True)
    source: str = Field(sa_type=sa.Text)
    file: str
    loaded_at: datetime = _time()


class CaseRow(SQLModel, table=True):
    __tablename__ = "gf_case"
    __table_args__ = (
        sa.Index("ix_gf_case_wf_state", "workflow_id", "state"),
        sa.Index("ix_gf_case_unit_path", "unit_path"),
        sa.Index("ix_gf_case_parent", "parent_id", "spawn_group"),
        sa.Index("ix_gf_case_due", "due_at"),
        # the KPI report's case pass reads this index alone, grouped in its order
        sa.Index(
            "ix_gf_case_kpi",
            "workflow_id", "tag", "unit", "party", "state", "created_at", "closed_at",
            "entered_at", "work_seconds", "clock", "due_at", "paused_at", "paused_remaining",
        ),
    )  # fmt: skip
    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str
    revision: int
    state: str
    version: int = 0
    title: str = ""
    data: dict = _json()
    unit: str | None = None
    unit_path: str | None = None  # materialised org path, for subtree queries
    tag: str | None = None  # the workflow's ``facets.tag`` field (e.g. direction)
    party: str | None = None  # the workflow's ``facets.party`` field (e.g. department)
    grade: str | None = None  # the workflow's ``facets.grade`` field (e.g. satisfaction)
    created_by: str | None = None
    parent_id: int | None = None
    spawn_group: int | None = None  # the parent history seq that spawned this case
    parent_trigger: str | None = None  # fired on the parent when the whole group is final
    created_at: datetime = _time()
    updated_at: datetime = _time()
    entered_at: datetime | None = _time()  # when the current state was entered
    closed_at: datetime | None = _time(index=True)
    work_seconds: float | None = None  # working time from creation to close (set on close)
    # SLA clock of the current state (see engine.sla)
    clock: str | None = None
    clock_started_at: datetime | None = _time()
    due_at: datetime | None = _time()
    due_provisional: bool = False
    paused_at: datetime | None = _time()
    paused_remaining: float | None = None  # working seconds left when paused


class HistoryRow(SQLModel, table=True):
    """Append-only: one row per accepted event (and per system note). ``workflow_id``,
    ``case_unit`` and the ``case_*`` facets are the case's, as the step left it: the KPI
    report counts steps from its covering index without reading cases."""

    __tablename__ = "gf_history"
    __table_args__ = (
        sa.Index(
            "ix_gf_history_kpi",
            "trigger", "workflow_id", "case_tag", "case_unit", "case_party", "case_grade", "at",
            "from_state", "to_state", "elapsed_s", "due_at", "late_s", "actor_unit", "case_id",
        ),
    )  # fmt: skip
    case_id: int = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    trigger: str
    from_state: str | None = None
    to_state: str
    actor: str
    role: str | None = None
    comment: str | None = None
    payload: dict | None = _json()
    at: datetime = _time(index=True)
    late_by: float | None = None  # seconds a system event ran after it fell due
    actor_unit: str | None = None  # the unit of the grant the actor acted through
    elapsed_s: float | None = None  # working seconds spent in ``from_state``
    due_at: datetime | None = _time()  # the clock's deadline in force at this step
    late_s: float | None = None  # working seconds past ``due_at`` (None: on time / no clock)
    workflow_id: str | None = None
    case_tag: str | None = None
    case_unit: str | None = None
    case_party: str | None = None
    case_grade: str | None = None


class StepOriginRow(SQLModel, table=True):
    """Where an accepted step came from (see ``domain.cases.Origin``): one row per history
    row written on behalf of a caller; system steps (timers, fan-in) have none."""

    __tablename__ = "gf_step_origin"
    case_id: int = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    channel: str
    principal: str | None = None
    on_behalf_of: str | None = None
    token_id: str | None = None
    address: str | None = None
    request_id: str | None = Field(default=None, index=True)
    os_user: str | None = None
    host: str | None = None


class TimerRow(SQLModel, table=True):
    """A durable SLA timer. Unique per (case, state entry, name): it can fire only once."""

    __tablename__ = "gf_timer"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "entry_seq", "name", name="uq_gf_timer_once"),
        sa.Index("ix_gf_timer_due", "status", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(index=True)
    entry_seq: int  # history seq of the state entry that created it
    name: str  # e.g. "remind:0", "overdue:1"
    kind: str  # remind | overdue
    due_at: datetime = _time()
    provisional: bool = False
    status: str = "pending"  # pending | done | cancelled
    lease_owner: str | None = None
    lease_until: datetime | None = _time()
    attempts: int = 0
    spec: dict | None = _json()  # what to do: notify list, escalate, fire
    done_at: datetime | None = _time()


class OutboxRow(SQLModel, table=True):
    """A notice owed, written in the same transaction as the event that caused it: the
    template (``notice``), language, recipient, channel and the step's ``context``; it is
    rendered at delivery (``subject``/``text``/``html`` record what was sent)."""

    __tablename__ = "gf_outbox"
    __table_args__ = (sa.Index("ix_gf_outbox_next", "status", "next_attempt_at"),)
    id: str = Field(primary_key=True)  # stable notice id (idempotency key)
    case_id: int | None = Field(default=None, index=True)
    history_seq: int | None = None
    workflow_id: str | None = None
    notice: str  # template name
    recipient: str  # person id
    recipient_name: str | None = None  # as the directory named them when the step was taken
    channel: str
    address: str
    lang: str = "zh-CN"
    subject: str = ""
    text: str = Field(default="", sa_type=sa.Text)
    html: str | None = Field(default=None, sa_type=sa.Text)
    # what the template sees but the recipient, as JSON text (None: written rendered)
    context: str | None = Field(default=None, sa_type=sa.Text)
    status: str = "pending"  # pending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime = _time()
    lease_owner: str | None = None
    lease_until: datetime | None = _time()
    last_error: str | None = None
    created_at: datetime = _time()
    sent_at: datetime | None = _time()


class EndpointRow(SQLModel, table=True):
    """A notice endpoint switched off (e.g. a webhook that answered 410 Gone)."""

    __tablename__ = "gf_endpoint"
    channel: str = Field(primary_key=True)
    address: str = Field(primary_key=True)
    reason: str = ""
    disabled_at: datetime = _time()


class OrgRow(SQLModel, table=True):
    """The stored org directory (its YAML text); the newest row is in force."""

    __tablename__ = "gf_org"
    id: int | None = Field(default=None, primary_key=True)
    content_hash: str
    source: str = Field(sa_type=sa.Text)
    file: str
    loaded_at: datetime = _time()


class DaemonRow(SQLModel, table=True):
    """Heartbeat of a running daemon."""

    __tablename__ = "gf_daemon"
    id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime = _time()
    beat_at: datetime = _time()
    ticks: int = 0
    timers_fired: int = 0
    notices_sent: int = 0
    stopped_at: datetime | None = _time()
    timers_at: datetime | None = _time()  # the timer job's last pass
    delivery_at: datetime | None = _time()  # the delivery job's last pass


# ---- the HTTP API's tables (#13): tokens, refusals, idempotency keys, files, the feed --------
class TokenRow(SQLModel, table=True):
    """An API token: only its SHA-256 is kept (the token is shown once, at creation)."""

    __tablename__ = "gf_token"
    id: str = Field(primary_key=True)  # public id, shown in lists and in step origins
    hash: str = Field(unique=True)  # sha256 hex of the whole token
    principal: str  # a person or a service account of the directory
    kind: str = "person"  # person | service
    label: str = ""
    created_at: datetime = _time()
    created_by: str | None = None
    expires_at: datetime | None = _time()
    revoked_at: datetime | None = _time()
    revoked_by: str | None = None
    last_used_at: datetime | None = _time()
    last_used_from: str | None = None


class AuditRow(SQLModel, table=True):
    """A refused attempt: who tried what, why it was refused, when, from where."""

    __tablename__ = "gf_audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(index=True)
    outcome: str  # unauthenticated | forbidden | refused | rate_limited
    status: int
    principal: str | None = Field(default=None, index=True)
    token_id: str | None = None
    on_behalf_of: str | None = None
    action: str  # "POST /api/v1/cases/{case_id}/events"
    case_id: int | None = None
    trigger: str | None = None
    reason: str = Field(default="", sa_type=sa.Text)
    channel: str = "api"
    address: str | None = None
    request_id: str | None = None


class IdempotencyRow(SQLModel, table=True):
    """The first response to a request carrying an ``Idempotency-Key``, per principal."""

    __tablename__ = "gf_idempotency"
    principal: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    state: str = "pending"  # pending | done
    status: int | None = None
    headers: dict | None = _json()
    body: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _time(index=True)


class FileRow(SQLModel, table=True):
    """An uploaded file: its content lies on disk under its SHA-256 (content-addressed)."""

    __tablename__ = "gf_file"
    id: str = Field(primary_key=True)  # "f_…", what a file field of a case holds
    sha256: str = Field(index=True)
    name: str
    content_type: str
    size: int
    case_id: int | None = Field(default=None, index=True)  # None until a case refers to it
    uploaded_by: str
    uploaded_at: datetime = _time()


class EventRow(SQLModel, table=True):
    """The change feed: one row per history row, numbered in commit order (``pos``)."""

    __tablename__ = "gf_event"
    pos: int | None = Field(
        default=None,
        primary_key=True,
        sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid
    )
    case_id: int
    seq: int
    at: datetime = _time()


# ---- the web workbench's tables (#14): local accounts, sessions, pending SSO logins ---------
class AccountRow(SQLModel, table=True):
    """A person's local password (argon2 hash; the password itself is never stored)."""

    __tablename__ = "gf_account"
    person: str = Field(primary_key=True)  # a person of the org directory
    password_hash: str
    created_at: datetime = _time()
    updated_at: datetime = _time()
    updated_by: str | None = None


class SessionRow(SQLModel, table=True):
    """A signed-in browser: only the SHA-256 of the session id (the cookie) is kept."""

    __tablename__ = "gf_session"
    id_hash: str = Field(primary_key=True)
    person: str = Field(index=True)
    via: str  # password | oidc | wecom
    csrf: str  # the session's CSRF token (forms and htmx requests carry it)
    created_at: datetime = _time()
    seen_at: datetime = _time()  # last request (idle expiry counts from here)
    expires_at: datetime = _time(index=True)  # absolute expiry
    address: str | None = None
    user_agent: str = ""


class LoginStateRow(SQLModel, table=True):
    """An SSO login under way: state, nonce and PKCE verifier until the callback (minutes)."""

    __tablename__ = "gf_login_state"
    state_hash: str = Field(primary_key=True)
    provider: str  # oidc | wecom
    nonce: str
    verifier: str  # PKCE code verifier
    next_url: str = "/"
    created_at: datetime = _time(index=True)


def now_utc() -> datetime:
    return datetime.now(UTC)


case_t: sa.Table = SQLModel.metadata.tables["gf_case"]
history_t: sa.Table = SQLModel.metadata.tables["gf_history"]
origin_t: sa.Table = SQLModel.metadata.tables["gf_step_origin"]
definition_t: sa.Table = SQLModel.metadata.tables["gf_definition"]
timer_t: sa.Table = SQLModel.metadata.tables["gf_timer"]
outbox_t: sa.Table = SQLModel.metadata.tables["gf_outbox"]
org_t: sa.Table = SQLModel.metadata.tables["gf_org"]
endpoint_t: sa.Table = SQLModel.metadata.tables["gf_endpoint"]
daemon_t: sa.Table = SQLModel.metadata.tables["gf_daemon"]
meta_t: sa.Table = SQLModel.metadata.tables["gf_meta"]
token_t: sa.Table = SQLModel.metadata.tables["gf_token"]
audit_t: sa.Table = SQLModel.metadata.tables["gf_audit"]
idempotency_t: sa.Table = SQLModel.metadata.tables["gf_idempotency"]
file_t: sa.Table = SQLModel.metadata.tables["gf_file"]
event_t: sa.Table = SQLModel.metadata.tables["gf_event"]
account_t: sa.Table = SQLModel.metadata.tables["gf_account"]
session_t: sa.Table = SQLModel.metadata.tables["gf_session"]
login_state_t: sa.Table = SQLModel.metadata.tables["gf_login_state"]
