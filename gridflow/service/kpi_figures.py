"""Counting a report's figures (service ring): the workflows' KPI plans over one snapshot.

:func:`compute` runs every workflow's :class:`~gridflow.domain.kpi_plan.KpiPlan` for a unit's
scope and a period. Two grouped passes over the covering indexes — the cases by (workflow,
tag, unit, party, state) and the counted steps by (trigger, workflow, the case's tag, unit,
party and grade at the step) — run at once on one snapshot; the groups of each section are
summed here, and small queries add what a pass cannot give (deadlines settled, distinct
cases, acting units, percentiles). Nothing here names a workflow, a state or a trigger.

A unit's scope (:class:`~gridflow.domain.scope.Scope`): an ``own`` section counts the cases
sitting in the unit's subtree or whose responsible party (``facets.party``) is in it — for a
department, those it is the party of; case counts by the party as the case stands, step
counts by the party as the step left it. A ``reach`` section counts cases published by the
unit or above it. The overdue league puts a late case under the party that owes the next
move (in the workflow's ``owes`` states), else under its unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridflow.domain.duration import Duration
from gridflow.domain.kpi_plan import FigurePlan, KpiPlan, SectionPlan, headline_text
from gridflow.domain.org import Directory
from gridflow.domain.period import Period
from gridflow.domain.scope import CaseSet, Scope
from gridflow.storage.kpi import CaseGroup, KpiQueries, StepAsk, StepFilter, StepGroup

COMPUTE_STEPS = 4  # progress ticks of compute(): cases, steps, figures, overdue


def ratio(num: float | None, den: float | None, digits: int = 4) -> float | None:
    """``num / den`` rounded, or None when the denominator is zero or missing."""
    if not den or num is None:
        return None
    return round(num / den, digits)


def days(seconds: float | None, day: float) -> float | None:
    """Working seconds as working days of ``day`` seconds, to two decimals."""
    return None if seconds is None else round(seconds / day, 2)


@dataclass
class _Needs:
    """What the passes must count for the figures of every plan."""

    clocks: list[str] = field(default_factory=list)
    triggers: set[str] = field(default_factory=set)
    filters: list[StepFilter] = field(default_factory=list)
    moved: bool = False  # some figure needs the state at the period end

    def filter_index(self, f: StepFilter) -> int:
        if f not in self.filters:
            self.filters.append(f)
        return self.filters.index(f)


def _step_filter(f: FigurePlan, day: float) -> StepFilter | None:
    """The filter a plain step figure's steps pass (None: every step counts)."""
    within = None
    if f.spec.within is not None:
        d = Duration.parse(f.spec.within)
        within = d.amount * (day if d.unit == "wd" else 3600)
    to = tuple(sorted(f.to)) if f.to is not None else None
    return None if to is None and within is None else StepFilter(to, within)


def _plain_steps(f: FigurePlan) -> bool:
    """A step figure counted from the grouped step pass."""
    return f.measure == "steps" and f.spec.per == "step" and f.spec.by is None


def needs_of(plans: Iterable[KpiPlan], day: float) -> _Needs:
    needs = _Needs()
    for plan in plans:
        for section in plan.sections:
            for f in section.figures:
                spec = f.spec
                clock = spec.deadlines
                wanted = [clock] if clock is not None and spec.outcome in ("all", "missed") else []
                needs.clocks += [c for c in wanted if c not in needs.clocks]
                if _plain_steps(f):
                    needs.triggers.update(spec.steps or ())
                    flt = _step_filter(f, day)
                    if flt is not None:
                        needs.filter_index(flt)
                if spec.cases == "open_at_end" and f.states is not None:
                    needs.moved = True
    return needs


class _Section:
    """One section's groups, summed as its figures ask, and its figures evaluated."""

    def __init__(
        self,
        plan: SectionPlan,
        scope: Scope,
        cases: list[CaseGroup],
        moved: list[tuple[Any, ...]],
        steps: list[StepGroup],
    ):
        self.plan, self.scope = plan, scope
        self.set = CaseSet(plan.workflow, plan.tag, published=plan.scope == "reach")
        self.cases = [r for r in cases if self._mine(r.workflow_id, r.tag, r.unit, r.party)]
        self.moved = [r for r in moved if self._mine(*r[:4])]
        self.steps = [
            r for r in steps if self._mine(r.workflow_id, r.case_tag, r.case_unit, r.case_party)
        ]

    def _mine(self, workflow: str | None, tag: str | None, unit: str | None, party: Any) -> bool:
        p = self.plan
        if workflow != p.workflow or (p.tag is not None and tag != p.tag):
            return False
        if p.scope == "reach":
            return self.scope.publishes(unit)
        return self.scope.owns(unit, party)

    def case_sum(self, name: str, states: frozenset[str] | None) -> int:
        return sum(getattr(r, name) for r in self.cases if states is None or r.state in states)


def compute_sections(
    q: KpiQueries,
    plans: Sequence[KpiPlan],
    scope: Scope,
    period: Period,
    now: datetime,
    directory: Directory,
    day: float,
    cases: list[CaseGroup],
    moved: list[tuple[Any, ...]],
    steps: list[StepGroup],
    needs: _Needs,
    cache: dict[tuple[Any, ...], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every section of every plan: its figures, how they are shown, its headline.
    ``cache``: the small queries already answered (:func:`prefetch`)."""
    out: dict[str, dict[str, Any]] = {}
    cache = {} if cache is None else cache
    for plan in plans:
        for sp in plan.sections:
            section = _Section(sp, scope, cases, moved, steps)
            ev = _Evaluator(q, section, period, now, directory, day, needs, cache)
            values = ev.run()
            out[sp.id] = {
                "workflow": sp.workflow,
                "tag": sp.tag,
                "scope": sp.scope,
                "label": {"zh": sp.label[0], "en": sp.label[1]},
                "headline": _headline(sp, values),
                "figures": values,
                "metrics": [f.metric() for f in sp.figures],
            }
    return out


# the small queries, by the pass whose thread runs them (the history's or the cases')
STEP_QUERIES = ("deadlines", "step_cases", "by_unit")
CASE_QUERIES = ("opened_with_step", "percentile")


def prefetch(
    q: KpiQueries,
    plans: Sequence[KpiPlan],
    scope: Scope,
    period: Period,
    directory: Directory,
    day: float,
    needs: _Needs,
    kinds: Sequence[str],
    cases: list[CaseGroup] | None = None,
) -> dict[tuple[Any, ...], Any]:
    """Answer the small queries of ``kinds`` every section needs, on ``q`` (a thread's own
    transaction of the snapshot), so they run beside the other pass; ``cases``: the case
    groups, for a percentile's count."""
    cache: dict[tuple[Any, ...], Any] = {}
    for plan in plans:
        for sp in plan.sections:
            section = _Section(sp, scope, cases or [], [], [])
            ev = _Evaluator(q, section, period, period.end, directory, day, needs, cache)
            for f in sp.figures:
                ev.query_of(f, kinds)
    return cache


def _headline(sp: SectionPlan, values: dict[str, Any]) -> dict[str, str] | None:
    if sp.headline is None:
        return None
    kinds = {f.key: f.kind for f in sp.figures}

    def show(key: str, value: Any) -> str:
        if value is None:
            return "—"
        if kinds.get(key) == "rate":
            return f"{value * 100:.1f}%"
        if kinds.get(key) == "days":
            return f"{value:.1f}"
        return str(value)

    zh, en = sp.headline
    return {"zh": headline_text(zh, values, show), "en": headline_text(en, values, show)}


class _Evaluator:
    """The figures of one section, each counted once (sums and rates after their parts)."""

    def __init__(
        self,
        q: KpiQueries,
        section: _Section,
        period: Period,
        now: datetime,
        directory: Directory,
        day: float,
        needs: _Needs,
        cache: dict[tuple[Any, ...], Any],
    ):
        self.q, self.s, self.period, self.now = q, section, period, now
        self.directory, self.day, self.needs = directory, day, needs
        self.values: dict[str, Any] = {}
        self.figures = {f.key: f for f in section.plan.figures}
        self.cache = cache

    def _ask(self, kind: str, key: tuple[Any, ...], ask: Callable[[], Any]) -> Any:
        """A small query's answer, asked once per section (or found in the cache)."""
        full = (kind, self.s.plan.id, *key)
        if full not in self.cache:
            self.cache[full] = ask()
        return self.cache[full]

    def query_of(self, f: FigurePlan, kinds: Sequence[str]) -> None:
        """Ask the small query ``f`` needs when it is of one of ``kinds``."""
        spec, s = f.spec, self.s
        if spec.deadlines is not None and spec.outcome != "missed" and "deadlines" in kinds:
            self._settled_of(f)
        elif spec.steps is not None and spec.per == "case" and "step_cases" in kinds:
            self._step_cases(f)
        elif spec.steps is not None and spec.by is not None and "by_unit" in kinds:
            self._by_unit(spec.steps)
        elif spec.cases == "opened" and spec.with_step and "opened_with_step" in kinds:
            self._opened_with_step(f)
        elif spec.days is not None and spec.days != "mean" and "percentile" in kinds:
            self._percentile(f, s.case_sum("work_n", f.states) if s.cases else None)

    def run(self) -> dict[str, Any]:
        for key in self.figures:
            self.value(key)
        return {key: self.values[key] for key in self.figures}

    def value(self, key: str) -> Any:
        if key not in self.values:
            self.values[key] = self._count(self.figures[key])
        return self.values[key]

    # ---- one figure ----------------------------------------------------------------------
    def _count(self, f: FigurePlan) -> Any:
        spec, s = f.spec, self.s
        if spec.cases is not None:
            return self._cases(f)
        if spec.steps is not None:
            return self._steps(f)
        if spec.deadlines is not None:
            return self._deadlines(f)
        if spec.days is not None:
            n = s.case_sum("work_n", f.states)
            if spec.days == "mean":
                total = sum(
                    r.work_sum or 0.0 for r in s.cases if f.states is None or r.state in f.states
                )
                return days(total / n if n else None, self.day)
            return days(self._percentile(f, n), self.day)
        if spec.units is not None:
            return len(s.scope.units_of_kind(self.directory, spec.units))
        if spec.sum is not None:
            parts = [self.value(k) for k in spec.sum]
            minus = [self.value(k) for k in spec.minus]
            if any(v is None for v in (*parts, *minus)):
                return None
            return sum(parts) - sum(minus)
        assert spec.rate is not None
        return ratio(self.value(spec.rate[0]), self.value(spec.rate[1]))

    # ---- the small queries --------------------------------------------------------------
    def _settled_key(self, f: FigurePlan) -> tuple[Any, ...]:
        return ("deadlines", self.s.plan.id, f.spec.deadlines, tuple(f.spec.settled_by or ()))

    def _cases_key(self, f: FigurePlan) -> tuple[Any, ...]:
        triggers = tuple(sorted(f.spec.steps or ()))
        return ("step_cases", self.s.plan.id, triggers, f.spec.by is not None)

    def _history(self) -> None:
        """The section's deadline and distinct-case counts, all in one statement."""
        asks: dict[tuple[Any, ...], StepAsk] = {}
        for f in self.s.plan.figures:
            spec = f.spec
            if spec.deadlines is not None and spec.outcome != "missed":
                asks[self._settled_key(f)] = StepAsk.deadlines(
                    sorted(f.running), sorted(f.pausing), spec.settled_by
                )
            elif spec.steps is not None and spec.per == "case":
                asks[self._cases_key(f)] = StepAsk.cases(spec.steps, spec.by is not None)
        wanted = {k: a for k, a in asks.items() if k not in self.cache}
        if wanted:
            s = self.s
            found = self.q.step_counts(s.scope, self.period, s.set, list(wanted.values()))
            for key, counts in zip(wanted, found, strict=True):
                self.cache[key] = counts if len(counts) > 1 else counts[0]

    def _settled_of(self, f: FigurePlan) -> tuple[int, int]:
        key = self._settled_key(f)
        if key not in self.cache:
            self._history()
        return self.cache[key]

    def _step_cases(self, f: FigurePlan) -> int:
        key = self._cases_key(f)
        if key not in self.cache:
            self._history()
        return self.cache[key]

    def _by_unit(self, triggers: Sequence[str]) -> dict[str | None, int]:
        s = self.s
        return self._ask(
            "by_unit",
            (tuple(sorted(triggers)),),
            lambda: self.q.steps_by_actor_unit(self.period, s.set, triggers=triggers),
        )

    def _opened_with_step(self, f: FigurePlan) -> int:
        spec, s = f.spec, self.s
        triggers = spec.with_step or []
        territory = spec.by is not None
        return self._ask(
            "opened_with_step",
            (tuple(sorted(triggers)), territory),
            lambda: self.q.opened_with_step(
                s.scope, self.period, s.set, triggers=triggers, territory=territory
            ),
        )

    def _percentile(self, f: FigurePlan, n: int | None) -> float | None:
        spec, s = f.spec, self.s
        states = sorted(f.states) if f.states is not None else None
        frac = (int((spec.days or "p50")[1:]), 100)
        return self._ask(
            "percentile",
            (tuple(states or ()), frac),
            lambda: self.q.work_percentile(
                s.scope, self.period, s.set, states=states, frac=frac, n=n
            ),
        )

    def _cases(self, f: FigurePlan) -> int:
        spec, s = f.spec, self.s
        if spec.cases == "opened":
            if spec.with_step:
                return self._opened_with_step(f)
            return s.case_sum("created", None)
        if spec.cases == "closed":
            return s.case_sum("closed", f.states)
        if spec.cases == "opened_closed":
            return s.case_sum("created_closed", f.states)
        if spec.cases == "overdue":
            return s.case_sum("late", None)
        if f.states is None:
            return s.case_sum("open_at_end", None)
        still = s.case_sum("open_still", f.states)
        return still + sum(int(r[5]) for r in s.moved if r[4] in f.states)

    def _steps(self, f: FigurePlan) -> int:
        spec, s = f.spec, self.s
        triggers = spec.steps or []
        if spec.per == "case":
            return self._step_cases(f)
        if spec.by is not None:
            counted = {
                u: n for u, n in self._by_unit(triggers).items() if s.scope.counts_hand(u) and n
            }
            if spec.per == "unit":
                units = set(counted)
                if spec.kind is not None:
                    units &= set(s.scope.units_of_kind(self.directory, spec.kind))
                return len(units)
            return sum(counted.values())
        flt = _step_filter(f, self.day)
        idx = None if flt is None else self.needs.filter_index(flt)
        total = 0
        for r in s.steps:
            if r.trigger not in triggers:
                continue
            if spec.grade is not None and r.case_grade != spec.grade:
                continue
            total += r.n if idx is None else r.counts[idx]
        return total

    def _deadlines(self, f: FigurePlan) -> int:
        spec, s = f.spec, self.s
        missed = 0
        if spec.outcome in ("all", "missed"):
            i = self.needs.clocks.index(spec.deadlines or "")
            missed = sum(r.missed[i] for r in s.cases)
            if spec.outcome == "missed":
                return missed
        settled, on_time = self._settled_of(f)
        if spec.outcome == "met":
            return on_time
        if spec.outcome == "late":
            return settled - on_time
        return settled + missed


# ---- the overdue league -------------------------------------------------------------------
def overdue(
    cases: list[CaseGroup],
    plans: dict[str, KpiPlan],
    scope: Scope,
    directory: Directory,
    now: datetime,
    working_seconds: Callable[[datetime, datetime], float],
    day: float,
    iso: Callable[[datetime | None], str | None],
) -> dict[str, Any]:
    """Late cases by the unit answering for them and by the party owing the next move."""
    late: dict[tuple[str | None, str | None], list[Any]] = {}
    units = directory.units
    for r in cases:
        if not r.late:
            continue
        plan = plans.get(r.workflow_id)
        owes = plan is not None and r.party and (plan.owes is None or r.state in plan.owes)
        owing = r.party if owes else None
        territorial = owing in units and units[owing].kind != "department"
        unit = owing if territorial else r.unit
        dept = None if territorial else owing
        if scope.late_here(unit, dept):
            got = late.setdefault((unit, dept), [0, r.oldest])
            got[0] += r.late
            got[1] = min(got[1], r.oldest)
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
            u = units.get(uid) if uid else None
            out.append(
                {
                    key: uid,
                    "name": u.name if u else uid,
                    "name_en": (u.name_en or u.name) if u else uid,
                    "overdue": n,
                    "oldest_due": iso(oldest),
                    "max_days_overdue": days(working_seconds(oldest, now), day),
                }
            )
        out.sort(key=lambda x: (-x["overdue"], x["oldest_due"] or "", x[key] or ""))
        for i, item in enumerate(out, 1):
            item["rank"] = i
        return out

    league = rows(by_unit, "unit")
    return {
        "total": sum(u["overdue"] for u in league),
        "by_unit": league,
        "by_department": rows(by_dept, "department"),
    }
