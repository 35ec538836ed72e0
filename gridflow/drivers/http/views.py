"""Engine values as API shapes (driver ring): cases, steps, actions, files, tokens …

Times leave in the business timezone (``Api.tz``); SLA remaining/overdue in working
seconds; case data as stored.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from gridflow.domain.actions import Action
from gridflow.domain.cases import Case, Origin, Step
from gridflow.domain.definition import FieldDef, Workflow
from gridflow.domain.definition import Label as LabelDef
from gridflow.domain.machine import CompiledWorkflow
from gridflow.drivers.http import schemas as s
from gridflow.service.audit import AuditRecord
from gridflow.service.files import FileRecord
from gridflow.service.outbox import EndpointRecord, NoticeRecord
from gridflow.service.tokens import TokenRecord


def local(value: datetime | None, tz: tzinfo) -> datetime | None:
    return None if value is None else value.astimezone(tz)


def label(value: LabelDef | None) -> s.Label | None:
    return None if value is None else s.Label(zh=value.zh, en=value.en)


def field_spec(name: str, f: FieldDef) -> s.FieldSpec:
    return s.FieldSpec(
        name=name,
        type=f.type,
        label=label(f.label),
        required=f.required,
        default=f.default,
        values=f.values,
        items=f.items,
        kind=f.kind,
        max_length=f.max_length,
    )


def sla(case: Case, tz: tzinfo) -> s.SlaOut | None:
    v = case.sla
    if v is None:
        return None
    due = local(v.due, tz)
    return s.SlaOut(
        clock=v.clock,
        due=due,
        due_local=due.strftime("%Y-%m-%d %H:%M") if due else None,
        provisional=v.provisional,
        paused=v.paused,
        overdue=v.overdue,
        remaining_seconds=v.remaining,
        overdue_by_seconds=v.overdue_by,
    )


def case_summary(case: Case, tz: tzinfo) -> s.CaseSummary:
    return s.CaseSummary(
        id=case.id,
        workflow=case.workflow,
        revision=case.revision,
        state=case.state,
        state_label=case.state_label,
        version=case.version,
        title=case.title,
        unit=case.unit,
        created_by=case.created_by,
        created_at=local(case.created_at, tz),
        updated_at=local(case.updated_at, tz),
        closed_at=local(case.closed_at, tz),
        closed=case.closed,
        parent_id=case.parent_id,
        sla=sla(case, tz),
        data=case.data,
    )


def action(a: Action, wf: Workflow) -> s.ActionOut:
    def specs(names: list[str]) -> list[s.FieldSpec]:
        return [field_spec(n, wf.fields[n]) for n in names if n in wf.fields]

    return s.ActionOut(
        trigger=a.trigger,
        label=s.Label(zh=a.label.get("zh") or a.trigger, en=a.label.get("en")),
        requires=specs(a.requires),
        accepts=specs(a.accepts),
        comment_required=a.comment_required,
        dest=a.dest,
        roles=a.roles,
    )


def file_out(f: FileRecord, tz: tzinfo) -> s.FileOut:
    return s.FileOut(
        id=f.id,
        name=f.name,
        content_type=f.content_type,
        size=f.size,
        sha256=f.sha256,
        case_id=f.case_id,
        uploaded_by=f.uploaded_by,
        uploaded_at=local(f.uploaded_at, tz),
        url=f"/api/v1/files/{f.id}/content",
    )


def origin(o: Origin | None) -> s.OriginOut | None:
    if o is None:
        return None
    return s.OriginOut(
        channel=o.channel,
        principal=o.principal,
        on_behalf_of=o.on_behalf_of,
        token_id=o.token_id,
        address=o.address,
        request_id=o.request_id,
    )


def file_ids(wf: Workflow, payload: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for name, value in (payload or {}).items():
        spec = wf.fields.get(name)
        if spec is not None and spec.type in ("file", "files") and value:
            out += [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def step(st: Step, wf: Workflow, tz: tzinfo) -> s.StepOut:
    return s.StepOut(
        case_id=st.case_id,
        seq=st.seq,
        trigger=st.trigger,
        from_state=st.from_state,
        to_state=st.to_state,
        actor=st.actor,
        role=st.role,
        comment=st.comment,
        payload=st.payload,
        at=local(st.at, tz),
        late_by_seconds=st.late_by,
        origin=origin(st.origin),
        files=file_ids(wf, st.payload),
    )


def workflow_summary(wf: CompiledWorkflow) -> s.WorkflowSummary:
    d = wf.definition
    return s.WorkflowSummary(
        id=wf.id,
        title=s.Label(zh=d.title.zh, en=d.title.en),
        description=d.description,
        version=str(d.version),
        revision=wf.revision or 0,
    )


def token(t: TokenRecord, tz: tzinfo) -> s.TokenOut:
    return s.TokenOut(
        id=t.id,
        principal=t.principal,
        kind=t.kind,
        label=t.label,
        created_at=local(t.created_at, tz),
        created_by=t.created_by,
        expires_at=local(t.expires_at, tz),
        revoked_at=local(t.revoked_at, tz),
        revoked_by=t.revoked_by,
        last_used_at=local(t.last_used_at, tz),
        last_used_from=t.last_used_from,
    )


def audit(a: AuditRecord, tz: tzinfo) -> s.AuditOut:
    return s.AuditOut(
        id=a.id,
        at=local(a.at, tz),
        outcome=a.outcome,
        status=a.status,
        principal=a.principal,
        token_id=a.token_id,
        on_behalf_of=a.on_behalf_of,
        action=a.action,
        case_id=a.case_id,
        trigger=a.trigger,
        reason=a.reason,
        channel=a.channel,
        address=a.address,
        request_id=a.request_id,
    )


def notice(n: NoticeRecord, tz: tzinfo) -> s.NoticeOut:
    return s.NoticeOut(
        id=n.id,
        case_id=n.case_id,
        workflow_id=n.workflow_id,
        notice=n.notice,
        recipient=n.recipient,
        channel=n.channel,
        status=n.status,
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=local(n.created_at, tz),
        next_attempt_at=local(n.next_attempt_at, tz),
        sent_at=local(n.sent_at, tz),
    )


def endpoint(e: EndpointRecord, tz: tzinfo) -> s.EndpointOut:
    return s.EndpointOut(
        channel=e.channel,
        address=e.address,
        reason=e.reason,
        disabled_at=local(e.disabled_at, tz),
    )
