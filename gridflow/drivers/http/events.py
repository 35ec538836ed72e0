"""``/api/v1/events``: the change feed — each step as an event, in commit order, after a
cursor; and the same as Server-Sent Events resuming from ``Last-Event-ID``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import CallerDep, api_of
from gridflow.drivers.http.responses import errors
from gridflow.drivers.http.sse import event_out, stream

router = APIRouter(prefix="/api/v1/events", tags=["events"])
SSE_EVENT = {
    "description": "one Server-Sent Event: a step (`event: step`, `data`: an EventOut), or "
    "an `id` alone (the cursor moved past steps the caller may not see)",
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": ["step"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
}
After = Annotated[int, Query(ge=0, le=2**62, description="the cursor: events after this one")]


@router.get("", response_model=s.EventPage, responses=errors())
def events(
    request: Request,
    caller: CallerDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> s.EventPage:
    """Steps of the cases the caller may see, oldest first, after ``after``. Ask again with
    ``next``: no step is ever skipped, whatever the number of writers, and a stored cursor
    stays good across restarts."""
    api = api_of(request)
    scope = api.engine.principals.scope(caller.principal, caller.actor)
    found, cursor = api.engine.feed.page(scope, after, limit)
    return s.EventPage(events=[event_out(e, api) for e in found], next=cursor)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        **errors(),
        200: {
            "description": "text/event-stream: `id` (the cursor), `event: step`, `data` (an "
            "EventOut as JSON)",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
    },
)
def event_stream(
    request: Request,
    caller: CallerDep,
    after: After = 0,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=20, description="resume after this event"),
    ] = None,
    max_seconds: Annotated[
        int | None, Query(ge=0, le=86400, description="close after this long (0: once caught up)")
    ] = None,
) -> StreamingResponse:
    """The change feed as Server-Sent Events. Reconnecting with ``Last-Event-ID`` resumes
    right after the last event received."""
    api = api_of(request)
    if last_event_id is not None and last_event_id.strip().isdigit():
        after = int(last_event_id.strip())
    scope = api.engine.principals.scope(caller.principal, caller.actor)
    body = stream(api, scope, after, poll=api.settings.sse_poll_seconds, max_seconds=max_seconds)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
