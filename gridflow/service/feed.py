"""The change feed (service ring): every step of every case, in commit order, after a
cursor — for other systems that follow gridflow (``GET /events``, Server-Sent Events).

A cursor is a feed position (``gf_event.pos``). Positions only grow and are handed out in
commit order (:mod:`gridflow.storage.feed`), so "everything after my cursor" never skips a
step, whatever the number of writers, and a client that stored its cursor resumes after a
restart — of itself or of the server. A principal sees the events of the cases it may see;
the cursor returned still moves past the events it may not, so it is never read again.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

from gridflow.domain.access import CaseScope
from gridflow.domain.cases import Origin
from gridflow.service.runtime import Runtime
from gridflow.storage.browse import scope_clause

MAX_PAGE = 500


@dataclass(frozen=True)
class FeedEvent:
    """One step as an event."""

    pos: int
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
    origin: Origin | None


class Feed:
    """Pages of the change feed."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def page(
        self, scope: CaseScope, after: int = 0, limit: int = 100
    ) -> tuple[list[FeedEvent], int]:
        """Events after ``after`` that ``scope`` sees, oldest first, at most ``limit``; and
        the cursor to ask with next (past every event looked at, seen or not)."""
        limit = max(1, min(limit, MAX_PAGE))
        store = self.rt.store
        with store.read() as tx:
            last = store.feed.last(tx)
            rows = store.feed.page(tx, after, limit, scope_clause(scope), upto=last)
        events = [
            FeedEvent(
                r.pos,
                r.step.case_id,
                r.step.seq,
                r.workflow_id,
                r.step.trigger,
                r.step.from_state,
                r.step.to_state,
                r.step.actor,
                r.step.role,
                r.step.comment,
                r.step.payload,
                r.step.at,
                None if r.origin is None else Origin(*astuple(r.origin)[2:]),
            )
            for r in rows
        ]
        cursor = events[-1].pos if len(events) == limit else max(after, last)
        return events, cursor

    def last(self) -> int:
        """The newest position (a client may start from here to see only what is new)."""
        with self.rt.store.read() as tx:
            return self.rt.store.feed.last(tx)
