"""The API's shapes: pydantic v2 models, the single source of the OpenAPI document.

Times are ISO 8601 with the business timezone's offset (``+08:00`` by default): what a
person reads is what the API says. Case ``data`` holds the workflow's fields as JSON values;
a workflow's own JSON Schema (``GET /workflows/{id}``) describes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NoNul = r"^[^\x00]*$"  # text with no NUL character (PostgreSQL cannot store one)
MAX_DEPTH, MAX_ITEMS = 8, 1000


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    """Case data as JSON the store can keep: no NUL in any text, nested at most
    ``MAX_DEPTH`` deep, at most ``MAX_ITEMS`` values in all."""
    count = 0

    def walk(v: Any, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_ITEMS or depth > MAX_DEPTH:
            raise ValueError(f"at most {MAX_ITEMS} values, nested at most {MAX_DEPTH} deep")
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("text may not contain NUL characters")
        if isinstance(v, dict):
            for k, item in v.items():
                walk(k, depth + 1)
                walk(item, depth + 1)
        elif isinstance(v, list):
            for item in v:
                walk(item, depth + 1)

    walk(value, 0)
    return value


Data = Annotated[dict[str, Any], AfterValidator(_plain_json)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- problems ---------------------------------------------------------------------------
class FieldProblem(Model):
    field: str = Field(description="the field (a case field, a query parameter, `body`…)")
    message: str


class NeededRole(Model):
    role: str = Field(description="the workflow's role")
    org_role: str = Field(description="the role as held in the org directory")
    scope: str = Field(description="unit | under | any | field:NAME")
    unit: str | None = Field(description="the unit it must be held at (see scope)")


class Problem(BaseModel):
    """RFC 9457 problem details, with gridflow's members."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldProblem] | None = None
    allowed: list[str] | None = Field(None, description="triggers the caller may fire here")
    needed: list[NeededRole] | None = None
    permission: str | None = None
    expected_version: int | None = None
    actual_version: int | None = None
    retry_after: int | None = None
    problems: list[MigrationProblem] | None = Field(
        None, description="why a migration was refused (every reason, with its case count)"
    )


class MigrationProblem(Model):
    kind: str = Field(
        description="unmapped-state | unknown-target | final-target | required-field | "
        "invalid-value | unknown-field | where-failed"
    )
    subject: str = Field(description="the state or field")
    message: str
    count: int = Field(description="cases it concerns")
    cases: list[int] = Field(description="the first few of them")


# ---- workflows ---------------------------------------------------------------------------
class Label(Model):
    zh: str
    en: str | None = None


class FieldSpec(Model):
    name: str
    type: str
    label: Label | None = None
    required: bool = False
    default: Any = None
    values: list[str] | None = None
    items: str | None = None
    kind: str | None = None
    max_length: int | None = None


class StateOut(Model):
    name: str
    label: Label | None = None
    final: bool = False
    clock: str | None = None


class TransitionOut(Model):
    trigger: str
    label: Label | None = None
    source: list[str]
    dest: str
    roles: list[str]
    requires: list[str]
    accepts: list[str]
    comment_required: bool


class WorkflowSummary(Model):
    id: str
    title: Label
    description: str | None = None
    version: str
    revision: int


class WorkflowOut(WorkflowSummary):
    roles: dict[str, dict[str, Any]]
    start_roles: list[str]
    fields: list[FieldSpec]
    states: list[StateOut]
    transitions: list[TransitionOut]
    data_schema: dict[str, Any] = Field(description="JSON Schema of the case data")


# ---- cases -------------------------------------------------------------------------------
class SlaOut(Model):
    clock: str | None
    due: datetime | None = Field(description="the deadline, in the business timezone")
    due_local: str | None = Field(description="the deadline as people read it: YYYY-MM-DD HH:MM")
    provisional: bool
    paused: bool
    overdue: bool
    remaining_seconds: float | None = Field(description="working seconds left")
    overdue_by_seconds: float | None = Field(description="working seconds past the deadline")


class CaseSummary(Model):
    id: int
    workflow: str
    revision: int
    state: str
    state_label: str
    version: int
    title: str
    unit: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    closed: bool
    parent_id: int | None
    sla: SlaOut | None
    data: dict[str, Any]


class ActionOut(Model):
    trigger: str
    label: Label
    requires: list[FieldSpec]
    accepts: list[FieldSpec]
    comment_required: bool
    dest: list[str]
    roles: list[str]


class FileOut(Model):
    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    case_id: int | None
    uploaded_by: str
    uploaded_at: datetime
    url: str


class CaseOut(CaseSummary):
    children: list[CaseSummary]
    actions: list[ActionOut] = Field(description="what the caller may do now, and what it needs")
    files: list[FileOut]


class CasePage(Model):
    items: list[CaseSummary]
    next: str | None = Field(description="cursor of the next page; null on the last")
    counts: dict[str, dict[str, int]] | None = None


class StartIn(Model):
    workflow: str = Field(max_length=100, pattern=NoNul)
    data: Data = Field(default_factory=dict)
    unit: str | None = Field(None, max_length=200, pattern=NoNul)
    role: str | None = Field(None, max_length=100, pattern=NoNul)
    comment: str | None = Field(None, max_length=4000, pattern=NoNul)


class EventIn(Model):
    trigger: str = Field(max_length=100, pattern=NoNul)
    data: Data = Field(default_factory=dict)
    comment: str | None = Field(None, max_length=4000, pattern=NoNul)
    role: str | None = Field(None, max_length=100, pattern=NoNul)


class OriginOut(Model):
    channel: str
    principal: str | None
    on_behalf_of: str | None
    token_id: str | None
    address: str | None
    request_id: str | None


class StepOut(Model):
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
    late_by_seconds: float | None
    origin: OriginOut | None
    files: list[str] = Field(description="ids of the files this step added")


class InboxItem(Model):
    case: CaseSummary
    actions: list[ActionOut]


class InboxOut(Model):
    items: list[InboxItem]


# ---- org ---------------------------------------------------------------------------------
class UnitOut(Model):
    id: str
    name: str
    name_en: str | None
    kind: str
    parent: str | None
    path: str


class GrantOut(Model):
    role: str
    unit: str


class PersonOut(Model):
    id: str
    name: str
    lang: str
    roles: list[GrantOut]


class MeOut(Model):
    id: str
    kind: str
    name: str
    via: str
    token_id: str | None
    permissions: list[str]
    roles: list[GrantOut]


# ---- the change feed ----------------------------------------------------------------------
class EventOut(Model):
    id: int = Field(description="the feed position (SSE id); ask for events after it")
    case_id: int
    seq: int
    workflow: str
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    role: str | None
    comment: str | None
    payload: dict[str, Any] | None
    at: datetime
    origin: OriginOut | None


class EventPage(Model):
    events: list[EventOut]
    next: int = Field(description="the cursor to ask `after` with next")


# ---- admin -------------------------------------------------------------------------------
class TokenOut(Model):
    id: str
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


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokenIn(Model):
    principal: str = Field(max_length=200, pattern=NoNul)
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    label: str = Field("", max_length=200, pattern=NoNul)


class AuditOut(Model):
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


class AuditPage(Model):
    items: list[AuditOut]
    next: int | None


class NoticeOut(Model):
    id: str
    case_id: int | None
    workflow_id: str | None
    notice: str
    recipient: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None


class EndpointOut(Model):
    channel: str
    address: str
    reason: str
    disabled_at: datetime


class EndpointIn(Model):
    channel: str = Field(max_length=100, pattern=NoNul)
    address: str = Field(max_length=2000, pattern=NoNul)


class Count(Model):
    count: int


class Health(Model):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


# ---- migrations (#16) ---------------------------------------------------------------------
StateName = Annotated[str, Field(min_length=1, max_length=200, pattern=NoNul)]


class MigrationIn(Model):
    """Move the workflow's open cases onto its stored revision ``to_revision``."""

    to_revision: int = Field(ge=1, le=2**31 - 1)
    map: dict[StateName, StateName] = Field(
        default_factory=dict, max_length=500, description="old state → new state"
    )
    where: str | None = Field(
        None, max_length=2000, pattern=NoNul, description="an expression selecting cases"
    )
    values: Data = Field(default_factory=dict, description="fields set on every case moved")
    keep_deadline: bool = Field(False, description="keep running clocks' due times")
    apply: bool = Field(False, description="false: a dry run (the plan); true: apply it")
    batch: int = Field(200, ge=1, le=10_000, description="cases per transaction")
    comment: str | None = Field(None, max_length=2000, pattern=NoNul)


class MigrationTimer(Model):
    name: str
    due_at: datetime


class MigrationCase(Model):
    case_id: int
    from_revision: int
    to_revision: int
    from_state: str
    to_state: str
    added: dict[str, Any]
    dropped: dict[str, Any]
    changed: dict[str, Any] = Field(description="field → [before, after] (``values``)")
    deadline: str = Field(description="none | paused | kept | recomputed")
    due_before: datetime | None
    due_after: datetime | None
    timers_cancelled: list[str]
    timers_created: list[MigrationTimer]
    not_refired: list[str] = Field(description="past rungs that already fired: not again")


class MigrationOut(Model):
    workflow: str
    to_revision: int
    applied: bool
    considered: int = Field(description="open cases on other revisions")
    not_matching: int = Field(description="left out by `where`")
    to_migrate: int
    migrated: int
    skipped: int
    states: dict[str, int] = Field(description="cases per 'from → to' state")
    deadlines: dict[str, int]
    timers_cancelled: int
    timers_created: int
    seconds: float
    cases: list[MigrationCase]
    skipped_cases: list[dict[str, Any]]
