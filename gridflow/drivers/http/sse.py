"""The change feed as Server-Sent Events (driver ring), reusable by any page or API.

``stream`` yields SSE text: each step as ``id: <position>`` / ``event: step`` /
``data: <the event as JSON>``; an ``id:`` line alone when the cursor moved past events the
principal may not see (so a reconnect does not read them again); a comment every
``heartbeat`` seconds when idle (keeps proxies from closing the connection). A client that
reconnects sends ``Last-Event-ID`` and the stream resumes after it — across restarts of the
client or the server, since positions are the database's.

New steps are found by polling the feed every ``poll`` seconds, at once after a write
through this server (``Api.writes``), so steps written by daemons or other servers arrive
within ``poll`` and this server's own at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool

from gridflow.domain.access import CaseScope
from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import Api
from gridflow.service.feed import FeedEvent

BATCH = 200


def event_out(e: FeedEvent, api: Api) -> s.EventOut:
    from gridflow.drivers.http.views import local, origin

    return s.EventOut(
        id=e.pos,
        case_id=e.case_id,
        seq=e.seq,
        workflow=e.workflow,
        trigger=e.trigger,
        from_state=e.from_state,
        to_state=e.to_state,
        actor=e.actor,
        role=e.role,
        comment=e.comment,
        payload=e.payload,
        at=local(e.at, api.tz),
        origin=origin(e.origin),
    )


def frame(e: s.EventOut) -> str:
    return f"id: {e.id}\nevent: step\ndata: {e.model_dump_json()}\n\n"


async def stream(
    api: Api,
    scope: CaseScope,
    after: int,
    *,
    poll: float = 1.0,
    heartbeat: float = 15.0,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """SSE text of the events after ``after`` that ``scope`` sees, as they come.
    ``max_seconds``: end after that long (0: once caught up); None: until the client goes."""
    began = last_sent = clock()
    cursor = after
    yield f"retry: 2000\n: gridflow change feed after {after}\n\n"
    while not api.stopping.is_set():
        seen_writes = api.writes.value
        events, nxt = await run_in_threadpool(api.engine.feed.page, scope, cursor, BATCH)
        for e in events:
            yield frame(event_out(e, api))
        if nxt != cursor and (not events or events[-1].pos != nxt):
            yield f"id: {nxt}\n\n"
        if events or nxt != cursor:
            last_sent = clock()
        cursor = nxt
        if len(events) == BATCH:
            continue
        if max_seconds is not None and clock() - began >= max_seconds:
            return
        waited = 0.0
        while waited < poll and api.writes.value == seen_writes and not api.stopping.is_set():
            await asyncio.sleep(0.05)
            waited += 0.05
        if clock() - last_sent >= heartbeat:
            last_sent = clock()
            yield ": keep-alive\n\n"
