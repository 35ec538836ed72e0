"""Reports over a consistent snapshot of the database (service ring).

A report reads with two transactions that see the same state, so its two big passes (cases,
steps) can run at once, one per core, and still add up (``Store.snapshot_pair``). What the
figures mean is each workflow's ``kpis:`` block (its plan); this part names no workflow.

:meth:`Reports.compute` gives every section of every workflow in force for a unit and a
period, plus the overdue league (``docs/kpis.md``); :meth:`Reports.yearly` what a unit's
yearly page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gridflow.domain.period import Period
from gridflow.domain.scope import CaseSet, Scope
from gridflow.service.kpi_figures import (
    CASE_QUERIES,
    COMPUTE_STEPS,
    STEP_QUERIES,
    compute_sections,
    needs_of,
    overdue,
    prefetch,
)
from gridflow.service.kpi_figures import ratio as ratio
from gridflow.service.runtime import Runtime

if TYPE_CHECKING:
    from gridflow.service.definitions import Definitions
    from gridflow.storage.kpi import KpiQueries

__all__ = ["COMPUTE_STEPS", "YEARLY_LIST_LIMIT", "Reports", "Snapshot", "iso", "ratio"]
YEARLY_LIST_LIMIT = 500

T = TypeVar("T")
U = TypeVar("U")


class Snapshot:
    """Two bound query sets over one database state: ``main`` and ``other``."""

    def __init__(self, main: KpiQueries, other: KpiQueries):
        self.main, self.other = main, other

    def both(
        self, first: Callable[[KpiQueries], T], second: Callable[[KpiQueries], U]
    ) -> tuple[T, U]:
        """``first(main)`` here and ``second(other)`` in a worker thread, at once (one after
        the other on an in-memory database, whose one connection both share)."""
        if self.other.tx is self.main.tx:
            return first(self.main), second(self.other)
        with ThreadPoolExecutor(1) as worker:
            pending = worker.submit(second, self.other)
            a = first(self.main)
            return a, pending.result()


class Reports:
    """The KPIs of the workflows in force; snapshots for reports, and the working-time units
    figures are given in."""

    def __init__(self, rt: Runtime, defs: Definitions | None = None):
        self.rt, self.defs = rt, defs

    # ---- the KPIs ------------------------------------------------------------------------
    def compute(
        self,
        *,
        unit: str | None = None,
        period: Period,
        now: datetime | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Every section of every workflow in force, for ``unit`` (and its subtree; None:
        everything) over ``period``; overdue as of ``now`` (default: the clock). JSON-ready:
        rates are fractions (0..1) or None when the denominator is zero; times are ISO
        strings. ``progress(step)`` ticks ``COMPUTE_STEPS`` times."""
        assert self.defs is not None, "Reports.compute needs the workflows (Definitions)"
        now = (now or self.rt.now()).astimezone(UTC)
        tick = progress or (lambda _step: None)
        directory = self.defs.directory
        scope = Scope.of(directory, unit)
        plans = {wid: wf.kpis for wid, wf in self.defs.current.items()}
        day = self.workday_seconds()
        needs = needs_of(plans.values(), day)
        with self.snapshot() as snap:

            def case_side(q: KpiQueries) -> tuple[list[Any], list[Any], dict[Any, Any]]:
                groups = q.case_groups(period, now, clocks=needs.clocks)
                # the state at the end is asked only for cases that moved since the end (none,
                # for a period ending now)
                moved_any = any(g.open_at_end > g.open_still for g in groups)
                moved = q.moved_groups(period) if needs.moved and moved_any else []
                asked = prefetch(
                    q, plan_list, scope, period, directory, day, needs, CASE_QUERIES, groups
                )
                return groups, moved, asked

            def step_side(q: KpiQueries) -> tuple[list[Any], dict[Any, Any]]:
                groups = q.step_groups(
                    period, triggers=sorted(needs.triggers), filters=needs.filters
                )
                asked = prefetch(q, plan_list, scope, period, directory, day, needs, STEP_QUERIES)
                return groups, asked

            plan_list = list(plans.values())
            (cases, moved, by_cases), (steps, by_steps) = snap.both(case_side, step_side)
            tick("cases")
            tick("steps")
            sections = compute_sections(
                snap.main,
                plan_list,
                scope,
                period,
                now,
                directory,
                day,
                cases,
                moved,
                steps,
                needs,
                by_cases | by_steps,
            )
        tick("figures")
        late = overdue(cases, plans, scope, directory, now, self.working_seconds, day, iso)
        tick("overdue")
        u = directory.units.get(unit) if unit else None
        return {
            "unit": unit,
            "unit_name": (u.name if u else unit) if unit else None,
            "unit_name_en": (u.name_en or u.name) if u else unit,
            "unit_kind": u.kind if u else None,
            "period": period.as_dict(),
            "now": now.isoformat(),
            "sections": sections,
            "overdue": late,
        }

    def yearly(
        self, unit: str, year: int, *, progress: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """What the yearly page of ``unit`` shows for ``year``: the KPIs, the cases of its
        ``own`` sections opened and closed per month and by current state, and each
        section's list (its cases, or the hands its territory raised; at most
        ``YEARLY_LIST_LIMIT`` rows each). ``progress(step)`` ticks after each step."""
        assert self.defs is not None, "Reports.yearly needs the workflows (Definitions)"
        tick = progress or (lambda _step: None)
        scope = Scope.of(self.defs.directory, unit)
        period = Period.year(year, self.rt.calendar.tz.key)
        now = self.rt.now()
        kpis = self.compute(unit=unit, period=period, now=now)
        tick("kpis")
        plans = [s for wf in self.defs.current.values() for s in wf.kpis.sections]
        own = [CaseSet(s.workflow, s.tag) for s in plans if s.scope == "own"]
        lists: dict[str, list[dict[str, Any]]] = {}
        with self.snapshot() as snap:
            q = snap.main
            monthly = q.monthly(scope, own, period.months()) if own else []
            tick("monthly")
            states = q.states(scope, own, period) if own else []
            tick("states")
            for s in plans:
                cases = CaseSet(s.workflow, s.tag, published=s.scope == "reach")
                steps = s.listing.steps if s.listing is not None else None
                if steps:
                    lists[s.id] = q.hands_listing(
                        scope, period, cases, trigger=steps, limit=YEARLY_LIST_LIMIT + 1
                    )
                else:
                    lists[s.id] = q.listing(scope, cases, period, YEARLY_LIST_LIMIT + 1)
            tick("cases")
            tick("hands")
        truncated = any(len(x) > YEARLY_LIST_LIMIT for x in lists.values())
        for s in plans:
            won = s.listing.won if s.listing is not None else None
            items = lists[s.id] = lists[s.id][:YEARLY_LIST_LIMIT]
            for item in items:
                item["created_at"], item["closed_at"] = (
                    iso(item["created_at"]),
                    iso(item["closed_at"]),
                )
                if "hand_at" in item:
                    item["hand_at"] = iso(item["hand_at"])
                    item["won"] = bool(won) and item["hand_unit"] in (item["data"].get(won) or [])
        return {
            "unit": unit,
            "year": year,
            "period": period,
            "now": now,
            "kpis": kpis,
            "monthly": monthly,
            "states": states,
            "lists": lists,
            "truncated": truncated,
        }

    # ---- snapshots -----------------------------------------------------------------------

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        store = self.rt.store
        with store.snapshot_pair() as (a, b):
            yield Snapshot(store.kpi(a), store.kpi(b))

    def workday_seconds(self) -> float:
        """The length of a working day of the calendar in force (days in reports are these)."""
        day = 0.0
        for start, end in self.rt.calendar.work_hours:
            day += (end.hour - start.hour) * 3600 + (end.minute - start.minute) * 60
        return day

    def working_seconds(self, start: datetime, end: datetime) -> float:
        return self.rt.calendar.working_seconds(start, end)


def iso(value: datetime | None) -> str | None:
    """An aware (or UTC-naive) datetime as UTC ISO text; None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
