"""The change feed's statements (storage ring): every history row as an event, numbered in
commit order, read after a position without ever skipping one.

Why commit order, and how. A reader that remembers "the last position I saw" misses an
event when a row with a *smaller* position becomes visible *after* a larger one — which is
what happens with plain sequence numbers on PostgreSQL: transactions take their numbers
when they insert and commit in any order. So:

- **SQLite** has one writer at a time (``BEGIN IMMEDIATE``): positions are rowids given in
  the writing transaction, and commits happen in that order. ``record`` inserts at once.
- **PostgreSQL**: ``record`` only notes the event on the transaction (``tx.info``);
  :meth:`FeedStore.flush`, run by the store just before COMMIT, takes a transaction-level
  advisory lock and inserts the noted events. The lock is held until the commit is visible
  (PostgreSQL releases locks after it marks the transaction committed), so the next writer
  numbers its events only after this one's are visible: positions are handed out in commit
  order, and a reader that sees position *n* sees every position below it. The lock covers
  only the insert and the commit, not the event's work.

(Reading only events whose transaction id lies below the snapshot's ``xmin`` is gap-free
too, but orders by transaction *start*: a fan-in that locks its parent late would list the
parent's later step before an earlier one. Commit order keeps each case's steps in order.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.api_records import EventRecord
from gridflow.storage.records import OriginRecord, StepRecord

_E = t.event_t
_H = t.history_t
_O = t.origin_t
_C = t.case_t
INSERT = _E.insert()
_PENDING = "gf_feed_pending"
_FEED_LOCK = 0x67726665  # advisory lock key ("grfe")


class FeedStore:
    """Statements over ``gf_event`` (joined to history, origins and cases to read)."""

    def __init__(self, is_sqlite: bool):
        self._is_sqlite = is_sqlite

    # ---- writing (from CaseStore.append_step, and the store's commit) --------------------
    def record(self, tx: sa.Connection, case_id: int, seq: int, at: datetime) -> None:
        """The event of a history row just written in ``tx``."""
        if self._is_sqlite:
            tx.execute(INSERT, {"case_id": case_id, "seq": seq, "at": at})
        else:
            tx.info.setdefault(_PENDING, []).append({"case_id": case_id, "seq": seq, "at": at})

    def record_many(self, tx: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """The events of history rows just written in ``tx`` (``case_id``, ``seq``, ``at``
        each), in the order given."""
        if not rows:
            return
        if self._is_sqlite:
            tx.execute(INSERT, rows)
        else:
            tx.info.setdefault(_PENDING, []).extend(rows)

    def discard(self, tx: sa.Connection) -> None:
        """Forget events noted by an earlier transaction on this connection (rolled back)."""
        tx.info.pop(_PENDING, None)

    def flush(self, tx: sa.Connection) -> None:
        """PostgreSQL, just before COMMIT: number and insert this transaction's events under
        the feed lock (see the module docstring)."""
        pending = tx.info.pop(_PENDING, None)
        if pending:
            tx.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FEED_LOCK})
            tx.execute(INSERT, pending)

    def backfill(self, tx: sa.Connection) -> int:
        """A database from before the feed: one event per existing history row, in time
        order, once (when the feed is empty and the history is not). How many."""
        if tx.execute(sa.select(_E.c.pos).limit(1)).first() is not None:
            return 0
        if tx.execute(sa.select(_H.c.case_id).limit(1)).first() is None:
            return 0
        src = sa.select(_H.c.case_id, _H.c.seq, _H.c.at).order_by(_H.c.at, _H.c.case_id, _H.c.seq)
        res = tx.execute(_E.insert().from_select(["case_id", "seq", "at"], src))
        return int(res.rowcount or 0)

    # ---- reading -------------------------------------------------------------------------
    def page(
        self,
        tx: sa.Connection,
        after: int,
        limit: int,
        visible: Any = None,
        upto: int | None = None,
    ) -> list[EventRecord]:
        """Events after position ``after`` (and at most ``upto``), oldest first, at most
        ``limit``; ``visible``: a clause over the case's columns (``browse.scope_clause``)
        or None for all."""
        q = (
            sa.select(_E.c.pos, _C.c.workflow_id, *_H.columns, *_O.columns)
            .select_from(
                _E.join(_H, sa.and_(_H.c.case_id == _E.c.case_id, _H.c.seq == _E.c.seq))
                .join(_C, _C.c.id == _E.c.case_id)
                .outerjoin(_O, sa.and_(_O.c.case_id == _E.c.case_id, _O.c.seq == _E.c.seq))
            )
            .where(_E.c.pos > after)
            .order_by(_E.c.pos)
            .limit(limit)
        )
        if visible is not None:
            q = q.where(visible)
        if upto is not None:
            q = q.where(_E.c.pos <= upto)
        nh = len(_H.columns)
        out = []
        for row in tx.execute(q):
            values = tuple(row)
            step = StepRecord(*values[2 : 2 + nh])
            origin_values = values[2 + nh :]
            origin = None if origin_values[0] is None else OriginRecord(*origin_values)
            out.append(EventRecord(values[0], values[1], step, origin))
        return out

    def last(self, tx: sa.Connection) -> int:
        """The highest position written so far (0 for an empty feed)."""
        return int(tx.execute(sa.select(sa.func.max(_E.c.pos))).scalar() or 0)
