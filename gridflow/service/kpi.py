"""KPIs of the four-list method and the two-way raise hand, as SQL aggregates (storage ring).

Every figure is counted in the database with SQLAlchemy Core over ``gf_case`` and
``gf_history`` (counts, sums, one percentile), grouped by workflow, tag, unit and party (the
case columns a workflow's ``facets`` fill); Python adds up the groups of the unit's scope.
The formulas, with their denominators, are in ``docs/kpis.md``; the names here match the keys
of the dict :func:`compute` returns.

A unit's scope is the unit and the units below it in the org directory.
A *department* as the unit is read as "the department's work": four-list problems it leads,
grid questions addressed to it, questions it published, overdue cases it must act on.
Periods are half-open ``[start, end)`` in UTC, built from local dates (Asia/Shanghai).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from gridflow.errors import NotFound, PeriodError
from gridflow.storage import tables as t

WORKDAY_S = 7.5 * 3600  # one working day (08:30–11:30, 13:00–17:30) in seconds
SIGN_LIMIT_S = 27000.0  # a department signs for a dispatched question within 1 working day
P90 = (9, 10)  # the percentile, as a fraction (exact integer arithmetic for the rank)

HOLD_STATES = ("hold_requested", "on_hold", "review")
ANSWER_CLOCK_STATES = ("signed", "answering")  # an ``answer`` step from these ran on the clock
DISPATCH_TRIGGERS = ("dispatch", "dispatch_direct", "redispatch")
# the states in which a department owes the next move (overdue league by department)
DEPT_STATES = {
    "raise_hand": ("dispatched", "signed", "answering", "supervised", "selecting"),
    "four_list": ("in_progress",),
}


# ---- periods ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` of aware UTC datetimes.

    ``label`` ("2026Q1", "2026-03", "2026", "2026-01-05..2026-02-10") and ``tz`` (the zone
    the local dates were read in) do not take part in equality.
    """

    start: datetime
    end: datetime
    label: str = field(default="", compare=False)
    tz: str = field(default="Asia/Shanghai", compare=False)

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise PeriodError(f"Period.{name} must be an aware datetime")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise PeriodError(f"the period ends ({self.end}) before it starts ({self.start})")

    # ---- constructors
    @classmethod
    def parse(
        cls,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
        tz: str = "Asia/Shanghai",
        *,
        now: datetime | None = None,
    ) -> Period:
        """``"2026Q1"``, ``"2026H2"``, ``"2026-03"``, ``"2026"``; or ``start``/``end`` as dates
        (``end`` inclusive: the whole day) or ISO datetimes (``end`` exclusive), read in ``tz``.

        With ``start`` only, the period runs to ``now``; with nothing, it is the year of ``now``
        so far (``now`` defaults to the wall clock)."""
        zone = _zone(tz)
        if period and (start or end):
            raise PeriodError("give either a period (2026Q1) or --from/--to dates, not both")
        if period:
            return cls._named(period.strip(), zone)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if start is None and end is None:
            year = now.astimezone(zone).year
            p = cls.year(year, zone.key)
            return cls(p.start, max(min(p.end, now), p.start + timedelta(seconds=1)), p.label, p.tz)
        if start is None:
            raise PeriodError("--to needs --from (or give a period such as 2026Q1)")
        a = _moment(start, zone, end_of_day=False)
        b = _moment(end, zone, end_of_day=True) if end else now
        if b <= a:
            raise PeriodError(
                f"the period {start}..{end or 'now'} is empty (it ends before it starts)"
            )
        return cls(a, b, f"{start}..{end or 'now'}", zone.key)

    @classmethod
    def year(cls, year: int, tz: str = "Asia/Shanghai") -> Period:
        zone = _zone(tz)
        return cls(
            _local(date(year, 1, 1), zone), _local(date(year + 1, 1, 1), zone), str(year), zone.key
        )

    @classmethod
    def _named(cls, text: str, zone: ZoneInfo) -> Period:
        m = re.fullmatch(r"(\d{4})(?:[-]?(?:([QqHh])(\d)|(\d{1,2})))?", text)
        if not m:
            raise PeriodError(
                f"period {text!r} is not a year, half, quarter or month "
                "(e.g. 2026, 2026H1, 2026Q1, 2026-03)"
            )
        year = int(m[1])
        if m[2]:
            n, per = int(m[3]), {"q": 4, "h": 2}[m[2].lower()]
            if not 1 <= n <= per:
                raise PeriodError(f"period {text!r}: {m[2].upper()}{n} does not exist")
            months = 12 // per
            first, label = date(year, 1 + (n - 1) * months, 1), f"{year}{m[2].upper()}{n}"
            last = _add_months(first, months)
        elif m[4]:
            month = int(m[4])
            if not 1 <= month <= 12:
                raise PeriodError(f"period {text!r}: there is no month {month}")
            first, label = date(year, month, 1), f"{year}-{month:02d}"
            last = _add_months(first, 1)
        else:
            first, last, label = date(year, 1, 1), date(year + 1, 1, 1), str(year)
        return cls(_local(first, zone), _local(last, zone), label, zone.key)

    # ---- views
    def months(self) -> list[tuple[str, datetime, datetime]]:
        """The calendar months (local) overlapping the period, each clipped to it."""
        zone = _zone(self.tz)
        first = self.start.astimezone(zone).date().replace(day=1)
        out = []
        while True:
            a = max(_local(first, zone), self.start)
            nxt = _add_months(first, 1)
            b = min(_local(nxt, zone), self.end)
            if a >= self.end:
                break
            out.append((f"{first:%Y-%m}", a, b))
            first = nxt
        return out

    def as_dict(self) -> dict[str, str]:
        zone = _zone(self.tz)
        last = self.end.astimezone(zone) - timedelta(microseconds=1)
        return {
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "from": self.start.astimezone(zone).date().isoformat(),
            "to": last.date().isoformat(),  # inclusive, local
            "tz": self.tz,
        }


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown timezone {tz!r}") from None


def _local(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=zone).astimezone(UTC)


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def _moment(text: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return _local(day + timedelta(days=1) if end_of_day else day, zone)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date (2026-03-31) or ISO datetime") from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


# ---- scope --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What "a unit and its subtree" selects, per kind of figure. ``unit=None``: everything.

    ``units``: the unit and the units below it (by the org directory); ``reach``: units whose
    published questions reach this unit; ``territory``: units (not departments) whose hands
    count (None: all); ``microgrids``: the micro-grids of the territory."""

    unit: str | None
    kind: str | None
    units: frozenset[str] | None
    reach: tuple[str, ...] | None
    territory: tuple[str, ...] | None
    microgrids: tuple[str, ...]

    @classmethod
    def of(cls, directory, unit: str | None) -> Scope:
        units = directory.units
        if unit is None:
            micro = tuple(u.id for u in units.values() if u.kind == "microgrid")
            return cls(None, None, None, None, None, micro)
        if units and unit not in units:
            raise NotFound("unit", unit, units)
        u = units.get(unit)
        kind = u.kind if u else None
        mine = frozenset(x.id for x in directory.subtree(unit)) | {unit}
        # a department's questions reach the unit it hangs under: that is its territory
        land = (u.parent or unit) if (u and kind == "department") else unit
        above = [land, *(a.id for a in directory.ancestors(land))] if u else [unit]
        reach = set(above) | {
            d.id for d in units.values() if d.kind == "department" and d.parent in above
        }
        sub = directory.subtree(land) if u else []
        territory = tuple(x.id for x in sub if x.kind != "department") or (unit,)
        micro = tuple(x.id for x in sub if x.kind == "microgrid")
        return cls(unit, kind, mine, tuple(sorted(reach)), territory, micro)

    @property
    def is_department(self) -> bool:
        return self.kind == "department"

    # ---- in Python, over grouped rows (a case's or a step's unit and party)
    def owns(self, unit: str | None, party: str | None) -> bool:
        """A four-list problem or grid question: in the subtree, or (a department) its own."""
        if self.unit is None:
            return True
        return party == self.unit if self.is_department else unit in self.units

    def publishes(self, unit: str | None) -> bool:
        """A department question published in the subtree, or by a unit (or department)
        above it."""
        if self.unit is None:
            return True
        return unit in self.units or (not self.is_department and unit in self.reach)

    def counts_hand(self, unit: str | None) -> bool:
        return self.territory is None or unit in self.territory

    def late_here(self, unit: str | None, dept: str | None) -> bool:
        """A late case in this unit's overdue league."""
        if self.unit is None:
            return True
        return dept == self.unit if self.is_department else unit in self.units

    # ---- in SQL, over gf_case
    def _units_sql(self, col):
        return sa.true() if self.units is None else col.in_(sorted(self.units))

    def owns_sql(self, unit_col=None, party_col=None):
        """:meth:`owns` in SQL: over the case columns, or the given (history) columns."""
        c = t.case_t.c
        unit_col = c.unit if unit_col is None else unit_col
        party_col = c.party if party_col is None else party_col
        if self.unit is None:
            return sa.true()
        return party_col == self.unit if self.is_department else self._units_sql(unit_col)

    def four_list(self):
        return sa.and_(t.case_t.c.workflow_id == "four_list", self.owns_sql())

    def grid_asks(self):
        c = t.case_t.c
        return sa.and_(c.workflow_id == "raise_hand", c.tag == "grid_asks", self.owns_sql())

    def dept_asks(self):
        """Questions published in the subtree, or by a unit (or department) above it."""
        c = t.case_t.c
        base = sa.and_(c.workflow_id == "raise_hand", c.tag == "dept_asks")
        if self.unit is None:
            return base
        if self.is_department:
            return sa.and_(base, self._units_sql(c.unit))
        return sa.and_(base, sa.or_(self._units_sql(c.unit), c.unit.in_(self.reach or ())))

    def hands(self, col):
        """Hands (history ``actor_unit``) that count for this unit."""
        if self.territory is None:
            return sa.true()
        return col.in_(self.territory)


def _owing(workflow: str, state: str, party: str | None) -> str | None:
    """The department owing the next move on a case, or None."""
    return party if state in DEPT_STATES.get(workflow, ()) else None


# ---- helpers ------------------------------------------------------------------------------------
def _c(cond) -> Any:
    """``COUNT(*) FILTER (WHERE cond)``: how many rows satisfy ``cond`` (0 when none)."""
    return sa.func.count().filter(cond)


def _n(cond) -> Any:
    """``SUM(CASE WHEN cond THEN 1 ELSE 0 END)``: how many rows satisfy ``cond``."""
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _in(col, period: Period):
    return sa.and_(col >= period.start, col < period.end)


def ratio(num: float | None, den: float | None, digits: int = 4) -> float | None:
    """``num / den`` rounded, or None when the denominator is zero or missing."""
    if not den or num is None:
        return None
    return round(num / den, digits)


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / WORKDAY_S, 2)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def percentile(
    conn, column, where, *, dialect: str, frac: tuple[int, int] = P90, n: int | None = None
) -> float | None:
    """The continuous percentile (PostgreSQL's ``percentile_cont``) of ``column`` over rows
    matching ``where``. SQLite: a count (or ``n``, the number of such rows with a value, when
    known), then the two neighbouring values at the rank (ORDER BY … LIMIT 2 OFFSET k) and
    linear interpolation — the same number ``percentile_cont`` gives."""
    num, den = frac
    if dialect == "postgresql":
        value = conn.execute(
            sa.select(sa.func.percentile_cont(num / den).within_group(column.asc())).where(
                where, column.is_not(None)
            )
        ).scalar()
        return None if value is None else float(value)
    if n is None:
        n = conn.execute(sa.select(sa.func.count()).where(where, column.is_not(None))).scalar_one()
    if not n:
        return None
    k, rem = divmod((n - 1) * num, den)
    pair = [
        float(r[0])
        for r in conn.execute(
            sa.select(column).where(where, column.is_not(None)).order_by(column).limit(2).offset(k)
        )
    ]
    if rem == 0 or len(pair) == 1:
        return pair[0]
    return pair[0] + (pair[1] - pair[0]) * rem / den


# ---- the KPIs -----------------------------------------------------------------------------------
COMPUTE_STEPS = 4  # progress ticks of compute(): one per KPI group

# the history triggers any counter reads (the step pass reads only their index ranges)
_STEP_TRIGGERS = (
    "rework",
    "pass_inspection",
    "escalate",
    "escalate_district",
    "sla:escalate",
    "answer",
    "sign",
    *DISPATCH_TRIGGERS,
    "return",
    "uphold_return",
    "request_extension",
    "approve_extension",
    "reject_extension",
    "confirm",
    "auto_confirm",
)


class _Sums(dict):
    """Counters summed over grouped rows: ``sums["name"]`` is 0 until added to."""

    def __missing__(self, key: str) -> int:
        return 0

    def add(self, row, *names: str, prefix: str = "") -> None:
        for name in names:
            value = getattr(row, name)
            if value:
                self[prefix + name] += value


def compute(
    engine,
    *,
    unit: str | None = None,
    period: Period,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """All KPIs of ``unit`` (and its subtree; None: everything) over ``period``; overdue as of
    ``now`` (default: the engine's clock). JSON-ready: rates are fractions (0..1) or None when
    the denominator is zero; times are ISO strings. ``progress(group)`` is called after each
    KPI group.

    Two grouped passes, each over one covering index and in its order (no sort, no join, no
    JSON), run at once in two threads on one snapshot (:meth:`Store.snapshot_pair`): the
    cases by (workflow, tag, unit, party, state), the counted steps by (trigger, workflow,
    the case's tag, unit, party and grade at that step); the scope is applied to the groups
    in Python. Small queries add the rest: the answers, the hands, the questions responded
    to, and the percentile."""
    now = (now or engine.now()).astimezone(UTC)
    tick = progress or (lambda _step: None)
    directory = engine.directory
    scope = Scope.of(directory, unit)
    dialect = engine.store.dialect
    # the two passes at once, one per core, on two transactions that see the same state
    with engine.store.snapshot_pair() as (conn, other), ThreadPoolExecutor(1) as worker:
        # (an in-memory database has one connection: then one pass after the other)
        steps_done = worker.submit(_step_pass, other, scope, period) if other is not conn else None
        cases = _case_pass(conn, scope, period, now)
        dept = dept_asks_kpis(conn, scope, period, cases)
        steps = steps_done.result() if steps_done is not None else _step_pass(conn, scope, period)
        four = four_list_kpis(conn, scope, period, dialect, cases, steps)
    tick("four_list")
    grid = grid_asks_kpis(cases, steps)
    tick("grid_asks")
    tick("dept_asks")
    overdue = overdue_kpis(cases.late, now, directory, engine.calendar)
    tick("overdue")
    u = directory.units.get(unit) if unit else None
    return {
        "unit": unit,
        "unit_name": (u.name if u else unit) if unit else None,
        "unit_name_en": (u.name_en or u.name) if u else unit,
        "unit_kind": u.kind if u else None,
        "period": period.as_dict(),
        "now": now.isoformat(),
        "four_list": four,
        "grid_asks": grid,
        "dept_asks": dept,
        "overdue": overdue,
    }


@dataclass
class _Cases:
    four: _Sums  # four-list problems of the scope; keys "<state>:<counter>" and "<counter>"
    grid: _Sums  # grid questions of the scope
    dept: _Sums  # department questions of the scope
    late: dict[tuple[str | None, str | None], list]  # (unit, owing dept) -> [count, oldest due]


_CASE_COUNTERS = (
    "created", "closed", "open_at_end", "created_closed", "work_sum", "work_n",
    "missed_open", "held",
)  # fmt: skip


def _case_pass(conn, scope: Scope, period: Period, now: datetime) -> _Cases:
    """Every case counter, grouped by (workflow, tag, unit, party, state) — the order of the
    ``ix_gf_case_kpi`` index, which holds every column read — then summed over the groups of
    the scope."""
    c, h = t.case_t.c, t.history_t.c
    end = period.end
    closed_in = _in(c.closed_at, period)
    open_at_end = sa.and_(c.created_at < end, sa.or_(c.closed_at.is_(None), c.closed_at >= end))
    late = sa.and_(
        c.closed_at.is_(None), c.paused_at.is_(None), c.due_at.is_not(None), c.due_at < now
    )
    # on hold at the period end: the current state, unless the case moved since the end; then
    # its last history row before the end (read backwards by the primary key)
    state_at_end = (
        sa.select(h.to_state)
        .where(h.case_id == c.id, h.at < end)
        .order_by(h.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    held = sa.and_(
        c.workflow_id == "four_list",
        open_at_end,
        sa.or_(
            sa.and_(c.entered_at < end, c.state.in_(HOLD_STATES)),
            sa.and_(
                sa.or_(c.entered_at.is_(None), c.entered_at >= end),
                state_at_end.in_(HOLD_STATES),
            ),
        ),
    )
    keys = (c.workflow_id, c.tag, c.unit, c.party, c.state)
    rows = conn.execute(
        sa.select(
            *keys,
            _c(_in(c.created_at, period)).label("created"),
            _c(closed_in).label("closed"),
            _c(open_at_end).label("open_at_end"),
            _c(sa.and_(_in(c.created_at, period), c.closed_at < end)).label("created_closed"),
            sa.func.sum(c.work_seconds).filter(closed_in).label("work_sum"),
            sa.func.count(c.work_seconds).filter(closed_in).label("work_n"),
            _c(
                sa.and_(
                    c.closed_at.is_(None),
                    c.clock == "answer",
                    c.due_at >= period.start,
                    c.due_at < min(end, now),
                    sa.or_(c.paused_at.is_(None), c.paused_remaining < 0),
                )
            ).label("missed_open"),
            _c(held).label("held"),
            _c(late).label("late"),
            sa.func.min(c.due_at).filter(late).label("oldest"),
        ).group_by(*keys)
    )
    out = _Cases(_Sums(), _Sums(), _Sums(), {})
    for r in rows:
        if r.workflow_id == "four_list" and scope.owns(r.unit, r.party):
            into = out.four
        elif r.workflow_id == "raise_hand" and r.tag == "grid_asks" and scope.owns(r.unit, r.party):
            into = out.grid
        elif r.workflow_id == "raise_hand" and r.tag == "dept_asks" and scope.publishes(r.unit):
            into = out.dept
        else:
            into = None
        if into is not None:
            into.add(r, *_CASE_COUNTERS)
            into.add(r, *_CASE_COUNTERS, prefix=f"{r.state}:")
        if r.late:
            dept = _owing(r.workflow_id, r.state, r.party)
            if scope.late_here(r.unit, dept):
                got = out.late.setdefault((r.unit, dept), [0, r.oldest])  # aware UTC (its type)
                got[0] += r.late
                got[1] = min(got[1], r.oldest)
    return out


def _step_pass(conn, scope: Scope, period: Period) -> dict[str, _Sums]:
    """Every step counter. The steps of the period, grouped by (trigger, workflow, the case's
    tag, unit, party and grade at the step) — the order of the ``ix_gf_history_kpi`` index,
    which holds every column read — summed per trigger over the four-list (``four``) and
    grid-question (``grid``) groups of the scope (a confirmation's satisfaction is its grade);
    then the answers: deadlines met or missed in the period, and the questions answered."""
    h = t.history_t.c
    at_in = _in(h.at, period)
    keys = (h.trigger, h.workflow_id, h.case_tag, h.case_unit, h.case_party, h.case_grade)
    rows = conn.execute(
        sa.select(
            *keys,
            sa.func.count().label("n"),
            _c(h.to_state == "escalated").label("escalated"),
            _c(h.elapsed_s <= SIGN_LIMIT_S).label("fast"),
        )
        .where(h.trigger.in_(_STEP_TRIGGERS), at_in)
        .group_by(*keys)
    )
    out = {"four": _Sums(), "grid": _Sums()}
    for r in rows:
        if r.workflow_id == "four_list" and scope.owns(r.case_unit, r.case_party):
            out["four"].add(r, "n", "escalated", "fast", prefix=f"{r.trigger}:")
        elif (
            r.workflow_id == "raise_hand"
            and r.case_tag == "grid_asks"
            and scope.owns(r.case_unit, r.case_party)
        ):
            out["grid"].add(r, "n", "escalated", "fast", prefix=f"{r.trigger}:")
            if r.trigger == "confirm":
                out["grid"][f"satisfaction:{r.case_grade}"] += r.n
    # answers: per deadline in force that fell due in the period (whenever answered); each
    # question answered in the period counted once, however often (or by whom) answered
    clocked = sa.and_(h.from_state.in_(ANSWER_CLOCK_STATES), _in(h.due_at, period))
    answers = conn.execute(
        sa.select(
            _c(clocked).label("clocked"),
            _c(sa.and_(clocked, h.late_s.is_(None))).label("on_time"),
            sa.func.count(sa.distinct(h.case_id)).filter(at_in).label("answered"),
        ).where(
            h.trigger == "answer",
            h.workflow_id == "raise_hand",
            h.case_tag == "grid_asks",
            scope.owns_sql(h.case_unit, h.case_party),
        )
    ).one()
    out["grid"].add(answers, "clocked", "on_time", "answered")
    return out


def four_list_kpis(conn, scope: Scope, period: Period, dialect, cases: _Cases, steps) -> dict:
    c, s, four = t.case_t.c, steps["four"], cases.four
    written_off_in = sa.and_(scope.four_list(), c.state == "written_off", _in(c.closed_at, period))
    p90 = percentile(
        conn, c.work_seconds, written_off_in, dialect=dialect, n=four["written_off:work_n"]
    )
    listed = four["created"]
    written_off_of_listed = four["written_off:created_closed"]
    dropped = four["rejected:created_closed"] + four["merged:created_closed"]
    kept = listed - dropped
    reworks, passed = s["rework:n"], s["pass_inspection:n"]
    by = {
        "area_to_street": s["escalate:n"],
        "street_to_district": s["escalate_district:n"],
        "third_rework": s["rework:escalated"],
        "sla_timer": s["sla:escalate:n"],
    }
    work_n = four["written_off:work_n"]
    return {
        "listed": listed,
        "written_off": four["written_off:closed"],
        "in_progress": four["open_at_end"],
        "rejected": four["rejected:closed"],
        "merged": four["merged:closed"],
        "written_off_of_listed": written_off_of_listed,
        "listed_kept": kept,
        "write_off_rate": ratio(written_off_of_listed, kept),
        "mean_days_to_write_off": _days(four["written_off:work_sum"] / work_n if work_n else None),
        "p90_days_to_write_off": _days(p90),
        "reworks": reworks,
        "inspections": reworks + passed,
        "rework_rate": ratio(reworks, reworks + passed),
        "escalations": sum(by.values()),
        "escalations_by": by,
        "on_hold": four["held"],
    }


def grid_asks_kpis(cases: _Cases, steps) -> dict[str, Any]:
    s, grid = steps["grid"], cases.grid
    missed_open = grid["missed_open"]
    met_or_missed, on_time = s["clocked"], s["on_time"]
    deadlines = met_or_missed + missed_open
    dispatches = sum(s[f"{trigger}:n"] for trigger in DISPATCH_TRIGGERS)
    returns, confirms = s["return:n"], s["confirm:n"]
    satisfied, basically = s["satisfaction:satisfied"], s["satisfaction:basically_satisfied"]
    unsatisfied = s["satisfaction:unsatisfied"]
    return {
        "raised": grid["created"],
        "answered": s["answered"],
        "answer_deadlines": deadlines,
        "answers_on_time": on_time,
        "answers_late": met_or_missed - on_time,
        "unanswered_overdue": missed_open,
        "on_time_answer_rate": ratio(on_time, deadlines),
        "signs": s["sign:n"],
        "signs_on_time": s["sign:fast"],
        "sign_on_time_rate": ratio(s["sign:fast"], s["sign:n"]),
        "dispatches": dispatches,
        "returns": returns,
        "return_rate": ratio(returns, dispatches),
        "upheld_returns": s["uphold_return:n"],
        "upheld_return_rate": ratio(s["uphold_return:n"], returns),
        "extension_requests": s["request_extension:n"],
        "extensions_approved": s["approve_extension:n"],
        "extensions_rejected": s["reject_extension:n"],
        "extension_rate": ratio(s["request_extension:n"], dispatches),
        "confirmations": confirms,
        "satisfied": satisfied,
        "basically_satisfied": basically,
        "unsatisfied": unsatisfied,
        "auto_confirmed": s["auto_confirm:n"],
        "unsatisfied_rate": ratio(unsatisfied, confirms),
        "satisfaction_rate": ratio(satisfied + basically, confirms),
    }


def dept_asks_kpis(conn, scope: Scope, period: Period, cases: _Cases) -> dict[str, Any]:
    """Questions published (in the scope, created in the period), responded to (a hand of
    the territory before the period end), completed; hands of the territory in the period
    on any department question, and the micro-grids among them."""
    h = t.history_t.c
    hand = sa.and_(
        h.trigger == "raise_hand", h.workflow_id == "raise_hand", h.case_tag == "dept_asks"
    )
    hands, micro = 0, set()
    for actor_unit, n in conn.execute(
        sa.select(h.actor_unit, sa.func.count())
        .where(hand, _in(h.at, period))
        .group_by(h.actor_unit)
    ):
        if scope.counts_hand(actor_unit):
            hands += n
            micro.add(actor_unit)
    micro &= set(scope.microgrids)
    c = t.case_t.c
    responded = conn.execute(  # from the hands' index entries, each joined to its case
        sa.select(sa.func.count(sa.distinct(h.case_id)))
        .select_from(t.history_t.join(t.case_t, c.id == h.case_id))
        .where(
            hand,
            scope.hands(h.actor_unit),
            h.at < period.end,
            _in(c.created_at, period),
            scope.dept_asks(),
        )
    ).scalar_one()
    dept = cases.dept
    published = dept["created"]
    completed = dept["completed:created_closed"]
    micro_total = len(scope.microgrids)
    return {
        "published": published,
        "responded": responded,
        "completed": completed,
        "response_rate": ratio(responded, published),
        "completion_rate": ratio(completed, published),
        "hands": hands,
        "participating_microgrids": len(micro),
        "microgrids": micro_total,
        "participation_rate": ratio(len(micro), micro_total),
    }


def overdue_kpis(late: dict, now: datetime, directory, calendar) -> dict[str, Any]:
    """The overdue league, from the late cases of the case pass: by unit and by the
    department owing the next move."""
    by_unit: dict[str | None, list] = {}
    by_dept: dict[str | None, list] = {}
    for (unit, dept), (n, oldest) in late.items():
        for key, into in ((unit, by_unit), (dept, by_dept)):
            if into is by_dept and key is None:
                continue
            got = into.setdefault(key, [key, 0, oldest])
            got[1] += n
            got[2] = min(got[2], oldest)

    def rows(result: dict, key: str) -> list[dict[str, Any]]:
        out = []
        for uid, n, oldest in result.values():
            u = directory.units.get(uid) if uid else None
            out.append(
                {
                    key: uid,
                    "name": u.name if u else uid,
                    "name_en": (u.name_en or u.name) if u else uid,
                    "overdue": n,
                    "oldest_due": _iso(oldest),
                    "max_days_overdue": _days(calendar.working_seconds(oldest, now)),
                }
            )
        out.sort(key=lambda x: (-x["overdue"], x["oldest_due"] or "", x[key] or ""))
        for i, item in enumerate(out, 1):
            item["rank"] = i
        return out

    units = rows(by_unit, "unit")
    return {
        "total": sum(u["overdue"] for u in units),
        "by_unit": units,
        "by_department": rows(by_dept, "department"),
    }


# ---- the yearly report's data -------------------------------------------------------------------
YEARLY_LIST_LIMIT = 500


def yearly_data(
    engine, unit: str, year: int, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """What the yearly report of ``unit`` shows for ``year``: the KPIs, monthly cases opened
    and closed, the year's cases by current state, and the lists of its problems, questions
    and hands (at most ``YEARLY_LIST_LIMIT`` rows each). ``progress(step)`` is called after
    each step."""
    tick = progress or (lambda _step: None)
    directory = engine.directory
    scope = Scope.of(directory, unit)
    tz = engine.calendar.tz.key
    period = Period.year(year, tz)
    now = engine.now()
    kpis = compute(engine, unit=unit, period=period, now=now)
    tick("kpis")
    c, h = t.case_t.c, t.history_t.c
    months = period.months()
    with engine.store.read() as conn:
        cols = []
        for i, (_label, a, b) in enumerate(months):
            cols.append(_n(sa.and_(c.created_at >= a, c.created_at < b)).label(f"o{i}"))
            cols.append(_n(sa.and_(c.closed_at >= a, c.closed_at < b)).label(f"c{i}"))
        mine = sa.or_(scope.four_list(), scope.grid_asks())
        row = conn.execute(sa.select(*cols).where(mine)).one()._mapping
        monthly = [
            {"month": label, "opened": row[f"o{i}"], "closed": row[f"c{i}"]}
            for i, (label, _a, _b) in enumerate(months)
        ]
        tick("monthly")
        created = _in(c.created_at, period)
        states = [
            {"workflow": r.workflow_id, "state": r.state, "count": r.n}
            for r in conn.execute(
                sa.select(c.workflow_id, c.state, sa.func.count().label("n"))
                .where(mine, created)
                .group_by(c.workflow_id, c.state)
                .order_by(sa.func.count().desc(), c.workflow_id, c.state)
            )
        ]
        tick("states")
        listing = sa.select(
            c.id, c.workflow_id, c.state, c.title, c.unit, c.data, c.created_at, c.closed_at
        )
        problems = _rows(
            conn.execute(
                listing.where(scope.four_list(), created)
                .order_by(c.created_at, c.id)
                .limit(YEARLY_LIST_LIMIT + 1)
            )
        )
        questions = _rows(
            conn.execute(
                listing.where(scope.grid_asks(), created)
                .order_by(c.created_at, c.id)
                .limit(YEARLY_LIST_LIMIT + 1)
            )
        )
        tick("cases")
        hand_rows = conn.execute(
            sa.select(
                c.id,
                c.workflow_id,
                c.state,
                c.title,
                c.unit,
                c.data,
                c.created_at,
                c.closed_at,
                h.at.label("hand_at"),
                h.actor_unit,
            )
            .select_from(t.history_t.join(t.case_t, c.id == h.case_id))
            .where(
                h.trigger == "raise_hand",
                scope.hands(h.actor_unit),
                _in(h.at, period),
            )
            .order_by(h.at, c.id)
            .limit(YEARLY_LIST_LIMIT + 1)
        )
        hands = []
        for r in hand_rows:
            item = _row(r)
            item["hand_at"] = _iso(r.hand_at)
            item["hand_unit"] = r.actor_unit
            item["won"] = r.actor_unit in ((r.data or {}).get("awardees") or [])
            hands.append(item)
        tick("hands")
    return {
        "unit": unit,
        "year": year,
        "period": period,
        "now": now,
        "kpis": kpis,
        "monthly": monthly,
        "states": states,
        "problems": problems[:YEARLY_LIST_LIMIT],
        "questions": questions[:YEARLY_LIST_LIMIT],
        "hands": hands[:YEARLY_LIST_LIMIT],
        "truncated": any(len(x) > YEARLY_LIST_LIMIT for x in (problems, questions, hands)),
    }


def _row(r) -> dict[str, Any]:
    return {
        "id": r.id,
        "workflow": r.workflow_id,
        "state": r.state,
        "title": r.title,
        "unit": r.unit,
        "data": dict(r.data or {}),
        "created_at": _iso(r.created_at),
        "closed_at": _iso(r.closed_at),
    }


def _rows(result: Iterable) -> list[dict[str, Any]]:
    return [_row(r) for r in result]
