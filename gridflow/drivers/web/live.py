"""Live updates (driver ring): the change feed as Server-Sent Events for the signed-in
viewer — the same stream the API serves (:func:`gridflow.drivers.http.sse.stream`), under
the viewer's scope, from the feed position the page was rendered at (so nothing written
between the render and the connection is missed). The page's script turns each step into
a refresh of what shows it (the board's columns, My work, the case page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRouter

from gridflow.drivers.http.sse import stream
from gridflow.drivers.web.context import viewer, web_of

router = APIRouter(include_in_schema=False)


@router.get("/live")
def live(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    who = viewer(request)
    web = web_of(request)
    if last_event_id is not None and last_event_id.strip().isdigit():
        after = int(last_event_id.strip())
    scope = web.engine.principals.scope(who.principal)
    body = stream(web.api, scope, after, poll=web.api.settings.sse_poll_seconds)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
