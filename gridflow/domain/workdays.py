"""Counting working days in O(years), not O(days) (pure; used by the business calendar).

A span of dates is cut where the holiday package's years begin and end. Inside them, each
year's working days are classified once (a year is at most 366 look-ups) and kept as running
totals, so a count over any part of a year is two look-ups. Outside them a day works when it
is a Monday–Friday that the override file does not list as a holiday, or a day it lists as a
make-up working day — so a count there is arithmetic on weekday numbers plus two binary
searches over the override dates. ``nth_after`` / ``nth_before`` find the N-th working day
by galloping and bisecting over that count.

Contract: the answers are exactly those of walking day by day with ``is_working``; dates
stay within ``date.min``..``date.max`` or the call raises ``OverflowError`` (the calendar
turns it into a ``TimeRangeError``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import date, timedelta

_ONE_DAY = timedelta(days=1)


def _weekdays_through(ordinal: int) -> int:
    """Mondays–Fridays among ordinals 1..``ordinal`` (ordinal 1, 0001-01-01, is a Monday)."""
    weeks, rest = divmod(max(ordinal, 0), 7)
    return weeks * 5 + min(rest, 5)


class WorkdayIndex:
    """Working-day counts for one calendar. ``is_working(d)`` classifies a day (called only
    for days of the package's years, ``package``: first and last year); ``holidays`` and
    ``workdays`` are the override file's dates, which decide outside those years."""

    def __init__(
        self,
        is_working: Callable[[date], bool],
        package: tuple[int, int],
        holidays: Iterable[date],
        workdays: Iterable[date],
    ):
        self._is_working = is_working
        self._first, self._last = package
        # outside the package years: weekday holidays remove a day, weekend workdays add one
        self._off = sorted(d for d in holidays if d.weekday() < 5 and not self._inside(d.year))
        self._on = sorted(d for d in workdays if d.weekday() >= 5 and not self._inside(d.year))
        self._running: dict[int, list[int]] = {}

    def _inside(self, year: int) -> bool:
        return self._first <= year <= self._last

    # ---- counting ----------------------------------------------------------------------
    def count(self, first: date, last: date) -> int:
        """Working days from ``first`` to ``last``, both included (0 when ``last < first``)."""
        if last < first:
            return 0
        total = 0
        start_in, end_in = date(self._first, 1, 1), date(self._last, 12, 31)
        if first < start_in:  # before the package's years
            total += self._guessed(first, min(last, start_in - _ONE_DAY))
        lo, hi = max(first, start_in), min(last, end_in)
        if lo <= hi:
            total += self._known(lo, hi)
        if last > end_in:  # after them
            total += self._guessed(max(first, end_in + _ONE_DAY), last)
        return total

    def _guessed(self, first: date, last: date) -> int:
        weekdays = _weekdays_through(last.toordinal()) - _weekdays_through(first.toordinal() - 1)
        off = bisect_right(self._off, last) - bisect_left(self._off, first)
        on = bisect_right(self._on, last) - bisect_left(self._on, first)
        return weekdays - off + on

    def _known(self, first: date, last: date) -> int:
        if first.year == last.year:
            running = self._year(first.year)
            return running[last.timetuple().tm_yday] - running[first.timetuple().tm_yday - 1]
        total = self._year(first.year)[-1] - self._year(first.year)[first.timetuple().tm_yday - 1]
        for year in range(first.year + 1, last.year):
            total += self._year(year)[-1]
        return total + self._year(last.year)[last.timetuple().tm_yday]

    def _year(self, year: int) -> list[int]:
        """Running totals of a package year: ``[0, first day, first two days, …]``."""
        running = self._running.get(year)
        if running is None:
            running, n, d = [0], 0, date(year, 1, 1)
            while d.year == year:
                n += self._is_working(d)
                running.append(n)
                d += _ONE_DAY
            self._running[year] = running
        return running

    # ---- finding -----------------------------------------------------------------------
    def nth_after(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``n >= 1``)."""
        step = n * 7 // 5 + 14
        hi = _shift(d, step)
        while self.count(d + _ONE_DAY, hi) < n:
            if hi == date.max:
                raise OverflowError("date value out of range")
            step *= 2
            hi = _shift(d, step)
        lo = d  # count(d+1, lo) < n <= count(d+1, hi)
        while (hi - lo).days > 1:
            mid = lo + timedelta(days=(hi - lo).days // 2)
            if self.count(d + _ONE_DAY, mid) >= n:
                hi = mid
            else:
                lo = mid
        return hi

    def nth_before(self, d: date, n: int) -> date:
        """The ``n``-th working day before ``d`` (``n >= 1``)."""
        step = n * 7 // 5 + 14
        lo = _shift(d, -step)
        while self.count(lo, d - _ONE_DAY) < n:
            if lo == date.min:
                raise OverflowError("date value out of range")
            step *= 2
            lo = _shift(d, -step)
        hi = d  # count(hi, d-1) < n <= count(lo, d-1)
        while (hi - lo).days > 1:
            mid = lo + timedelta(days=(hi - lo).days // 2)
            if self.count(mid, d - _ONE_DAY) >= n:
                lo = mid
            else:
                hi = mid
        return lo


def _shift(d: date, days: int) -> date:
    """``d`` moved by ``days``, stopping at ``date.min``/``date.max`` (galloping may not
    overshoot an answer that lies before the edge)."""
    try:
        return d + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min
