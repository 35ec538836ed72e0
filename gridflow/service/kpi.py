"""Reports over a consistent snapshot of the database (service ring).

A report reads with two transactions that see the same state, so its two big passes (cases,
steps) can run at once, one per core, and still add up (``Store.snapshot_pair``). What the
figures mean is the caller's: this part names no workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from gridflow.service.runtime import Runtime

if TYPE_CHECKING:
    from gridflow.storage.kpi import KpiQueries

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
    """Snapshots for reports, and the working-time units figures are given in."""

    def __init__(self, rt: Runtime):
        self.rt = rt

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


def ratio(num: float | None, den: float | None, digits: int = 4) -> float | None:
    """``num / den`` rounded, or None when the denominator is zero or missing."""
    if not den or num is None:
        return None
    return round(num / den, digits)


def iso(value: datetime | None) -> str | None:
    """An aware (or UTC-naive) datetime as UTC ISO text; None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
