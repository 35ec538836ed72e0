"""Report statements (storage ring): grouped passes over cases and steps, and their extras.

Every figure is counted in the database with SQLAlchemy Core over ``gf_case`` and
``gf_history`` (counts, sums, percentiles), grouped by workflow, tag, unit and party (the
case columns a workflow's ``facets`` fill); the service adds up the groups of a unit's scope.
The statements name no workflow: which workflows, states, triggers and clocks count is passed
in by the caller (from the workflows' ``kpis:`` plans). A
:class:`~gridflow.domain.scope.Scope` becomes SQL here (``owns``, ``publishes``, ``hands``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridflow.domain import migration
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
    if scope.is_department:
        return party_col == scope.unit
    return sa.or_(_units(scope, unit_col), _units(scope, party_col))


def publishes(scope: Scope, unit_col: Any = None) -> Any:
    """:meth:`Scope.publishes` in SQL, over the case's unit (or the given column)."""
    unit_col = _C.unit if unit_col is None else unit_col
    if scope.unit is None:
        return sa.true()
    if scope.is_department:
        return _units(scope, unit_col)
    return sa.or_(_units(scope, unit_col), unit_col.in_(scope.reach or ()))


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


def _steps_of(cases: CaseSet, triggers: Sequence[str]) -> list[Any]:
    """Steps of ``triggers`` on ``cases`` (by the case's workflow and tag at the step)."""
    cond = [_H.trigger.in_(sorted(set(triggers))), _H.workflow_id == cases.workflow]
    if cases.tag is not None:
        cond.append(_H.case_tag == cases.tag)
    return cond


def _scope_of_steps(scope: Scope, cases: CaseSet) -> Any:
    """Steps counting for ``scope``: by the case's unit and party as the step left them."""
    if cases.published:
        return publishes(scope, _H.case_unit)
    return owns(scope, _H.case_unit, _H.case_party)


# ---- grouped passes -----------------------------------------------------------------------
@dataclass(slots=True)
class CaseGroup:
    """Case counters of one (workflow, tag, unit, party, state) group. ``open_still``: open at
    the period end and still in the state it was in then; ``missed[i]``: open on the i-th
    clock asked for, due in the period before now."""

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
    open_still: int
    late: int
    oldest: datetime | None
    missed: tuple[int, ...] = ()


@dataclass(slots=True)
class StepGroup:
    """Step counters of one (trigger, workflow, the case's tag, unit, party, grade) group:
    ``n`` steps, and ``counts[i]`` of them passing the i-th ``StepFilter`` asked for."""

    trigger: str
    workflow_id: str | None
    case_tag: str | None
    case_unit: str | None
    case_party: str | None
    case_grade: str | None
    n: int
    counts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StepFilter:
    """Steps entering one of ``to`` (None: any state) taken within ``within`` working seconds
    of entering the state they left (None: whenever)."""

    to: tuple[str, ...] | None = None
    within: float | None = None

    def sql(self) -> Any:
        cond: list[Any] = []
        if self.to is not None:
            cond.append(_H.to_state.in_(self.to))
        if self.within is not None:
            cond.append(_H.elapsed_s <= self.within)
        return sa.and_(sa.true(), *cond)


@dataclass(frozen=True, slots=True)
class StepAsk:
    """One count :meth:`KpiQueries.step_counts` makes (see there); build with
    :meth:`cases` or :meth:`deadlines`."""

    kind: str  # cases | deadlines
    triggers: tuple[str, ...] = ()  # the steps counted (deadlines: settled_by; () any)
    territory: bool = False
    running: tuple[str, ...] = ()
    pausing: tuple[str, ...] = ()
    settled_by: bool = False

    @classmethod
    def cases(cls, triggers: Sequence[str], territory: bool = False) -> StepAsk:
        return cls("cases", tuple(sorted(set(triggers))), territory)

    @classmethod
    def deadlines(
        cls, running: Sequence[str], pausing: Sequence[str], settled_by: Sequence[str] | None
    ) -> StepAsk:
        return cls(
            "deadlines",
            tuple(sorted(set(settled_by or ()))),
            running=tuple(sorted(running)),
            pausing=tuple(sorted(pausing)),
            settled_by=settled_by is not None,
        )


class KpiQueries:
    """The report's statements, bound to one (read) transaction: ``Store.kpi(tx)``. They
    name no workflow, state or trigger: the caller passes them."""

    def __init__(self, tx: sa.Connection, dialect: str):
        self.tx, self.dialect = tx, dialect

    def case_groups(
        self, period: Period, now: datetime, *, clocks: Sequence[str] = ()
    ) -> list[CaseGroup]:
        """Every case counter, grouped by (workflow, tag, unit, party, state) — the order
        of the ``ix_gf_case_kpi`` index, which holds every column read. ``clocks``: the
        clocks whose missed deadlines to count (open on that clock, due in the period
        before ``now``, not paused — or paused already past due)."""
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
        missed = sa.and_(
            _C.closed_at.is_(None),
            _C.due_at >= period.start,
            _C.due_at < min(end, now),
            sa.or_(_C.paused_at.is_(None), _C.paused_remaining < 0),
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
                count_if(sa.and_(open_at_end, _C.entered_at < end)).label("open_still"),
                count_if(late).label("late"),
                sa.func.min(_C.due_at).filter(late).label("oldest"),
                *(
                    count_if(sa.and_(missed, _C.clock == clock)).label(f"missed_{i}")
                    for i, clock in enumerate(clocks)
                ),
            ).group_by(*keys)
        )
        out = []
        for r in rows:
            m = r._mapping
            base = {k: m[k] for k in CaseGroup.__dataclass_fields__ if k != "missed"}
            out.append(
                CaseGroup(**base, missed=tuple(int(m[f"missed_{i}"]) for i in range(len(clocks))))
            )
        return out

    def moved_groups(self, period: Period) -> list[tuple[Any, ...]]:
        """Cases open at the period end that have moved since (or whose state entry is not
        recorded), as (workflow, tag, unit, party, state at the end, count): the state at
        the end is the ``to_state`` of the case's last step before it."""
        end = period.end
        state_at_end = (
            sa.select(_H.to_state)
            .where(_H.case_id == _C.id, _H.at < end)
            .order_by(_H.seq.desc())
            .limit(1)
            .scalar_subquery()
            .label("state_at_end")
        )
        inner = (
            sa.select(_C.workflow_id, _C.tag, _C.unit, _C.party, state_at_end)
            .where(
                _C.created_at < end,
                sa.or_(_C.closed_at.is_(None), _C.closed_at >= end),
                sa.or_(_C.entered_at.is_(None), _C.entered_at >= end),
            )
            .subquery()
        )
        c = inner.c
        keys = (c.workflow_id, c.tag, c.unit, c.party, c.state_at_end)
        rows = self.tx.execute(sa.select(*keys, sa.func.count()).group_by(*keys))
        return [tuple(r) for r in rows]

    def step_groups(
        self, period: Period, *, triggers: Sequence[str], filters: Sequence[StepFilter] = ()
    ) -> list[StepGroup]:
        """The period's steps of ``triggers``, grouped by (trigger, workflow, the case's
        tag, unit, party and grade at the step) — the order of the ``ix_gf_history_kpi``
        index, which holds every column read — with a count per filter."""
        if not triggers:
            return []
        keys = (_H.trigger, _H.workflow_id, _H.case_tag, _H.case_unit, _H.case_party, _H.case_grade)
        rows = self.tx.execute(
            sa.select(
                *keys,
                sa.func.count().label("n"),
                *(count_if(f.sql()).label(f"f{i}") for i, f in enumerate(filters)),
            )
            .where(_H.trigger.in_(sorted(set(triggers))), within(_H.at, period))
            .group_by(*keys)
        )
        return [
            StepGroup(*r[:7], counts=tuple(int(x) for x in r[7:]))  # type: ignore[misc]
            for r in rows
        ]

    def step_counts(
        self, scope: Scope, period: Period, cases: CaseSet, asks: Sequence[StepAsk]
    ) -> list[tuple[int, ...]]:
        """Several counts over the steps of ``cases`` in one statement (one range of the
        ``ix_gf_history_kpi`` index): for each ask, in order —

        * ``StepAsk.cases(triggers, territory)`` → ``(n,)``: distinct cases with a step of
          ``triggers`` in the period (``territory``: taken by a unit of the scope's territory,
          else counted by the case's unit and party at the step);
        * ``StepAsk.deadlines(running, pausing, settled_by)`` → ``(settled, on_time)``: one per
          step out of a state running a clock (``running``) that settles it — a step of
          ``settled_by``, or (None) any step into a state neither running nor pausing it
          (a move onto a new revision, ``migrate``, settles none) —
          whose deadline in force (``gf_history.due_at``) fell in the period, whenever taken;
          on time when not late."""
        if not asks:
            return []
        mine = _scope_of_steps(scope, cases)
        cols: list[Any] = []
        triggers: set[str] = set()
        any_trigger = False
        for ask in asks:
            if ask.kind == "cases":
                who = hands(scope, _H.actor_unit) if ask.territory else mine
                cond = sa.and_(_H.trigger.in_(sorted(ask.triggers)), within(_H.at, period), who)
                cols.append(sa.func.count(sa.distinct(_H.case_id)).filter(cond))
            else:
                settles = (
                    _H.trigger.in_(sorted(ask.triggers))
                    if ask.settled_by  # a move onto a new revision settles no deadline
                    else sa.and_(
                        _H.to_state.not_in(sorted({*ask.running, *ask.pausing})),
                        _H.trigger != migration.TRIGGER,
                    )
                )
                cond = sa.and_(
                    _H.from_state.in_(sorted(ask.running)),
                    within(_H.due_at, period),
                    settles,
                    mine,
                )
                cols += [count_if(cond), count_if(sa.and_(cond, _H.late_s.is_(None)))]
            triggers.update(ask.triggers)
            any_trigger |= not ask.triggers
        # one range of the index: the triggers asked for (any, for a default deadline)
        where = [_H.workflow_id == cases.workflow]
        if not any_trigger:
            where.insert(0, _H.trigger.in_(sorted(triggers)))
        if cases.tag is not None:
            where.append(_H.case_tag == cases.tag)
        row = self.tx.execute(sa.select(*cols).where(*where)).one()
        out, i = [], 0
        for ask in asks:
            width = 1 if ask.kind == "cases" else 2
            out.append(tuple(int(x) for x in row[i : i + width]))
            i += width
        return out

    def steps_by_actor_unit(
        self, period: Period, cases: CaseSet, *, triggers: Sequence[str]
    ) -> dict[str | None, int]:
        """Steps of ``triggers`` on ``cases`` in the period, by the unit they were taken for."""
        rows = self.tx.execute(
            sa.select(_H.actor_unit, sa.func.count())
            .where(*_steps_of(cases, triggers), within(_H.at, period))
            .group_by(_H.actor_unit)
        )
        return {unit: int(n) for unit, n in rows}

    def opened_with_step(
        self,
        scope: Scope,
        period: Period,
        cases: CaseSet,
        *,
        triggers: Sequence[str],
        territory: bool,
    ) -> int:
        """``cases`` created in the period with a step of ``triggers`` (``territory``: taken
        by a unit of the scope's territory) before the period's end (from the steps' index
        entries, each joined to its case)."""
        who = hands(scope, _H.actor_unit) if territory else sa.true()
        return int(
            self.tx.execute(
                sa.select(sa.func.count(sa.distinct(_H.case_id)))
                .select_from(t.history_t.join(t.case_t, _C.id == _H.case_id))
                .where(
                    *_steps_of(cases, triggers),
                    who,
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
        states: Sequence[str] | None,
        frac: tuple[int, int],
        n: int | None = None,
    ) -> float | None:
        """The continuous percentile ``frac`` of the working seconds of ``cases`` closed in
        the period (in one of ``states``; None: any) (``n``: how many such cases, when
        known)."""
        where = sa.and_(of_set(scope, cases), within(_C.closed_at, period))
        if states is not None:
            where = sa.and_(where, _C.state.in_(sorted(states)))
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
        self, scope: Scope, period: Period, cases: CaseSet, *, trigger: str, limit: int
    ) -> list[dict[str, Any]]:
        """The scope's ``trigger`` steps (hands) on ``cases`` in the period with their cases,
        oldest first: each case listed with ``hand_at`` and ``hand_unit``."""
        rows = self.tx.execute(
            sa.select(*_LISTED, _H.at.label("hand_at"), _H.actor_unit)
            .select_from(t.history_t.join(t.case_t, _C.id == _H.case_id))
            .where(
                *_steps_of(cases, [trigger]),
                hands(scope, _H.actor_unit),
                within(_H.at, period),
            )
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

    def steps_of_units(self, units: Sequence[str]) -> dict[str, int]:
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
