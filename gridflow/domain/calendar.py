"""The business calendar: which days are working days, and deadline maths in working time.

Pure domain code: it never reads the wall clock, the database or the CLI. Every datetime in
and out is timezone-aware (naive input is taken as UTC); returned instants are in UTC, while
all day/hour reasoning happens in the calendar's timezone (default ``Asia/Shanghai``).

Which days work
    Holidays and make-up working days (调休, a working Saturday or Sunday) come from the
    ``chinese_calendar`` package (``chinesecalendar``, official State Council schedules). An
    override file (YAML, see ``CalendarOverrides``) adds local changes and whole new years
    before the package has them; an override entry always beats package data. Outside the
    years covered by the package or declared by the override file (``years:``), days are a
    Monday–Friday *guess*: ``day()`` says ``source="guess"`` and every ``Deadline`` whose
    computation touches such a year has ``provisional=True``. It is never silent. Which
    package years count is injectable (``covered_years``): by default every year the
    installed package has, so a chinesecalendar release that adds a year changes results;
    tests pin the span so that they do not.

Duration semantics (see ``gridflow.domain.duration``)
    ``wd``  working days, counted from the day after the start (次日起算). ``N wd`` ends at
            the END of working hours (17:30 by default) of the N-th working day after the
            start's local date, whatever the start's time of day. Example: 2026-09-28 + 5wd =
            2026-10-10 17:30 (Oct 1–7 National Day, Oct 10 a make-up Saturday). ``0wd`` is the
            end of the start day if it is a working day, else of the next working day. A
            fractional amount (``0.5wd``, ``1.5wd``) is converted to working hours of a full
            day (7.5 h by default) and added like ``wh``.
    ``wh``  working hours: time only runs inside the working windows (08:30–11:30 and
            13:00–17:30 by default) of working days; lunch, evenings, weekends and holidays
            are skipped (11:00 + 1wh = 13:30; 17:00 + 1wh = 09:00 next working day). A result
            that lands exactly on the end of a window stays there (17:00 + 0.5wh = 17:30).
    ``h``, ``d``, ``m``  plain elapsed time (``d`` = 24 h); no holiday data is used, so such
            deadlines are never provisional.

Subtracting (reminders such as "4wh before due") walks working time backwards for ``wh`` and
fractional ``wd``; a whole ``N wd`` gives the same local clock time on the N-th working day
before the due date. ``at_fraction`` places a point at a fraction of the *working* time
between two instants (plain time when there is no working time between them).

Cost and range
    Working-time arithmetic costs O(years), not O(days): whole runs of working days are
    counted and skipped with :class:`~gridflow.domain.workdays.WorkdayIndex` (a year of the
    holiday package is classified once; other years are weekday arithmetic plus the override
    dates), and only the first and the last day are walked window by window. (Skipping
    assumes every working day has the same working seconds, which holds unless a clock
    change falls *inside* a working window.) Every answer lies in years 1–9999: one that
    would not is a :class:`~gridflow.errors.TimeRangeError`, never an ``OverflowError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import chinese_calendar

from gridflow.domain.calendar_overrides import CalendarOverrides
from gridflow.domain.duration import Duration
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.workdays import WorkdayIndex
from gridflow.errors import CalendarNotCovered, GridflowError, TimeRangeError

DEFAULT_WORK_HOURS: tuple[tuple[time, time], ...] = (
    (time(8, 30), time(11, 30)),
    (time(13, 0), time(17, 30)),
)
_ONE_DAY = timedelta(days=1)
_CHINESE_NAMES = {h.value: h.chinese for h in chinese_calendar.Holiday}


@dataclass(frozen=True)
class Deadline:
    """An instant (aware, UTC) and whether it rests on guessed (uncovered) calendar years."""

    at: datetime
    provisional: bool


@dataclass(frozen=True)
class DayInfo:
    """One local date. ``kind``: workday / weekend / holiday / makeup (调休 working weekend day).

    ``source``: "package" (chinese_calendar), "override" (the override file) or "guess"
    (the year is not covered: Monday–Friday assumed).
    """

    day: date
    working: bool
    kind: str
    name: str | None
    source: str


# --------------------------------------------------------------------------- package data


@cache
def _package_years() -> tuple[int, int]:
    """First and last year ``chinese_calendar`` has official data for."""
    days = chinese_calendar.holidays
    return min(days).year, max(days).year


def _check_years(years: Sequence[int] | None) -> tuple[int, int]:
    """``covered_years`` as ``(first, last)``: default the installed package's span; a given
    span must be ``first <= last`` and lie inside it (``ValueError`` otherwise)."""
    package = _package_years()
    if years is None:
        return package
    try:
        first, last = (int(y) for y in years)
    except (TypeError, ValueError):
        raise ValueError(f"covered_years must be (first, last), not {years!r}") from None
    if first > last:
        raise ValueError(f"covered_years {first}–{last}: the first year is after the last")
    if first < package[0] or last > package[1]:
        raise ValueError(
            f"covered_years {first}–{last} reaches beyond the installed chinesecalendar data "
            f"({package[0]}–{package[1]}); declare further years in the override file"
        )
    return first, last


def _package_detail(d: date) -> tuple[bool, str | None] | None:
    """``(is_day_off, holiday name)`` from the package, or ``None`` for a year it lacks."""
    try:
        off, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:
        return None
    return bool(off), (_CHINESE_NAMES.get(name, name) if name else None)


def _zone(name: str | ZoneInfo) -> ZoneInfo:
    if isinstance(name, ZoneInfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, available_timezones())
        raise GridflowError(f"unknown timezone {name!r}{hint}") from None


def _check_windows(windows: Sequence[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """Working windows must be non-empty, each start < end, sorted and not overlapping."""
    result = tuple((start, end) for start, end in windows)
    if not result:
        raise ValueError("work_hours needs at least one window, e.g. 08:30-11:30")
    previous_end: time | None = None
    for start, end in result:
        if not start < end:
            raise ValueError(f"work_hours window {start:%H:%M}-{end:%H:%M} ends before it starts")
        if previous_end is not None and start < previous_end:
            raise ValueError("work_hours windows must be in order and must not overlap")
        previous_end = end
    return result


def parse_work_hours(specs: Iterable[str]) -> tuple[tuple[time, time], ...]:
    """``["08:30-11:30", "13:00-17:30"]`` → time windows; ``GridflowError`` when malformed."""
    windows = []
    for spec in specs:
        match = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", str(spec))
        try:
            if not match:
                raise ValueError("expected HH:MM-HH:MM")
            start, end = (time.fromisoformat(t.zfill(5)) for t in match.groups())
        except ValueError as exc:
            raise GridflowError(f"calendar.work_hours: cannot read {spec!r} ({exc})") from None
        windows.append((start, end))
    try:
        return _check_windows(windows)
    except ValueError as exc:
        raise GridflowError(f"calendar.work_hours: {exc}") from None


def _aware(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, not {type(dt).__name__}")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


# --------------------------------------------------------------------------- the calendar


class BusinessCalendar:
    """Working days and working-time arithmetic for one timezone and set of working hours.

    ``timezone``: where days and working hours are reckoned (a name or a ``ZoneInfo``).
    ``work_hours``: the working windows of a working day, in order, not overlapping.
    ``overrides``: local changes and extra covered years (``CalendarOverrides``).
    ``covered_years``: ``(first, last)``, the years whose ``chinese_calendar`` data is used;
    ``None`` (the default) means every year the installed package has. A package year
    outside the span is treated like a year the package lacks (a Monday–Friday guess, its
    deadlines provisional) unless the override file declares it, so a pinned span gives the
    same answers whatever chinesecalendar release is installed. It must lie inside the
    package's data (``ValueError``): years beyond it come from the override file.
    """

    def __init__(
        self,
        timezone: str | ZoneInfo = "Asia/Shanghai",
        work_hours: Sequence[tuple[time, time]] = DEFAULT_WORK_HOURS,
        overrides: CalendarOverrides | None = None,
        covered_years: tuple[int, int] | None = None,
    ):
        self.tz: ZoneInfo = _zone(timezone)
        self.work_hours = _check_windows(work_hours)
        self.overrides = overrides or CalendarOverrides()
        self.package_years: tuple[int, int] = _check_years(covered_years)
        self._days: dict[date, DayInfo] = {}
        # per local date, its working windows as UTC instants (the calendar never changes
        # after construction: a new calendar is built for new settings or overrides)
        self._day_windows: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._full_day_seconds = sum(
            (datetime.combine(date.min, e) - datetime.combine(date.min, s)).total_seconds()
            for s, e in self.work_hours
        )
        self._index = WorkdayIndex(
            self.is_working_day,
            self.package_years,
            self.overrides.holidays,
            self.overrides.workdays,
        )

    @classmethod
    def from_settings(
        cls,
        *,
        timezone: str,
        work_hours: list[str],
        overrides: str | None,
        covered_years: tuple[int, int] | None = None,
    ) -> BusinessCalendar:
        """Build from config values (``"08:30-11:30"`` strings, override file path or None,
        ``covered_years`` as in the class docstring); mistakes raise ``GridflowError``."""
        windows = parse_work_hours(work_hours)
        try:
            years = _check_years(covered_years)
        except ValueError as exc:
            raise GridflowError(f"calendar.{exc}") from None
        loaded = CalendarOverrides.load(overrides) if overrides else None
        return cls(timezone=timezone, work_hours=windows, overrides=loaded, covered_years=years)

    def __repr__(self) -> str:
        hours = ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in self.work_hours)
        return f"BusinessCalendar({self.tz.key!r}, [{hours}], overrides={self.overrides.source!r})"

    # ---- coverage

    def covers(self, year: int) -> bool:
        """True when ``year`` is in the package span (``package_years``) or the override file
        declares it."""
        first, last = self.package_years
        return first <= year <= last or year in self.overrides.years

    def covered_years(self) -> tuple[int, int]:
        """The contiguous span of covered years around the package span (extended by
        overrides)."""
        first, last = self.package_years
        while first - 1 in self.overrides.years:
            first -= 1
        while last + 1 in self.overrides.years:
            last += 1
        return first, last

    def uncovered_years_between(self, a: datetime, b: datetime) -> list[int]:
        """Years (of local dates from ``a`` to ``b``, either order) without holiday data."""
        ya, yb = self._local_date(a).year, self._local_date(b).year
        return [y for y in range(min(ya, yb), max(ya, yb) + 1) if not self.covers(y)]

    def check_covered(self, a: datetime, b: datetime) -> None:
        """Raise ``CalendarNotCovered`` for the first uncovered year between ``a`` and ``b``."""
        missing = self.uncovered_years_between(a, b)
        if missing:
            raise CalendarNotCovered(missing[0], self.covered_years())

    # ---- days

    def day(self, d: date) -> DayInfo:
        """What ``d`` (a local date; a datetime is converted to its local date) is."""
        if isinstance(d, datetime):
            d = self._local_date(d)
        info = self._days.get(d)
        if info is None:
            info = self._days[d] = self._classify(d)
        return info

    def _classify(self, d: date) -> DayInfo:
        weekend = d.weekday() >= 5
        if d in self.overrides.holidays:
            return DayInfo(d, False, "holiday", self.overrides.holidays[d], "override")
        if d in self.overrides.workdays:
            kind = "makeup" if weekend else "workday"
            return DayInfo(d, True, kind, self.overrides.workdays[d], "override")
        first, last = self.package_years
        package = _package_detail(d) if first <= d.year <= last else None
        if package is not None:
            off, name = package
            if off:
                return DayInfo(d, False, "holiday" if name else "weekend", name, "package")
            return DayInfo(d, True, "makeup" if weekend else "workday", name, "package")
        source = "override" if d.year in self.overrides.years else "guess"
        return DayInfo(d, not weekend, "weekend" if weekend else "workday", None, source)

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day (a Monday–Friday guess beyond coverage)."""
        return self.day(d).working

    def month(self, year: int, month: int) -> list[DayInfo]:
        """Every day of the month, in order."""
        d = date(year, month, 1)
        days = []
        while d.month == month:
            days.append(self.day(d))
            d += _ONE_DAY
        return days

    # ---- deadlines

    def add(self, start: datetime, duration: Duration) -> Deadline:
        """``start`` + ``duration`` under the semantics in the module docstring."""
        start = _aware(start)
        with _in_range(start, self.tz, f"+ {duration}"):
            if not duration.is_working_time:
                return Deadline((start + duration.as_timedelta()).astimezone(UTC), False)
            if duration.unit == "wd" and duration.amount.is_integer():
                return self._deadline(self._add_working_days(start, int(duration.amount)), start)
            return self.add_working_seconds(start, self._working_seconds_of(duration))

    def subtract(self, due: datetime, duration: Duration) -> Deadline:
        """``due`` − ``duration``, e.g. a reminder "4wh before due" (see module docstring)."""
        due = _aware(due)
        with _in_range(due, self.tz, f"- {duration}"):
            if not duration.is_working_time:
                return Deadline((due - duration.as_timedelta()).astimezone(UTC), False)
            if duration.unit == "wd" and duration.amount.is_integer():
                return self._deadline(self._back_working_days(due, int(duration.amount)), due)
            return self.add_working_seconds(due, -self._working_seconds_of(duration))

    def add_working_seconds(self, start: datetime, seconds: float) -> Deadline:
        """The instant ``seconds`` of working time after ``start`` (before it if negative)."""
        start = _aware(start)
        if not math.isfinite(seconds):
            raise ValueError(f"working seconds must be finite, not {seconds!r}")
        with _in_range(start, self.tz, f"{seconds / 3600:+.1f}wh"):
            at = self._forward(start, seconds) if seconds >= 0 else self._backward(start, -seconds)
            return self._deadline(at, start)

    def working_seconds(self, a: datetime, b: datetime) -> float:
        """Working time between ``a`` and ``b`` in seconds (0 if ``b <= a``)."""
        a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
        if b <= a:
            return 0.0
        with _in_range(a, self.tz, "working time until a later instant"):
            first, last = self._local_date(a), self._local_date(b)
            total = self._clipped(first, a, b)
            if last > first:  # the days between, each a full working day, then the last one
                total += self._index.count(first + _ONE_DAY, last - _ONE_DAY) * self._day_seconds()
                total += self._clipped(last, a, b)
            return total

    def _clipped(self, d: date, a: datetime, b: datetime) -> float:
        """Working seconds of day ``d`` between the instants ``a`` and ``b``."""
        total = 0.0
        for ws, we in self._windows(d):
            lo = ws if ws > a else a
            hi = we if we < b else b
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def at_fraction(self, start: datetime, due: datetime, fraction: float) -> Deadline:
        """The point ``fraction`` (0.5 = half) of the working time from ``start`` to ``due``.

        With no working time in between, the fraction is taken of plain elapsed time.
        """
        if not (math.isfinite(fraction) and fraction >= 0):
            raise ValueError(f"fraction must be a number >= 0, not {fraction!r}")
        start, due = _aware(start), _aware(due)
        total = self.working_seconds(start, due)
        with _in_range(start, self.tz, f"{fraction:.0%} of the way to {due:%Y-%m-%d}"):
            if total > 0:
                at = self._forward(start, total * fraction)
            else:
                at = start + (due - start) * fraction
            return self._deadline(at, start, due)

    # ---- internals

    def _local_date(self, dt: datetime) -> date:
        return _aware(dt).astimezone(self.tz).date()

    def _at(self, d: date, t: time) -> datetime:
        """Local date + wall-clock time → aware UTC instant."""
        return datetime.combine(d, t, tzinfo=self.tz).astimezone(UTC)

    def _windows(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working windows of ``d`` as UTC instants (none on a day off); worked out once
        per date."""
        windows = self._day_windows.get(d)
        if windows is None:
            if self.is_working_day(d):
                windows = tuple((self._at(d, s), self._at(d, e)) for s, e in self.work_hours)
            else:
                windows = ()
            self._day_windows[d] = windows
        return windows

    def _day_seconds(self) -> float:
        return self._full_day_seconds

    def _working_seconds_of(self, duration: Duration) -> float:
        if duration.unit == "wd":
            return duration.amount * self._day_seconds()
        return duration.amount * 3600

    def _deadline(self, at: datetime, *others: datetime) -> Deadline:
        """A Deadline at ``at``, provisional if any year from the earliest to the latest is."""
        points = [at, *others]
        at_utc = at.astimezone(UTC)
        return Deadline(at_utc, bool(self.uncovered_years_between(min(points), max(points))))

    def _add_working_days(self, start: datetime, n: int) -> datetime:
        """The end of the ``n``-th working day after ``start``'s date (``n == 0``: of that
        day if it works, else of the next working day)."""
        d = self._local_date(start)
        d = self._index.nth_after(d - _ONE_DAY, 1) if n == 0 else self._index.nth_after(d, n)
        return self._at(d, self.work_hours[-1][1])

    def _back_working_days(self, due: datetime, n: int) -> datetime:
        local = due.astimezone(self.tz)
        d = self._index.nth_before(local.date(), n) if n else local.date()
        return datetime.combine(d, local.time(), tzinfo=self.tz).astimezone(UTC)

    def _forward(self, start: datetime, seconds: float) -> datetime:
        """``seconds`` of working time after ``start``: the rest of its day window by window,
        then every whole working day but the last skipped at once, then the last day."""
        cur = start.astimezone(UTC)
        if seconds <= 0:
            return cur
        d = self._local_date(cur)
        at, remaining = self._spend(d, cur, seconds)
        while at is None:
            skip = max(0, math.ceil(remaining / self._day_seconds()) - 1)
            remaining -= skip * self._day_seconds()
            d = self._index.nth_after(d, skip + 1)
            at, remaining = self._spend(d, None, remaining)
        return at

    def _spend(
        self, d: date, cur: datetime | None, remaining: float
    ) -> tuple[datetime | None, float]:
        """Spend ``remaining`` working seconds on day ``d`` from ``cur`` (None: its start):
        the instant it runs out, or None and what is left."""
        for ws, we in self._windows(d):
            begin = ws if cur is None else max(ws, cur)
            if begin >= we:
                continue
            available = (we - begin).total_seconds()
            if remaining <= available:
                return begin + timedelta(seconds=remaining), 0.0
            remaining -= available
        return None, remaining

    def _backward(self, due: datetime, seconds: float) -> datetime:
        """``seconds`` of working time before ``due`` (as :meth:`_forward`, backwards)."""
        cur = due.astimezone(UTC)
        if seconds <= 0:
            return cur
        d = self._local_date(cur)
        at, remaining = self._spend_back(d, cur, seconds)
        while at is None:
            skip = max(0, math.ceil(remaining / self._day_seconds()) - 1)
            remaining -= skip * self._day_seconds()
            d = self._index.nth_before(d, skip + 1)
            at, remaining = self._spend_back(d, None, remaining)
        return at

    def _spend_back(
        self, d: date, cur: datetime | None, remaining: float
    ) -> tuple[datetime | None, float]:
        for ws, we in reversed(self._windows(d)):
            end = we if cur is None else min(we, cur)
            if end <= ws:
                continue
            available = (end - ws).total_seconds()
            if remaining <= available:
                return end - timedelta(seconds=remaining), 0.0
            remaining -= available
        return None, remaining


@contextmanager
def _in_range(start: datetime, tz: ZoneInfo, what: str) -> Iterator[None]:
    """Turn a date past year 9999 (or before year 1) into a ``TimeRangeError`` that shows
    ``start`` in local time."""
    try:
        yield
    except OverflowError:
        try:
            shown = f"{start.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"
        except OverflowError:
            shown = f"{start:%Y-%m-%d %H:%M} (UTC)"
        raise TimeRangeError(
            f"{shown} {what} falls outside the years 1–9999", start=start, what=what
        ) from None
