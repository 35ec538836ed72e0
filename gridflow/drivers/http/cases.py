"""``/api/v1/cases``: start, list, one case, fire an event, history, children."""

from __future__ import annotations

import base64
import binascii
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from gridflow.domain.cases import Case
from gridflow.drivers.http import idempotent, views
from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import Api, Caller, CallerDep, api_of
from gridflow.drivers.http.responses import errors
from gridflow.errors import GridflowError

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
CaseId = Annotated[int, Path(ge=1, le=2**53, description="the case id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="a retry with the same key gets the first response (kept 24 h)",
    ),
]
Text = Annotated[str | None, Query(max_length=200, pattern=s.NoNul)]


def case_out(api: Api, case: Case, caller: Caller, *, fresh: bool = False) -> s.CaseOut:
    """The case page. ``fresh``: ``case`` was just written (its children and files are read
    only when its workflow can have any)."""
    engine = api.engine
    wf = engine.workflow(case.workflow, case.revision)
    d = wf.definition
    children = case.children
    if fresh and any(t.spawn for t in d.transitions):
        children = engine.children(case.id)
    has_files = any(f.type in ("file", "files") for f in d.fields.values())
    files = engine.files.of_case(case.id) if has_files or not fresh else []
    return s.CaseOut(
        **views.case_summary(case, api.tz).model_dump(),
        children=[views.case_summary(c, api.tz) for c in children],
        actions=[views.action(a, d) for a in engine.browse.actions_on(case, caller.actor)],
        files=[views.file_out(f, api.tz) for f in files],
    )


def etag(case: Case) -> str:
    return f'"{case.version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` names (``"3"``, ``W/"3"``, ``3``); None for ``*`` or no
    header. Anything else matches no version: 412."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 15:
        raise HTTPException(412, f'If-Match {value!r} names no version of this case (ETag "N")')
    return int(tag)


@router.post(
    "",
    status_code=201,
    response_model=s.CaseOut,
    responses=errors(404, 409, 413),
)
def start_case(
    request: Request,
    caller: CallerDep,
    body: s.StartIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Start a case as the caller (201, ``Location``, ``ETag``). Files named in file fields
    must have been uploaded by the caller first (``POST /api/v1/files``)."""
    api = api_of(request)

    def operation() -> Response:
        engine = api.engine
        wf = engine.workflow(body.workflow)
        refs = engine.files.refs(wf, body.data)
        engine.files.check_refs(refs, case_id=None, uploader=caller.principal.id)
        with api.metrics.event(wf.id, "start"):
            case = engine.start(
                wf.id,
                actor=caller.actor,
                data=body.data,
                unit=body.unit,
                role=body.role,
                comment=body.comment,
                origin=caller.origin,
            )
        engine.files.bind(refs, case.id, caller.principal.id)
        api.writes.bump()
        out = case_out(api, case, caller, fresh=True)
        headers = {"Location": f"/api/v1/cases/{case.id}", "ETag": etag(case)}
        return idempotent.json_response(out, 201, headers)

    return idempotent.run(request, caller, idempotency_key, body.model_dump(mode="json"), operation)


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        if not text.startswith("c") or not text[1:].isdigit():
            raise ValueError
        return int(text[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "not a cursor this API gave", "type": "value"}]
        ) from None


def _make_cursor(case_id: int | None) -> str | None:
    if case_id is None:
        return None
    return base64.urlsafe_b64encode(f"c{case_id}".encode()).decode().rstrip("=")


@router.get("", response_model=s.CasePage, responses=errors())
def list_cases(
    request: Request,
    caller: CallerDep,
    workflow: Text = None,
    state: Text = None,
    unit: Annotated[
        str | None, Query(max_length=200, pattern=s.NoNul, description="this unit and below")
    ] = None,
    text: Annotated[
        str | None, Query(max_length=200, pattern=s.NoNul, description="in the title or the data")
    ] = None,
    closed: Annotated[bool | None, Query(description="true: closed only; false: open only")] = None,
    overdue: Annotated[bool, Query(description="open, running and past the deadline")] = False,
    due_before: Annotated[
        datetime | None, Query(description="a running deadline before this")
    ] = None,
    tag: Text = None,
    party: Text = None,
    grade: Text = None,
    cursor: Annotated[
        str | None, Query(max_length=100, description="`next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    counts: Annotated[
        bool, Query(description="also count the matches by workflow, state, tag, party, grade")
    ] = False,
) -> s.CasePage:
    """Cases the caller may see, newest first, a page at a time. Pages are keyset pages:
    cases started while paging never shift the next page."""
    api = api_of(request)
    engine = api.engine
    f = engine.browse.filter(
        workflow=workflow,
        state=state,
        unit=unit,
        text=text,
        closed=closed,
        overdue=overdue,
        due_before=due_before,
        tag=tag,
        party=party,
        grade=grade,
    )
    scope = engine.principals.scope(caller.principal, caller.actor)
    page = engine.browse.page(scope, f, before=_cursor(cursor), limit=limit, counts=counts)
    return s.CasePage(
        items=[views.case_summary(c, api.tz) for c in page.cases],
        next=_make_cursor(page.next_cursor),
        counts=page.counts or None,
    )


@router.get("/{case_id}", response_model=s.CaseOut, responses=errors(404))
def get_case(request: Request, response: Response, caller: CallerDep, case_id: CaseId) -> s.CaseOut:
    """One case: state, data, SLA in local time, children, files, and what the caller may
    do next with the fields each action needs. ``ETag`` is the case's version."""
    api = api_of(request)
    api.engine.principals.visible_case(caller.principal, case_id, caller.actor)
    case = api.engine.get(case_id, with_children=True)
    response.headers["ETag"] = etag(case)
    return case_out(api, case, caller)


@router.post(
    "/{case_id}/events",
    response_model=s.CaseOut,
    responses=errors(404, 409, 412, 413),
)
def fire_event(
    request: Request,
    caller: CallerDep,
    case_id: CaseId,
    body: s.EventIn,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", max_length=100, description='the version read, as its ETag ("3")'),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Fire an event on a case as the caller. With ``If-Match`` a case that moved on is
    412; without, the event is judged on the case as it is."""
    api = api_of(request)

    def operation() -> Response:
        engine = api.engine
        expected = parse_if_match(if_match)
        refs: dict[str, list[str]] = {}
        if engine.files.names_files(body.data):  # files named: they must be this case's
            row = engine.principals.visible_case(caller.principal, case_id, caller.actor)
            wf = engine.workflow(row.workflow_id, row.revision)
            refs = engine.files.refs(wf, body.data)
            engine.files.check_refs(refs, case_id=case_id, uploader=caller.principal.id)
        started = time.perf_counter()
        try:
            case = engine.fire(
                case_id,
                body.trigger,
                actor=caller.actor,
                data=body.data,
                comment=body.comment,
                role=body.role,
                expected_version=expected,
                origin=caller.origin,
            )
        except GridflowError as exc:
            # an accepted event proves the caller may see the case (a role reached it); a
            # refused one is told only to who may see it: to others the case does not exist
            row = engine.principals.visible_case(caller.principal, case_id, caller.actor)
            api.metrics.counted(row.workflow_id, body.trigger, exc, started)
            raise
        api.metrics.counted(case.workflow, body.trigger, None, started)
        engine.files.bind(refs, case_id, caller.principal.id)
        api.writes.bump()
        out = case_out(api, case, caller, fresh=True)
        return idempotent.json_response(out, 200, {"ETag": etag(case)})

    return idempotent.run(request, caller, idempotency_key, body.model_dump(mode="json"), operation)


@router.get("/{case_id}/history", response_model=list[s.StepOut], responses=errors(404))
def history(request: Request, caller: CallerDep, case_id: CaseId) -> list[s.StepOut]:
    """Every step of the case, oldest first: who, in which role, when, from where."""
    api = api_of(request)
    row = api.engine.principals.visible_case(caller.principal, case_id, caller.actor)
    wf = api.engine.workflow(row.workflow_id, row.revision).definition
    return [views.step(st, wf, api.tz) for st in api.engine.history(case_id)]


@router.get("/{case_id}/children", response_model=list[s.CaseSummary], responses=errors(404))
def children(request: Request, caller: CallerDep, case_id: CaseId) -> list[s.CaseSummary]:
    """The cases this case spawned (e.g. the departments a four-list problem asked)."""
    api = api_of(request)
    api.engine.principals.visible_case(caller.principal, case_id, caller.actor)
    return [views.case_summary(c, api.tz) for c in api.engine.children(case_id)]
