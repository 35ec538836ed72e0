"""The KPIs of the four-list method and the two-way raise hand (the built-in pack).

The formulas, with their denominators, are in ``docs/kpis.md``; the names here match the keys
of the dict :func:`compute` returns. Counting is the store's (grouped passes over covering
indexes, on one snapshot, through ``engine.reports``); this module says which workflows,
states, triggers and clocks count for what, and adds up the groups of a unit's scope.

A unit's scope is the unit and the units below it in the org directory. A *department* as
the unit is read as "the department's work": four-list problems it leads, grid questions
addressed to it, questions it published, overdue cases it must act on. Periods are half-open
``[start, end)`` in UTC, built from local dates (the calendar's timezone). Days are working
days of the calendar in force (its ``work_hours``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gridflow.domain.org import Directory
from gridflow.domain.period import Period
from gridflow.domain.scope import CaseSet, Scope
from gridflow.service.engine import Engine
from gridflow.service.kpi import iso, ratio
from gridflow.storage.kpi import CaseGroup, KpiQueries, StepGroup

P90 = (9, 10)  # the percentile, as a fraction (exact integer arithmetic for the rank)
FOUR_LIST = CaseSet("four_list")
GRID_ASKS = CaseSet("raise_hand", "grid_asks")
DEPT_ASKS = CaseSet("raise_hand", "dept_asks", published=True)
HOLD_STATES = ("hold_requested", "on_hold", "review")
ANSWER_CLOCK = "answer"
ANSWER_CLOCK_STATES = ("signed", "answering")  # an ``answer`` step from these ran on the clock
DISPATCH_TRIGGERS = ("dispatch", "dispatch_direct", "redispatch")
# the states in which a department owes the next move (overdue league by department)
DEPT_STATES = {
    "raise_hand": ("dispatched", "signed", "answering", "supervised", "selecting"),
    "four_list": ("in_progress",),
}
# the history triggers any counter reads (the step pass reads only their index ranges)
STEP_TRIGGERS = (
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
COMPUTE_STEPS = 4  # progress ticks of compute(): one per KPI group


class _Sums(dict[str, int | float]):
    """Counters summed over grouped rows: ``sums["name"]`` is 0 until added to."""

    def __missing__(self, key: str) -> int:
        return 0

    def add(self, row: object, *names: str, prefix: str = "") -> None:
        for name in names:
            value = getattr(row, name)
            if value:
                self[prefix + name] += value


@dataclass
class _Cases:
    four: _Sums  # four-list problems of the scope; keys "<state>:<counter>" and "<counter>"
    grid: _Sums  # grid questions of the scope
    dept: _Sums  # department questions of the scope
    late: dict[tuple[str | None, str | None], list[Any]]  # (unit, owing dept) -> [n, oldest due]


_CASE_COUNTERS = (
    "created", "closed", "open_at_end", "created_closed", "work_sum", "work_n",
    "missed_open", "held",
)  # fmt: skip


def _owing(workflow: str, state: str, party: str | None) -> str | None:
    """The department owing the next move on a case, or None."""
    return party if state in DEPT_STATES.get(workflow, ()) else None


def compute(
    engine: Engine,
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
    JSON), run at once on one snapshot: the cases by (workflow, tag, unit, party, state), the
    counted steps by (trigger, workflow, the case's tag, unit, party and grade at that
    step); the scope is applied to the groups here. Small queries add the rest: the answers,
    the hands, the questions responded to, and the percentile."""
    now = (now or engine.now()).astimezone(UTC)
    tick = progress or (lambda _step: None)
    directory = engine.directory
    scope = Scope.of(directory, unit)
    day = engine.reports.workday_seconds()
    with engine.reports.snapshot() as snap:

        def case_side(q: KpiQueries) -> tuple[_Cases, dict[str, Any]]:
            cases = _case_pass(q, scope, period, now)
            return cases, dept_asks_kpis(q, scope, period, cases)

        (cases, dept), steps = snap.both(case_side, lambda q: _step_pass(q, scope, period, day))
        four = four_list_kpis(snap.main, scope, period, cases, steps, day)
    tick("four_list")
    grid = grid_asks_kpis(cases, steps)
    tick("grid_asks")
    tick("dept_asks")
    overdue = overdue_kpis(cases.late, now, directory, engine.reports.working_seconds, day)
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


def _case_pass(q: KpiQueries, scope: Scope, period: Period, now: datetime) -> _Cases:
    """Every case counter, summed over the groups of the scope."""
    out = _Cases(_Sums(), _Sums(), _Sums(), {})
    rows: list[CaseGroup] = q.case_groups(
        period, now, hold=(FOUR_LIST.workflow, HOLD_STATES), missed_clock=ANSWER_CLOCK
    )
    for r in rows:
        if r.workflow_id == FOUR_LIST.workflow and scope.owns(r.unit, r.party):
            into: _Sums | None = out.four
        elif (r.workflow_id, r.tag) == (GRID_ASKS.workflow, GRID_ASKS.tag) and scope.owns(
            r.unit, r.party
        ):
            into = out.grid
        elif (r.workflow_id, r.tag) == (DEPT_ASKS.workflow, DEPT_ASKS.tag) and scope.publishes(
            r.unit
        ):
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


def _step_pass(q: KpiQueries, scope: Scope, period: Period, day: float) -> dict[str, _Sums]:
    """Every step counter, summed per trigger over the four-list (``four``) and grid-question
    (``grid``) groups of the scope (a confirmation's satisfaction is its grade); then the
    answers: deadlines met or missed in the period, and the questions answered. A sign is
    on time within one working day (``day`` working seconds) of the dispatch."""
    rows: list[StepGroup] = q.step_groups(
        period, triggers=STEP_TRIGGERS, reached="escalated", fast=day
    )
    out = {"four": _Sums(), "grid": _Sums()}
    for r in rows:
        if r.workflow_id == FOUR_LIST.workflow and scope.owns(r.case_unit, r.case_party):
            out["four"].add(r, "n", "reached", "fast", prefix=f"{r.trigger}:")
        elif (r.workflow_id, r.case_tag) == (GRID_ASKS.workflow, GRID_ASKS.tag) and scope.owns(
            r.case_unit, r.case_party
        ):
            out["grid"].add(r, "n", "reached", "fast", prefix=f"{r.trigger}:")
            if r.trigger == "confirm":
                out["grid"][f"satisfaction:{r.case_grade}"] += r.n
    clocked, on_time, answered = q.answers(
        scope, period, GRID_ASKS, trigger="answer", clocked_from=ANSWER_CLOCK_STATES
    )
    out["grid"].update(clocked=clocked, on_time=on_time, answered=answered)
    return out


def four_list_kpis(
    q: KpiQueries,
    scope: Scope,
    period: Period,
    cases: _Cases,
    steps: dict[str, _Sums],
    day: float,
) -> dict[str, Any]:
    s, four = steps["four"], cases.four
    p90 = q.work_percentile(
        scope, period, FOUR_LIST, state="written_off", frac=P90, n=int(four["written_off:work_n"])
    )
    listed = four["created"]
    written_off_of_listed = four["written_off:created_closed"]
    dropped = four["rejected:created_closed"] + four["merged:created_closed"]
    kept = listed - dropped
    reworks, passed = s["rework:n"], s["pass_inspection:n"]
    by = {
        "area_to_street": s["escalate:n"],
        "street_to_district": s["escalate_district:n"],
        "third_rework": s["rework:reached"],
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
        "mean_days_to_write_off": _days(
            four["written_off:work_sum"] / work_n if work_n else None, day
        ),
        "p90_days_to_write_off": _days(p90, day),
        "reworks": reworks,
        "inspections": reworks + passed,
        "rework_rate": ratio(reworks, reworks + passed),
        "escalations": sum(by.values()),
        "escalations_by": by,
        "on_hold": four["held"],
    }


def grid_asks_kpis(cases: _Cases, steps: dict[str, _Sums]) -> dict[str, Any]:
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


def dept_asks_kpis(q: KpiQueries, scope: Scope, period: Period, cases: _Cases) -> dict[str, Any]:
    """Questions published (in the scope, created in the period), responded to (a hand of
    the territory before the period end), completed; hands of the territory in the period
    on any department question, and the micro-grids among them."""
    hands, micro = 0, set()
    for actor_unit, n in q.hands_by_unit(period, DEPT_ASKS, trigger="raise_hand").items():
        if scope.counts_hand(actor_unit):
            hands += n
            micro.add(actor_unit)
    micro &= set(scope.microgrids)
    responded = q.responded(scope, period, DEPT_ASKS, trigger="raise_hand")
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


def overdue_kpis(
    late: dict[tuple[str | None, str | None], list[Any]],
    now: datetime,
    directory: Directory,
    working_seconds: Callable[[datetime, datetime], float],
    day: float,
) -> dict[str, Any]:
    """The overdue league, from the late cases of the case pass: by unit and by the
    department owing the next move."""
    by_unit: dict[str | None, list[Any]] = {}
    by_dept: dict[str | None, list[Any]] = {}
    for (unit, dept), (n, oldest) in late.items():
        for key, into in ((unit, by_unit), (dept, by_dept)):
            if into is by_dept and key is None:
                continue
            got = into.setdefault(key, [key, 0, oldest])
            got[1] += n
            got[2] = min(got[2], oldest)

    def rows(result: dict[str | None, list[Any]], key: str) -> list[dict[str, Any]]:
        out = []
        for uid, n, oldest in result.values():
            u = directory.units.get(uid) if uid else None
            out.append(
                {
                    key: uid,
                    "name": u.name if u else uid,
                    "name_en": (u.name_en or u.name) if u else uid,
                    "overdue": n,
                    "oldest_due": iso(oldest),
                    "max_days_overdue": _days(working_seconds(oldest, now), day),
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


def _days(seconds: float | None, day: float) -> float | None:
    """Working seconds as working days of ``day`` seconds, to two decimals."""
    return None if seconds is None else round(seconds / day, 2)


# ---- the yearly report's data -------------------------------------------------------------------
YEARLY_LIST_LIMIT = 500


def yearly_data(
    engine: Engine, unit: str, year: int, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """What the yearly report of ``unit`` shows for ``year``: the KPIs, monthly cases opened
    and closed, the year's cases by current state, and the lists of its problems, questions
    and hands (at most ``YEARLY_LIST_LIMIT`` rows each). ``progress(step)`` is called after
    each step."""
    tick = progress or (lambda _step: None)
    scope = Scope.of(engine.directory, unit)
    period = Period.year(year, engine.calendar.tz.key)
    now = engine.now()
    kpis = compute(engine, unit=unit, period=period, now=now)
    tick("kpis")
    mine = (FOUR_LIST, GRID_ASKS)
    with engine.reports.snapshot() as snap:
        q = snap.main
        monthly = q.monthly(scope, mine, period.months())
        tick("monthly")
        states = q.states(scope, mine, period)
        tick("states")
        problems = q.listing(scope, FOUR_LIST, period, YEARLY_LIST_LIMIT + 1)
        questions = q.listing(scope, GRID_ASKS, period, YEARLY_LIST_LIMIT + 1)
        tick("cases")
        hands = q.hands_listing(scope, period, trigger="raise_hand", limit=YEARLY_LIST_LIMIT + 1)
        tick("hands")
    for item in (*problems, *questions, *hands):
        item["created_at"], item["closed_at"] = iso(item["created_at"]), iso(item["closed_at"])
    for item in hands:
        item["hand_at"] = iso(item["hand_at"])
        item["won"] = item["hand_unit"] in (item["data"].get("awardees") or [])
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
