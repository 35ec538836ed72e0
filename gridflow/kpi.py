"""KPIs of the four-list method and the two-way raise hand, as SQL aggregates (storage ring).

Every figure is computed in the database with SQLAlchemy Core over ``gf_case`` and
``gf_history`` (counts, sums, averages, one percentile); Python only gets aggregated rows and
small lookups from the org tree. The formulas, with their denominators, are in
``docs/kpis.md``; the names here match the keys of the dict :func:`compute` returns.

A unit's scope is the unit and its subtree (``unit_path = P or unit_path LIKE P || '/%'``).
A *department* as the unit is read as "the department's work": four-list problems it leads,
grid questions addressed to it, questions it published, overdue cases it must act on.
Periods are half-open ``[start, end)`` in UTC, built from local dates (Asia/Shanghai).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from gridflow.engine import tables as t
from gridflow.engine.errors import GridflowError, NotFound

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
DEPT_FIELD = {"raise_hand": "department", "four_list": "lead_department"}


class PeriodError(GridflowError, ValueError):
    """A period that cannot be read (``2026Q5``, ``--from`` after ``--to``…)."""


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
def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_str(col, key: str):
    return col[key].as_string()


@dataclass(frozen=True)
class Scope:
    """What "a unit and its subtree" selects, per kind of figure. ``unit=None``: everything."""

    unit: str | None
    path: str | None
    kind: str | None
    reach: tuple[str, ...] | None  # units whose published questions reach this unit
    territory: tuple[str, ...] | None  # units (not departments) whose hands count; None: all
    microgrids: tuple[str, ...]

    @classmethod
    def of(cls, directory, unit: str | None) -> Scope:
        units = directory.units
        if unit is None:
            return cls(
                None,
                None,
                None,
                None,
                None,
                tuple(u.id for u in units.values() if u.kind == "microgrid"),
            )
        if units and unit not in units:
            raise NotFound("unit", unit, units)
        u = units.get(unit)
        kind = u.kind if u else None
        path = directory.path(unit)
        # a department's questions reach the unit it hangs under: that is its territory
        land = (u.parent or unit) if (u and kind == "department") else unit
        above = [land, *(a.id for a in directory.ancestors(land))] if u else [unit]
        reach = set(above) | {
            d.id for d in units.values() if d.kind == "department" and d.parent in above
        }
        sub = directory.subtree(land) if u else []
        territory = tuple(x.id for x in sub if x.kind != "department") or (unit,)
        micro = tuple(x.id for x in sub if x.kind == "microgrid")
        return cls(unit, path, kind, tuple(sorted(reach)), territory, micro)

    @property
    def is_department(self) -> bool:
        return self.kind == "department"

    def subtree(self, col=None):
        """``unit_path = P OR unit_path LIKE 'P/%'`` (true when no unit)."""
        col = t.case_t.c.unit_path if col is None else col
        if self.path is None:
            return sa.true()
        return sa.or_(col == self.path, col.like(_like_escape(self.path) + "/%", escape="\\"))

    # ---- per group
    def four_list(self):
        c = t.case_t.c
        own = (
            _json_str(c.data, "lead_department") == self.unit
            if self.is_department
            else self.subtree()
        )
        return sa.and_(c.workflow_id == "four_list", own)

    def grid_asks(self):
        c = t.case_t.c
        own = _json_str(c.data, "department") == self.unit if self.is_department else self.subtree()
        return sa.and_(
            c.workflow_id == "raise_hand", _json_str(c.data, "direction") == "grid_asks", own
        )

    def dept_asks(self):
        """Questions published in the subtree, or by a unit (or department) above it."""
        c = t.case_t.c
        base = sa.and_(c.workflow_id == "raise_hand", _json_str(c.data, "direction") == "dept_asks")
        if self.unit is None:
            return base
        if self.is_department:
            return sa.and_(base, self.subtree())
        return sa.and_(base, sa.or_(self.subtree(), c.unit.in_(self.reach or ())))

    def hands(self, col):
        """Hands (history ``actor_unit``) that count for this unit."""
        if self.territory is None:
            return sa.true()
        return col.in_(self.territory)

    def overdue(self):
        if self.is_department:
            return _dept_expr() == self.unit
        return self.subtree()


def _dept_expr():
    """The department owing the next move on a case, or NULL."""
    c = t.case_t.c
    whens = [
        (
            sa.and_(c.workflow_id == wf, c.state.in_(states)),
            _json_str(c.data, DEPT_FIELD[wf]),
        )
        for wf, states in DEPT_STATES.items()
    ]
    return sa.case(*whens, else_=sa.null())


# ---- helpers ------------------------------------------------------------------------------------
def _c(cond) -> Any:
    """``COUNT(*) FILTER (WHERE cond)``: how many rows satisfy ``cond`` (0 when none)."""
    return sa.func.count().filter(cond)


def _distinct(col, cond) -> Any:
    """``COUNT(DISTINCT col) FILTER (WHERE cond)``."""
    return sa.func.count(sa.distinct(col)).filter(cond)


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


def percentile(conn, column, where, *, dialect: str, frac: tuple[int, int] = P90) -> float | None:
    """The continuous percentile (PostgreSQL's ``percentile_cont``) of ``column`` over rows
    matching ``where``. SQLite: a count, then the two neighbouring values at the rank (ORDER BY
    … LIMIT 2 OFFSET k) and linear interpolation — the same number ``percentile_cont`` gives."""
    num, den = frac
    if dialect == "postgresql":
        value = conn.execute(
            sa.select(sa.func.percentile_cont(num / den).within_group(column.asc())).where(
                where, column.is_not(None)
            )
        ).scalar()
        return None if value is None else float(value)
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

# the cases a report reads, filtered once per report: one row per case in a KPI group, with the
# case columns the counters need (no JSON), so the history pass joins a small table by id
_scope_md = sa.MetaData()
scope_t = sa.Table(
    "gf_kpi_scope",
    _scope_md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("g", sa.Integer),  # 1: four-list (mine), 2: grid question (mine), 3: dept question
    sa.Column("m", sa.Integer),  # 1: a department question of the scope created in the period
    sa.Column("state", sa.String),
    sa.Column("created_at", t.UTCDateTime),
    sa.Column("closed_at", t.UTCDateTime),
    sa.Column("work_seconds", sa.Float),
    sa.Column("clock", sa.String),
    sa.Column("due_at", t.UTCDateTime),
    sa.Column("paused_at", t.UTCDateTime),
    sa.Column("paused_remaining", sa.Float),
    sa.Column("unit", sa.String),
    sa.Column("late", sa.Integer),  # 1: overdue as of ``now``, in the scope's overdue league
    sa.Column("dept", sa.String),  # of a late case: the department owing the next move
    prefixes=["TEMPORARY"],
)
G_FOUR, G_GRID, G_DEPT = 1, 2, 3
TEMP_CACHE_KIB = -262144  # SQLite: the temporary table's page cache during a report
# the history triggers any counter reads (the history pass skips every other row early)
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
    "raise_hand",
)


def _fill_scope(conn, scope: Scope, period: Period, now: datetime) -> None:
    """Create and fill ``gf_kpi_scope`` (a temporary table, dropped at the end of
    :func:`compute`): one pass over ``gf_case``, the JSON fields read at most once per case.

    ``g``: 1 a four-list problem of the scope, 2 a grid question of the scope, 3 any
    department question (hands count whoever published it); ``m`` = 1: with ``g`` = 3, a
    department question of the scope created in the period (see :meth:`Scope.dept_asks`);
    ``late`` = 1: a case of the overdue league (any workflow; ``g`` may be NULL)."""
    c = t.case_t.c
    if scope.is_department:
        four_own = _json_str(c.data, "lead_department") == scope.unit
        grid_own = _json_str(c.data, "department") == scope.unit
        dept_own = scope.subtree()
    else:
        four_own = grid_own = scope.subtree()
        dept_own = (
            sa.true()
            if scope.unit is None
            else sa.or_(scope.subtree(), c.unit.in_(scope.reach or ()))
        )
    g = sa.case(
        (c.workflow_id == "four_list", sa.case((four_own, G_FOUR), else_=sa.null())),
        (
            c.workflow_id == "raise_hand",
            sa.case(
                {"grid_asks": sa.case((grid_own, G_GRID)), "dept_asks": G_DEPT},
                value=_json_str(c.data, "direction"),
                else_=sa.null(),
            ),
        ),
        else_=sa.null(),
    )
    m = sa.case(
        (sa.and_(c.workflow_id == "raise_hand", _in(c.created_at, period), dept_own), 1),
        else_=0,
    )
    # read gf_case in one scan (an indexed filter would read it in index order, row by row)
    if scope.is_department or scope.unit is None:
        keep = sa.true()
    else:  # every department question counts for hands: those outside the subtree too
        keep = sa.or_(scope.subtree(), _json_str(c.data, "direction") == "dept_asks")
    overdue = sa.and_(
        c.closed_at.is_(None), c.paused_at.is_(None), c.due_at.is_not(None), c.due_at < now
    )
    late = sa.case((sa.and_(overdue, scope.overdue()), 1), else_=0)
    dept = sa.case((overdue, _dept_expr()), else_=sa.null())
    cols = [col.name for col in scope_t.c]
    scope_t.create(conn)
    conn.execute(
        scope_t.insert().from_select(
            cols,
            sa.select(
                c.id,
                g.label("g"),
                m.label("m"),
                *(c[n] for n in cols[3:-2]),
                late.label("late"),
                dept.label("dept"),
            ).where(keep),
        )
    )
    # cases of the workflows outside every group (out of the subtree, or unknown directions)
    conn.execute(scope_t.delete().where(scope_t.c.g.is_(None), scope_t.c.late == 0))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ANALYZE gf_kpi_scope"))


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

    Two passes over the data: the scope's cases (and the late ones) into a temporary table
    (one scan of ``gf_case``, JSON read once per case), then one aggregate over the counted
    ``gf_history`` rows joined to it by id (every history counter at once, by conditional
    aggregation); the case counters, the percentile and the overdue league are small
    aggregates over the temporary table; the on-hold count reads the open problems' last
    history rows."""
    now = (now or engine.now()).astimezone(UTC)
    tick = progress or (lambda _step: None)
    directory = engine.directory
    scope = Scope.of(directory, unit)
    dialect = engine.store.dialect
    with engine.store.read() as conn:
        if dialect == "sqlite":  # keep the temporary table in memory (up to 256 MiB), not spilled
            temp_cache = conn.exec_driver_sql("PRAGMA temp.cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA temp.cache_size = {TEMP_CACHE_KIB}")
        # the temporary table goes with the transaction if anything fails before the DROP
        _fill_scope(conn, scope, period, now)
        steps = _history_pass(conn, scope, period)
        cases = _case_pass(conn, period, now)
        four = four_list_kpis(conn, period, dialect, cases, steps)
        tick("four_list")
        grid = grid_asks_kpis(cases, steps)
        tick("grid_asks")
        dept = dept_asks_kpis(scope, cases, steps)
        tick("dept_asks")
        overdue = overdue_kpis(conn, now, directory, engine.calendar)
        tick("overdue")
        scope_t.drop(conn)
        if dialect == "sqlite":
            conn.exec_driver_sql(f"PRAGMA temp.cache_size = {int(temp_cache)}")
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


def _history_pass(conn, scope: Scope, period: Period):
    """Every history counter of the report in one statement: one scan of the rows of the
    triggers counted, each joined to its case in ``gf_kpi_scope`` by id. Every condition
    tests the trigger first, so that a row is quickly out of the counters it is not for."""
    s, h = scope_t.c, t.history_t.c
    at_in = _in(h.at, period)

    def four(trigger: str, *more):
        return sa.and_(h.trigger == trigger, s.g == G_FOUR, at_in, *more)

    def grid(trigger, *more):
        is_it = h.trigger.in_(trigger) if isinstance(trigger, tuple) else h.trigger == trigger
        return sa.and_(is_it, s.g == G_GRID, at_in, *more)

    sat = _json_str(h.payload, "satisfaction")
    hand = sa.and_(h.trigger == "raise_hand", s.g == G_DEPT, scope.hands(h.actor_unit))
    clocked_answer = sa.and_(
        h.trigger == "answer",
        s.g == G_GRID,
        h.from_state.in_(ANSWER_CLOCK_STATES),
        _in(h.due_at, period),
    )
    return conn.execute(
        sa.select(
            # four-list problems
            _c(four("rework")).label("reworks"),
            _c(four("pass_inspection")).label("passed"),
            _c(four("escalate")).label("esc_area"),
            _c(four("escalate_district")).label("esc_district"),
            _c(four("rework", h.to_state == "escalated")).label("esc_rework"),
            _c(four("sla:escalate")).label("esc_sla"),
            # grid questions
            _distinct(h.case_id, grid("answer")).label("answered"),
            _c(grid("sign")).label("signs"),
            _c(grid("sign", h.elapsed_s <= SIGN_LIMIT_S)).label("signs_on_time"),
            _c(grid(DISPATCH_TRIGGERS)).label("dispatches"),
            _c(grid("return")).label("returns"),
            _c(grid("uphold_return")).label("upheld"),
            _c(grid("request_extension")).label("ext_requested"),
            _c(grid("approve_extension")).label("ext_approved"),
            _c(grid("reject_extension")).label("ext_rejected"),
            _c(grid("confirm")).label("confirms"),
            _c(grid("confirm", sat == "satisfied")).label("satisfied"),
            _c(grid("confirm", sat == "basically_satisfied")).label("basically"),
            _c(grid("confirm", sat == "unsatisfied")).label("unsatisfied"),
            _c(grid("auto_confirm")).label("auto"),
            # on-time answers: per answer deadline that fell due in the period
            _c(clocked_answer).label("met_or_missed"),
            _c(sa.and_(clocked_answer, h.late_s.is_(None))).label("on_time"),
            # department questions
            _distinct(h.case_id, sa.and_(hand, s.m == 1, h.at < period.end)).label("responded"),
            _c(sa.and_(hand, at_in)).label("hands"),
            _distinct(
                h.actor_unit,
                sa.and_(hand, at_in, h.actor_unit.in_(scope.microgrids or ("",))),
            ).label("micro"),
        )
        .select_from(t.history_t.join(scope_t, s.id == h.case_id))
        .where(h.trigger.in_(_STEP_TRIGGERS))
    ).one()


def _case_pass(conn, period: Period, now: datetime):
    """Every case counter of the report, over the temporary table."""
    s = scope_t.c
    four = s.g == G_FOUR
    grid = s.g == G_GRID
    created = _in(s.created_at, period)
    closed_in = _in(s.closed_at, period)
    open_at_end = sa.and_(
        s.created_at < period.end, sa.or_(s.closed_at.is_(None), s.closed_at >= period.end)
    )
    written_off_in = sa.and_(four, s.state == "written_off", closed_in)
    settled_by = min(period.end, now)
    return conn.execute(
        sa.select(
            _c(sa.and_(four, created)).label("listed"),
            _c(written_off_in).label("written_off"),
            _c(sa.and_(four, open_at_end)).label("in_progress"),
            _c(sa.and_(four, s.state == "rejected", closed_in)).label("rejected"),
            _c(sa.and_(four, s.state == "merged", closed_in)).label("merged"),
            _c(sa.and_(four, created, s.state == "written_off", s.closed_at < period.end)).label(
                "written_off_of_listed"
            ),
            _c(
                sa.and_(
                    four,
                    created,
                    s.state.in_(("rejected", "merged")),
                    s.closed_at < period.end,
                )
            ).label("dropped_of_listed"),
            sa.func.avg(sa.case((written_off_in, s.work_seconds))).label("mean_s"),
            _c(sa.and_(grid, created)).label("raised"),
            _c(
                sa.and_(
                    grid,
                    s.closed_at.is_(None),
                    s.clock == "answer",
                    s.due_at >= period.start,
                    s.due_at < settled_by,
                    sa.or_(s.paused_at.is_(None), s.paused_remaining < 0),
                )
            ).label("missed_open"),
            _c(sa.and_(s.g == G_DEPT, s.m == 1)).label("published"),
            _c(
                sa.and_(s.g == G_DEPT, s.m == 1, s.state == "completed", s.closed_at < period.end)
            ).label("completed"),
        )
    ).one()


def four_list_kpis(conn, period: Period, dialect: str, row, steps) -> dict[str, Any]:
    s, h = scope_t.c, t.history_t.c
    written_off_in = sa.and_(s.g == G_FOUR, s.state == "written_off", _in(s.closed_at, period))
    p90 = percentile(conn, s.work_seconds, written_off_in, dialect=dialect)
    # the state each case was in at the period end: its last history row before the end
    open_at_end = sa.and_(
        s.g == G_FOUR,
        s.created_at < period.end,
        sa.or_(s.closed_at.is_(None), s.closed_at >= period.end),
    )
    # read backwards from each open problem's last history row: one or two rows per case
    last_state = (
        sa.select(h.to_state)
        .where(h.case_id == s.id, h.at < period.end)
        .order_by(h.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    on_hold = conn.execute(
        sa.select(sa.func.count()).where(open_at_end, last_state.in_(HOLD_STATES))
    ).scalar_one()
    kept = row.listed - row.dropped_of_listed
    inspections = steps.reworks + steps.passed
    escalations = steps.esc_area + steps.esc_district + steps.esc_rework + steps.esc_sla
    return {
        "listed": row.listed,
        "written_off": row.written_off,
        "in_progress": row.in_progress,
        "rejected": row.rejected,
        "merged": row.merged,
        "written_off_of_listed": row.written_off_of_listed,
        "listed_kept": kept,
        "write_off_rate": ratio(row.written_off_of_listed, kept),
        "mean_days_to_write_off": _days(row.mean_s),
        "p90_days_to_write_off": _days(p90),
        "reworks": steps.reworks,
        "inspections": inspections,
        "rework_rate": ratio(steps.reworks, inspections),
        "escalations": escalations,
        "escalations_by": {
            "area_to_street": steps.esc_area,
            "street_to_district": steps.esc_district,
            "third_rework": steps.esc_rework,
            "sla_timer": steps.esc_sla,
        },
        "on_hold": on_hold,
    }


def grid_asks_kpis(cases, steps) -> dict[str, Any]:
    raised, missed_open, answers = cases.raised, cases.missed_open, steps
    deadlines = answers.met_or_missed + missed_open
    return {
        "raised": raised,
        "answered": steps.answered,
        "answer_deadlines": deadlines,
        "answers_on_time": answers.on_time,
        "answers_late": answers.met_or_missed - answers.on_time,
        "unanswered_overdue": missed_open,
        "on_time_answer_rate": ratio(answers.on_time, deadlines),
        "signs": steps.signs,
        "signs_on_time": steps.signs_on_time,
        "sign_on_time_rate": ratio(steps.signs_on_time, steps.signs),
        "dispatches": steps.dispatches,
        "returns": steps.returns,
        "return_rate": ratio(steps.returns, steps.dispatches),
        "upheld_returns": steps.upheld,
        "upheld_return_rate": ratio(steps.upheld, steps.returns),
        "extension_requests": steps.ext_requested,
        "extensions_approved": steps.ext_approved,
        "extensions_rejected": steps.ext_rejected,
        "extension_rate": ratio(steps.ext_requested, steps.dispatches),
        "confirmations": steps.confirms,
        "satisfied": steps.satisfied,
        "basically_satisfied": steps.basically,
        "unsatisfied": steps.unsatisfied,
        "auto_confirmed": steps.auto,
        "unsatisfied_rate": ratio(steps.unsatisfied, steps.confirms),
        "satisfaction_rate": ratio(steps.satisfied + steps.basically, steps.confirms),
    }


def dept_asks_kpis(scope: Scope, row, hands) -> dict[str, Any]:
    responded = hands.responded
    micro_total = len(scope.microgrids)
    return {
        "published": row.published,
        "responded": responded,
        "completed": row.completed,
        "response_rate": ratio(responded, row.published),
        "completion_rate": ratio(row.completed, row.published),
        "hands": hands.hands,
        "participating_microgrids": hands.micro,
        "microgrids": micro_total,
        "participation_rate": ratio(hands.micro, micro_total),
    }


def overdue_kpis(conn, now: datetime, directory, calendar) -> dict[str, Any]:
    """The overdue league, from the late cases marked in ``gf_kpi_scope``."""
    s = scope_t.c
    by_unit: dict[str | None, list] = {}
    by_dept: dict[str | None, list] = {}
    for unit, dept, n, oldest in conn.execute(
        sa.select(s.unit, s.dept, sa.func.count(), sa.func.min(s.due_at))
        .where(s.late == 1)
        .group_by(s.unit, s.dept)
    ):
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
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
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
