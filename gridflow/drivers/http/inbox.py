"""``/api/v1/inbox``: the cases the caller can act on now, overdue first, then by deadline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gridflow.drivers.http import schemas as s
from gridflow.drivers.http import views
from gridflow.drivers.http.context import CallerDep, api_of
from gridflow.drivers.http.responses import errors

router = APIRouter(prefix="/api/v1", tags=["inbox"])


@router.get("/inbox", response_model=s.InboxOut, responses=errors())
def inbox(
    request: Request, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> s.InboxOut:
    """Open cases the caller holds a role for in their current state, each with what the
    caller may do; the most overdue first, then the nearest deadlines, then the rest."""
    api = api_of(request)
    engine = api.engine
    scope = engine.principals.scope(caller.principal, caller.actor)
    items = engine.browse.inbox(scope, caller.actor, limit)
    out = []
    for item in items:
        wf = engine.workflow(item.case.workflow, item.case.revision).definition
        out.append(
            s.InboxItem(
                case=views.case_summary(item.case, api.tz),
                actions=[views.action(a, wf) for a in item.actions],
            )
        )
    return s.InboxOut(items=out)
