"""Case and history statements (storage ring): load, insert, update, append, find.

Every method runs inside the caller's transaction (``tx``, from ``Store.write``/``read``) and
returns typed records (:mod:`gridflow.storage.records`), never database rows. The hot path's
statements are built once, with bound parameters: building a statement per call, and
SQLAlchemy deriving its cache key, cost more than running it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.feed import FeedStore
from gridflow.storage.jsoncodec import json_dumps
from gridflow.storage.records import CaseRecord, OriginRecord, StepRecord
from gridflow.storage.types import UTCDateTime

_C = t.case_t
_H = t.history_t
LOAD = sa.select(_C).where(_C.c.id == sa.bindparam("b_id"))
LOAD_LOCKED = LOAD.with_for_update()
UPDATE = _C.update().where(
    _C.c.id == sa.bindparam("b_id"), _C.c.version == sa.bindparam("b_version")
)
INSERT = _C.insert()
INSERT_HISTORY = _H.insert()
_O = t.origin_t
INSERT_ORIGIN = _O.insert()
HISTORY = sa.select(_H).where(_H.c.case_id == sa.bindparam("b_id")).order_by(_H.c.seq)

# how a value of each case column comes back from the database (see CaseStore.as_updated)
_KINDS: dict[str, Any] = {
    c.name: "time"
    if isinstance(c.type, UTCDateTime)
    else "json"
    if isinstance(c.type, sa.JSON)
    else bool
    if isinstance(c.type, sa.Boolean)
    else float
    if isinstance(c.type, sa.Float)
    else int
    if isinstance(c.type, sa.Integer)
    else str
    for c in _C.columns
}
_FIELDS = tuple(c.key for c in _C.columns)  # CaseRecord's fields, in order


def like_escape(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``): ``_`` and ``%``
    are wildcards, and unit ids may contain ``_``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def subtree(column: Any, path: str) -> Any:
    """``column`` (a materialised org path) is ``path`` or below it."""
    return sa.or_(column == path, column.like(like_escape(path) + "/%", escape="\\"))


class CaseStore:
    """Statements over ``gf_case`` and ``gf_history``."""

    def __init__(self, is_sqlite: bool):
        self._lock_rows = not is_sqlite  # SQLite: the write transaction is the lock
        self.feed = FeedStore(is_sqlite)  # every step is also an event of the change feed

    # ---- one case ------------------------------------------------------------------------
    def load(
        self, tx: sa.Connection, case_id: int, *, for_update: bool = False
    ) -> CaseRecord | None:
        """The case, or None. ``for_update`` locks its row (PostgreSQL) until commit."""
        q = LOAD_LOCKED if for_update and self._lock_rows else LOAD
        row = tx.execute(q, {"b_id": case_id}).first()
        return None if row is None else CaseRecord(*row)

    def load_many(self, tx: sa.Connection, case_ids: list[int]) -> dict[int, CaseRecord]:
        """The cases of ``case_ids`` that exist, by id (one statement)."""
        rows = tx.execute(sa.select(_C).where(_C.c.id.in_(case_ids)))
        return {r.id: CaseRecord(*r) for r in rows}

    def insert(self, tx: sa.Connection, values: Mapping[str, Any]) -> int:
        """A new case; its id."""
        key = tx.execute(INSERT, dict(values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def update(
        self, tx: sa.Connection, case_id: int, version: int, values: Mapping[str, Any]
    ) -> bool:
        """Apply ``values`` (plain values, no SQL expressions) if the case is still at
        ``version``; False if it moved on."""
        res = tx.execute(UPDATE, {"b_id": case_id, "b_version": version, **values})
        return res.rowcount == 1

    def set_columns(self, tx: sa.Connection, case_id: int, values: Mapping[str, Any]) -> None:
        """Overwrite columns of a case whatever its version (its own transaction owns it)."""
        tx.execute(_C.update().where(_C.c.id == case_id).values(**values))

    @staticmethod
    def as_updated(record: CaseRecord, values: Mapping[str, Any]) -> CaseRecord:
        """``record`` as reading it back after ``update(…, values)`` would give — without
        the read: each new value goes through its column type as it is stored and read back
        (aware UTC datetimes, JSON text and back, bool, float)."""
        merged = CaseRecord(*[getattr(record, name) for name in _FIELDS])
        for key, value in values.items():
            if value is not None:
                kind = _KINDS.get(key)
                if kind == "time":
                    value = (
                        value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
                    )
                elif kind == "json":
                    value = json.loads(json_dumps(value))
                elif kind is not None:
                    value = kind(value)
            setattr(merged, key, value)
        return merged

    # ---- history -------------------------------------------------------------------------
    def append_step(
        self,
        tx: sa.Connection,
        values: Mapping[str, Any],
        origin: Mapping[str, Any] | None = None,
    ) -> None:
        """A history row, and where it came from (``origin``: the columns of
        ``gf_step_origin`` but the key) when the step was taken on a caller's behalf; and
        its change-feed event (:mod:`gridflow.storage.feed`)."""
        tx.execute(INSERT_HISTORY, dict(values))
        self.feed.record(tx, values["case_id"], values["seq"], values["at"])
        if origin is not None:
            key = {"case_id": values["case_id"], "seq": values["seq"]}
            tx.execute(INSERT_ORIGIN, {**origin, **key})

    def append_steps(self, tx: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """History rows of system steps (no origin), in one statement, and their
        change-feed events in another."""
        if rows:
            tx.execute(INSERT_HISTORY, [dict(r) for r in rows])
            events = [{"case_id": r["case_id"], "seq": r["seq"], "at": r["at"]} for r in rows]
            self.feed.record_many(tx, events)

    def bump_versions(
        self, tx: sa.Connection, bumps: Sequence[tuple[int, int, int, datetime]]
    ) -> int:
        """(case id, version it is at, version it goes to, when) each, in one statement;
        how many cases were still at their version (all of them, unless one moved on)."""
        if not bumps:
            return 0
        params = [
            {"b_id": i, "b_version": old, "version": new, "updated_at": at}
            for i, old, new, at in bumps
        ]
        return int(tx.execute(UPDATE, params).rowcount)

    def origins(self, tx: sa.Connection, case_id: int) -> dict[int, OriginRecord]:
        """Where each step of the case came from, by seq (system steps have none)."""
        rows = tx.execute(sa.select(_O).where(_O.c.case_id == case_id))
        return {r.seq: OriginRecord(*r) for r in rows}

    def history(self, tx: sa.Connection, case_id: int) -> list[StepRecord]:
        return [StepRecord(*r) for r in tx.execute(HISTORY, {"b_id": case_id})]

    def steps_since(
        self, tx: sa.Connection, case_id: int, since: datetime
    ) -> list[tuple[str, str]]:
        """(trigger, to_state) of the case's steps at or after ``since``."""
        rows = tx.execute(
            sa.select(_H.c.trigger, _H.c.to_state).where(_H.c.case_id == case_id, _H.c.at >= since)
        )
        return [(r.trigger, r.to_state) for r in rows]

    def step_counts(
        self, tx: sa.Connection, case_id: int, triggers: Iterable[str]
    ) -> dict[str, int]:
        """How many steps of each of ``triggers`` the case's history holds (``max:`` limits
        are counted from the history, not from a field kept by hand)."""
        wanted = sorted(set(triggers))
        if not wanted:
            return {}
        rows = tx.execute(
            sa.select(_H.c.trigger, sa.func.count())
            .where(_H.c.case_id == case_id, _H.c.trigger.in_(wanted))
            .group_by(_H.c.trigger)
        )
        return {trigger: 0 for trigger in wanted} | {r[0]: int(r[1]) for r in rows}

    # ---- families ------------------------------------------------------------------------
    def children(
        self, tx: sa.Connection, case_id: int, group: int | None = None
    ) -> list[CaseRecord]:
        q = sa.select(_C).where(_C.c.parent_id == case_id)
        if group is not None:
            q = q.where(_C.c.spawn_group == group)
        return [CaseRecord(*r) for r in tx.execute(q.order_by(_C.c.id))]

    def open_siblings(self, tx: sa.Connection, parent_id: int, group: int | None) -> int:
        """Cases of the spawn ``group`` of ``parent_id`` that are not closed."""
        return int(
            tx.execute(
                sa.select(sa.func.count()).where(
                    _C.c.parent_id == parent_id,
                    _C.c.spawn_group == group,
                    _C.c.closed_at.is_(None),
                )
            ).scalar_one()
        )

    # ---- many cases ----------------------------------------------------------------------
    def find(
        self,
        tx: sa.Connection,
        *,
        workflow: str | None = None,
        state: str | None = None,
        unit_path: str | None = None,
        text: str | None = None,
        open_only: bool = False,
        overdue_at: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CaseRecord]:
        """Cases matching every filter given, newest first. ``unit_path``: that unit and
        below; ``text``: in the title or the data; ``overdue_at``: open, running and past
        their deadline at that moment."""
        q = sa.select(_C)
        if workflow:
            q = q.where(_C.c.workflow_id == workflow)
        if state:
            q = q.where(_C.c.state == state)
        if unit_path:
            q = q.where(subtree(_C.c.unit_path, unit_path))
        if text:
            like = "%" + like_escape(text) + "%"
            q = q.where(
                sa.or_(
                    _C.c.title.like(like, escape="\\"),
                    sa.cast(_C.c.data, sa.String).like(like, escape="\\"),
                )
            )
        if open_only:
            q = q.where(_C.c.closed_at.is_(None))
        if overdue_at is not None:
            q = q.where(_late(overdue_at))
        rows = tx.execute(q.order_by(_C.c.id.desc()).limit(limit).offset(offset))
        return [CaseRecord(*r) for r in rows]

    def overdue(self, tx: sa.Connection, now: datetime) -> list[CaseRecord]:
        """Open cases past their running clock's deadline, by unit then deadline."""
        rows = tx.execute(sa.select(_C).where(_late(now)).order_by(_C.c.unit, _C.c.due_at))
        return [CaseRecord(*r) for r in rows]

    def open_provisional(self, tx: sa.Connection) -> list[CaseRecord]:
        """Open cases whose deadline was computed without holiday data."""
        rows = tx.execute(
            sa.select(_C).where(_C.c.closed_at.is_(None), _C.c.due_provisional.is_(True))
        )
        return [CaseRecord(*r) for r in rows]

    def count_open_provisional(self, tx: sa.Connection) -> int:
        return int(
            tx.execute(
                sa.select(sa.func.count()).where(
                    _C.c.closed_at.is_(None), _C.c.due_provisional.is_(True)
                )
            ).scalar_one()
        )


def _late(now: datetime) -> Any:
    """Open, not paused, and past the deadline at ``now``."""
    return sa.and_(
        _C.c.closed_at.is_(None),
        _C.c.paused_at.is_(None),
        _C.c.due_at.is_not(None),
        _C.c.due_at < now,
    )
