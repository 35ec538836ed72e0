"""``/api/v1/admin``: the outbox, endpoints, API tokens, the audit log, moving open cases
onto a new workflow revision (``admin`` only)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from gridflow.drivers.http import idempotent, views
from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import Caller, CallerDep, api_of
from gridflow.drivers.http.problems import response
from gridflow.drivers.http.responses import errors
from gridflow.errors import ExpressionError, NotFound

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
NoticeId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
TokenId = Annotated[str, Path(max_length=40, pattern=r"^t_[0-9a-f]+$")]
WorkflowId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")]


def _admin(request: Request, caller: Caller) -> None:
    api_of(request).engine.principals.require(caller.principal, "admin")


@router.get("/outbox", response_model=list[s.NoticeOut], responses=errors())
def outbox(
    request: Request,
    caller: CallerDep,
    status: Annotated[Literal["pending", "sent", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[s.NoticeOut]:
    """Notices, newest first (their texts are left out: they hold people's cases)."""
    _admin(request, caller)
    api = api_of(request)
    return [views.notice(n, api.tz) for n in api.engine.outbox.notices(status, limit)]


@router.post("/outbox/{notice_id}/retry", response_model=s.Count, responses=errors(404, 409))
def retry(request: Request, caller: CallerDep, notice_id: NoticeId) -> s.Count:
    """Put one dead notice back in the queue, due now."""
    _admin(request, caller)
    return s.Count(count=api_of(request).engine.outbox.retry(notice_id))


@router.post("/outbox/retry-dead", response_model=s.Count, responses=errors())
def retry_dead(request: Request, caller: CallerDep) -> s.Count:
    """Put every dead notice back in the queue."""
    _admin(request, caller)
    return s.Count(count=api_of(request).engine.outbox.retry(all_dead=True))


@router.get("/endpoints", response_model=list[s.EndpointOut], responses=errors())
def endpoints(request: Request, caller: CallerDep) -> list[s.EndpointOut]:
    """Notice endpoints switched off (a webhook that answered 410 Gone)."""
    _admin(request, caller)
    api = api_of(request)
    return [views.endpoint(e, api.tz) for e in api.engine.outbox.disabled_endpoints()]


@router.post("/endpoints/enable", response_model=s.Count, responses=errors(404))
def enable(request: Request, caller: CallerDep, body: s.EndpointIn) -> s.Count:
    """Switch an endpoint back on (its dead notices stay dead until retried)."""
    _admin(request, caller)
    engine = api_of(request).engine
    if not engine.outbox.enable_endpoint(body.channel, body.address):
        raise NotFound("disabled endpoint", f"{body.channel}:{body.address}")
    return s.Count(count=1)


@router.get("/tokens", response_model=list[s.TokenOut], responses=errors())
def tokens(
    request: Request,
    caller: CallerDep,
    principal: Annotated[str | None, Query(max_length=200, pattern=s.NoNul)] = None,
    include_revoked: bool = False,
) -> list[s.TokenOut]:
    """API tokens (never their secrets): whose, created when, last used when and from where."""
    _admin(request, caller)
    api = api_of(request)
    rows = api.engine.tokens.listed(principal, include_revoked=include_revoked)
    return [views.token(t, api.tz) for t in rows]


@router.post("/tokens", status_code=201, response_model=s.TokenCreated, responses=errors(404, 409))
def create_token(request: Request, caller: CallerDep, body: s.TokenIn) -> Response:
    """A new token for a person or a service account; the secret is in this answer only."""
    _admin(request, caller)
    api = api_of(request)
    engine = api.engine
    expires = engine.now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = engine.tokens.create(
        body.principal, expires_at=expires, label=body.label, created_by=caller.principal.id
    )
    out = s.TokenCreated(
        **views.token(engine.tokens.get(issued.id), api.tz).model_dump(), token=issued.token
    )
    return idempotent.json_response(out, 201, {"Cache-Control": "no-store"})


@router.delete("/tokens/{token_id}", response_model=s.TokenOut, responses=errors(404, 409))
def revoke_token(request: Request, caller: CallerDep, token_id: TokenId) -> s.TokenOut:
    """Revoke a token: its next request is refused, on every server."""
    _admin(request, caller)
    api = api_of(request)
    return views.token(api.engine.tokens.revoke(token_id, by=caller.principal.id), api.tz)


@router.get("/audit", response_model=s.AuditPage, responses=errors())
def audit(
    request: Request,
    caller: CallerDep,
    principal: Annotated[str | None, Query(max_length=200, pattern=s.NoNul)] = None,
    outcome: Annotated[
        Literal["unauthenticated", "forbidden", "refused", "rate_limited"] | None, Query()
    ] = None,
    case_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**53, description="`next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> s.AuditPage:
    """Refused attempts, newest first: who tried what, why it was refused, when, from where."""
    _admin(request, caller)
    api = api_of(request)
    rows = api.engine.audit.page(
        before_id=before, limit=limit + 1, principal=principal, outcome=outcome, case_id=case_id
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return s.AuditPage(
        items=[views.audit(a, api.tz) for a in rows], next=rows[-1].id if more and rows else None
    )


@router.post(
    "/workflows/{workflow_id}/migrations",
    response_model=s.MigrationOut,
    responses=errors(404, 409),
)
def migrate(
    request: Request, caller: CallerDep, workflow_id: WorkflowId, body: s.MigrationIn
) -> Any:
    """Move the workflow's open cases onto its stored revision ``to_revision``: a dry run
    (the plan per case) unless ``apply``. Refused whole (409 ``migration-refused``, every
    reason in ``problems``, nothing changed) when a case's state is neither in the target
    nor mapped, or a required field has no value; applied in batches, one ``migrate`` step
    per case; a rerun resumes, or finds nothing to move."""
    _admin(request, caller)
    api = api_of(request)
    try:
        plan = api.engine.migrate(
            workflow_id,
            to=body.to_revision,
            actor=caller.actor,
            mapping=body.map,
            where=body.where,
            values=body.values,
            keep_deadline=body.keep_deadline,
            apply=body.apply,
            batch=body.batch,
            comment=body.comment,
            origin=caller.origin,
        )
    except ExpressionError as exc:
        problem = [{"field": "where", "message": str(exc)}]
        return response(request, 422, "invalid-value", str(exc), errors=problem)
    out = plan.to_dict()
    out.pop("from_revisions")
    out["cases"] = [_case(c, api.tz) for c in out["cases"]]
    return s.MigrationOut(**out)


def _case(case: dict[str, Any], tz: tzinfo) -> s.MigrationCase:
    def local(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value).astimezone(tz) if value else None

    (rev_a, rev_b), (st_a, st_b), (due_a, due_b) = case["revision"], case["state"], case["due"]
    created = [
        s.MigrationTimer(name=t["name"], due_at=datetime.fromisoformat(t["due_at"]).astimezone(tz))
        for t in case["timers_created"]
    ]
    return s.MigrationCase(
        case_id=case["case_id"],
        from_revision=rev_a,
        to_revision=rev_b,
        from_state=st_a,
        to_state=st_b,
        added=case["added"],
        dropped=case["dropped"],
        changed=case["changed"],
        deadline=case["deadline"],
        due_before=local(due_a),
        due_after=local(due_b),
        timers_cancelled=case["timers_cancelled"],
        timers_created=created,
        not_refired=case["not_refired"],
    )
