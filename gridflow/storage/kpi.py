"""Report statements (storage ring): grouped passes over cases and steps, and their extras.

Every figure is counted in the database with SQLAlchemy Core over ``gf_case`` and
``gf_history`` (counts, sums, one percentile), grouped by workflow, tag, unit and party (the
case columns a workflow's ``facets`` fill); the service adds up the groups of a unit's scope.
The statements name no workflow: which workflows, states, triggers and clocks count is passed
in by the caller. A :class:`~gridflow.domain.scope.Scope` becomes SQL here (``owns``,
``publishes``, ``hands``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.domain.period import Period
from gridflow.domain.scope import CaseSet, Scope
from gridflow.storage import schema as t

_C = t.case_t.c
_H = t.history_t.c


# ---- building blocks ----------------------------------------------------------------------
def count_if(cond: Any) -> Any:
    """``COUNT(*) FILTER (WHERE cond)``: how many rows satisfy ``cond`` (0 when none)."""
    return sa.func.count().filter(cond)


def sum_if(cond: Any) -> Any:
    """``SUM(CASE WHEN cond THEN 1 ELSE 0 END)``: how many rows satisfy ``cond``."""
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def within(col: Any, period: Period) -> Any:
    return sa.and_(col >= period.start, col < period.end)


def _units(scope: Scope, col: Any) -> Any:
    return sa.true() if scope.units is None else col.in_(sorted(scope.units))


def owns(scope: Scope, unit_col: Any = None, party_col: Any = None) -> Any:
    """:meth:`Scope.owns` in SQL: over the case columns, or the given (history) columns."""
    unit_col = _C.unit if unit_col is None else unit_col
    party_col = _C.party if party_col is None else party_col
    if scope.unit is None:
        return sa.true()
    return party_col == scope.unit if scope.is_department else _units(scope, unit_col)


def publishes(scope: Scope) -> Any:
    """:meth:`Scope.publishes` in SQL, over the case's unit."""
    if scope.unit is None:
        return sa.true()
    if scope.is_department:
        return _units(scope, _C.unit)
    return sa.or_(_units(scope, _C.unit), _C.unit.in_(scope.reach or ()))


def hands(scope: Scope, col: Any) -> Any:
    """Hands (history ``actor_unit``) that count for this scope."""
    return sa.true() if scope.territory is None else col.in_(scope.territory)


def of_set(scope: Scope, cases: CaseSet) -> Any:
    """The cases of ``cases`` that count for ``scope``, over the case columns."""
    cond = [_C.workflow_id == cases.workflow]
    if cases.tag is not None:
        cond.append(_C.tag == cases.tag)
    cond.append(publishes(scope) if cases.published else owns(scope))
    return sa.and_(*cond)


def _steps_of(cases: CaseSet, trigger: str) -> list[Any]:
    """Steps of ``trigger`` on ``cases`` (by the case's workflow and tag at the step)."""
    cond = [_H.trigger == trigger, _H.workflow_id == cases.workflow]
    if cases.tag is not None:
        cond.append(_H.case_tag == cases.tag)
    return cond


# ---- grouped passes -----------------------------------------------------------------------
@dataclass(slots=True)
class CaseGroup:
    """Case counters of one (workflow, tag, unit, party, state) group."""

    workflow_id: str
    tag: str | None
    unit: str | None
    party: str | None
    state: str
    created: int
    closed: int
    open_at_end: int
    created_closed: int
    work_sum: float | None
    work_n: int
    missed_open: int
    held: int
    late: int
    oldest: datetime | None


@dataclass(slots=True)
class StepGroup:
    """Step counters of one (trigger, workflow, the case's tag, unit, party, grade) group."""

    trigger: str
    workflow_id: str | None
    case_tag: str | None
    case_unit: str | None
    case_party: str | None
    case_grade: str | None
    n: int
    reached: int  # steps that entered the ``reached`` state
    fast: int  # steps taken within the ``fast`` working seconds of entering their state


class KpiQueries:
    """The report's statements, bound to one (read) transaction: ``Store.kpi(tx)``."""

    def __init__(self, tx: sa.Connection, dialect: str):
        self.tx, self.dialect = tx, dialect

    def case_groups(
        self,
        period: Period,
        now: datetime,
        *,
        hold: tuple[str, Sequence[str]],
        missed_clock: str,
    ) -> list[CaseGroup]:
        """Every case counter, grouped by (workflow, tag, unit, party, state) — the order
        of the ``ix_gf_case_kpi`` index, which holds every column read.

        ``held``: cases of workflow ``hold[0]`` open at the period end in one of the states
        ``hold[1]`` at that moment (the current state, unless the case moved since the end;
        then its last history row before the end). ``missed_open``: open cases whose
        ``missed_clock`` deadline fell due in the period (before ``now``) and still runs."""
        end = period.end
        closed_in = within(_C.closed_at, period)
        open_at_end = sa.and_(
            _C.created_at < end, sa.or_(_C.closed_at.is_(None), _C.closed_at >= end)
        )
        late = sa.and_(
            _C.closed_at.is_(None),
            _C.paused_at.is_(None),
            _C.due_at.is_not(None),
            _C.due_at < now,
        )
        hold_workflow, hold_states = hold
        state_at_end = (
            sa.select(_H.to_state)
            .where(_H.case_id == _C.id, _H.at < end)
            .order_by(_H.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        held = sa.and_(
            _C.workflow_id == hold_workflow,
            open_at_end,
            sa.or_(
                sa.and_(_C.entered_at < end, _C.state.in_(hold_states)),
                sa.and_(
                    sa.or_(_C.entered_at.is_(None), _C.entered_at >= end),
                    state_at_end.in_(hold_states),
                ),
            ),
        )
        keys = (_C.workflow_id, _C.tag, _C.unit, _C.party, _C.state)
        rows = self.tx.execute(
            sa.select(
                *keys,
                count_if(within(_C.created_at, period)).label("created"),
                count_if(closed_in).label("closed"),
                count_if(open_at_end).label("open_at_end"),
                count_if(sa.and_(within(_C.created_at, period), _C.closed_at < end)).label(
                    "created_closed"
                ),
                sa.func.sum(_C.work_seconds).filter(closed_in).label("work_sum"),
                sa.func.count(_C.work_seconds).filter(closed_in).label("work_n"),
                count_if(
                    sa.and_(
                        _C.closed_at.is_(None),
                        _C.clock == missed_clock,
                        _C.due_at >= period.start,
                        _C.due_at < min(end, now),
                        sa.or_(_C.paused_at.is_(None), _C.paused_remaining < 0),
                    )
                ).label("missed_open"),
                count_if(held).label("held"),
                count_if(late).label("late"),
                sa.func.min(_C.due_at).filter(late).label("oldest"),
            ).group_by(*keys)
        )
        return [CaseGroup(**r._mapping) for r in rows]

    def step_groups(
        self,
        period: Period,
        *,
        triggers: Sequence[str],
        reached: str,
        fast: float,
    ) -> list[StepGroup]:
        """The period's steps of ``triggers``, grouped by (trigger, workflow, the case's
        tag, unit, party and grade at the step) — the order of the ``ix_gf_history_kpi``
        index, which holds every column read."""
        keys = (_H.trigger, _H.workflow_id, _H.case_tag, _H.case_unit, _H.case_party, _H.case_grade)
        rows = self.tx.execute(
            sa.select(
                *keys,
                sa.func.count().label("n"),
                count_if(_H.to_state == reached).label("reached"),
                count_if(_H.elapsed_s <= fast).label("fast"),
            )
            .where(_H.trigger.in_(triggers), within(_H.at, period))
            .group_by(*keys)
        )
        return [StepGroup(*r) for r in rows]

    def answers(
        self,
        scope: Scope,
        period: Period,
        cases: CaseSet,
        *,
        trigger: str,
        clocked_from: Sequence[str],
    ) -> tuple[int, int, int]:
        """(deadlines, on time, cases answered) of ``trigger`` steps on ``cases``: one per
        deadline in force that fell due in the period, taken from a ``clocked_from`` state
        (whenever taken), on time when not late; each case answered in the period counted
        once, however often (or by whom) answered."""
        clocked = sa.and_(_H.from_state.in_(clocked_from), within(_H.due_at, period))
        cond = _steps_of(cases, trigger)
        row = self.tx.execute(
            sa.select(
                count_if(clocked).label("clocked"),
                count_if(sa.and_(clocked, _H.late_s.is_(None))).label("on_time"),
                sa.func.count(sa.distinct(_H.case_id)).filter(within(_H.at, period)),
            ).where(*cond, owns(scope, _H.case_unit, _H.case_party))
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def hands_by_unit(
        self, period: Period, cases: CaseSet, *, trigger: str
    ) -> dict[str | None, int]:
        """``trigger`` steps on ``cases`` in the period, by the unit they were taken for."""
        cond = _steps_of(cases, trigger)
        rows = self.tx.execute(
            sa.select(_H.actor_unit, sa.func.count())
            .where(*cond, within(_H.at, period))
            .group_by(_H.actor_unit)
        )
        return {unit: int(n) for unit, n in rows}

    def responded(self, scope: Scope, period: Period, cases: CaseSet, *, trigger: str) -> int:
        """``cases`` created in the period with a ``trigger`` step of the scope's territory
        before the period's end (from the steps' index entries, each joined to its case)."""
        cond = _steps_of(cases, trigger)
        return int(
            self.tx.execute(
                sa.select(sa.func.count(sa.distinct(_H.case_id)))
                .select_from(t.history_t.join(t.case_t, _C.id == _H.case_id))
                .where(
                    *cond,
                    hands(scope, _H.actor_unit),
                    _H.at < period.end,
                    within(_C.created_at, period),
                    of_set(scope, cases),
                )
            ).scalar_one()
        )

    def work_percentile(
        self,
        scope: Scope,
        period: Period,
        cases: CaseSet,
        *,
        state: str,
        frac: tuple[int, int],
        n: int | None = None,
    ) -> float | None:
        """The continuous percentile ``frac`` of the working seconds of ``cases`` closed in
        ``state`` in the period (``n``: how many such cases, when known)."""
        where = sa.and_(of_set(scope, cases), _C.state == state, within(_C.closed_at, period))
        return self.percentile(_C.work_seconds, where, frac=frac, n=n)

    def percentile(
        self, column: Any, where: Any, *, frac: tuple[int, int], n: int | None
    ) -> float | None:
        """The continuous percentile (PostgreSQL's ``percentile_cont``) of ``column`` over
        rows matching ``where``. SQLite: a count (or ``n``, the number of such rows with a
        value, when known), then the two neighbouring values at the rank (ORDER BY … LIMIT
        2 OFFSET k) and linear interpolation — the same number ``percentile_cont`` gives."""
        num, den = frac
        if self.dialect == "postgresql":
            value = self.tx.execute(
                sa.select(sa.func.percentile_cont(num / den).within_group(column.asc())).where(
                    where, column.is_not(None)
                )
            ).scalar()
            return None if value is None else float(value)
        if n is None:
            n = self.tx.execute(
                sa.select(sa.func.count()).where(where, column.is_not(None))
            ).scalar_one()
        if not n:
            return None
        k, rem = divmod((n - 1) * num, den)
        pair = [
            float(r[0])
            for r in self.tx.execute(
                sa.select(column)
                .where(where, column.is_not(None))
                .order_by(column)
                .limit(2)
                .offset(k)
            )
        ]
        if rem == 0 or len(pair) == 1:
            return pair[0]
        return pair[0] + (pair[1] - pair[0]) * rem / den

    # ---- lists for the yearly page -------------------------------------------------------
    def monthly(
        self,
        scope: Scope,
        sets: Sequence[CaseSet],
        months: Sequence[tuple[str, datetime, datetime]],
    ) -> list[dict[str, Any]]:
        """Cases of ``sets`` opened and closed in each month."""
        cols = []
        for i, (_label, a, b) in enumerate(months):
            cols.append(sum_if(sa.and_(_C.created_at >= a, _C.created_at < b)).label(f"o{i}"))
            cols.append(sum_if(sa.and_(_C.closed_at >= a, _C.closed_at < b)).label(f"c{i}"))
        mine = sa.or_(*(of_set(scope, s) for s in sets))
        row = self.tx.execute(sa.select(*cols).where(mine)).one()._mapping
        return [
            {"month": label, "opened": int(row[f"o{i}"]), "closed": int(row[f"c{i}"])}
            for i, (label, _a, _b) in enumerate(months)
        ]

    def states(self, scope: Scope, sets: Sequence[CaseSet], period: Period) -> list[dict[str, Any]]:
        """Cases of ``sets`` created in the period, by workflow and current state, most first."""
        mine = sa.or_(*(of_set(scope, s) for s in sets))
        rows = self.tx.execute(
            sa.select(_C.workflow_id, _C.state, sa.func.count().label("n"))
            .where(mine, within(_C.created_at, period))
            .group_by(_C.workflow_id, _C.state)
            .order_by(sa.func.count().desc(), _C.workflow_id, _C.state)
        )
        return [{"workflow": r.workflow_id, "state": r.state, "count": int(r.n)} for r in rows]

    def listing(
        self, scope: Scope, cases: CaseSet, period: Period, limit: int
    ) -> list[dict[str, Any]]:
        """``cases`` created in the period, oldest first (at most ``limit``)."""
        rows = self.tx.execute(
            _LISTING.where(of_set(scope, cases), within(_C.created_at, period))
            .order_by(_C.created_at, _C.id)
            .limit(limit)
        )
        return [_listed(r) for r in rows]

    def hands_listing(
        self, scope: Scope, period: Period, *, trigger: str, limit: int
    ) -> list[dict[str, Any]]:
        """The scope's ``trigger`` steps (hands) in the period with their cases, oldest
        first: each case listed with ``hand_at`` and ``hand_unit``."""
        rows = self.tx.execute(
            sa.select(*_LISTED, _H.at.label("hand_at"), _H.actor_unit)
            .select_from(t.history_t.join(t.case_t, _C.id == _H.case_id))
            .where(_H.trigger == trigger, hands(scope, _H.actor_unit), within(_H.at, period))
            .order_by(_H.at, _C.id)
            .limit(limit)
        )
        out = []
        for r in rows:
            item = _listed(r)
            item["hand_at"] = r.hand_at
            item["hand_unit"] = r.actor_unit
            out.append(item)
        return out

    def steps_by_actor_unit(self, units: Sequence[str]) -> dict[str, int]:
        """How many steps were taken for each of ``units`` (all time)."""
        rows = self.tx.execute(
            sa.select(_H.actor_unit, sa.func.count())
            .where(_H.actor_unit.in_(list(units)))
            .group_by(_H.actor_unit)
        )
        return {unit: int(n) for unit, n in rows}


_LISTED = (
    _C.id,
    _C.workflow_id,
    _C.state,
    _C.title,
    _C.unit,
    _C.data,
    _C.created_at,
    _C.closed_at,
)
_LISTING = sa.select(*_LISTED)


def _listed(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "workflow": r.workflow_id,
        "state": r.state,
        "title": r.title,
        "unit": r.unit,
        "data": dict(r.data or {}),
        "created_at": r.created_at,
        "closed_at": r.closed_at,
    }
