"""Working-time arithmetic costs O(years), not O(days), and gives the same answers.

Issue #17, finding 4: on the old main ``--set claim_window=2000000wd`` walked 2.8 million
days (84 s holding the write lock; every later view of the case walked them again),
``99999999wd`` and a 300-digit ``h`` were an ``OverflowError``, and ``calendar due --add
1000000000wh`` took 104 s. Now whole runs of working days are counted, not walked: the
answers equal a day-by-day walk (checked here against one, on random inputs), the number of
days ever classified is bounded by the years of holiday data, and what would leave years
1–9999 is a ``TimeRangeError``; durations and case fields have caps that name themselves.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.calendar_overrides import CalendarOverrides
from gridflow.domain.definition import FieldDef
from gridflow.domain.duration import Duration
from gridflow.domain.fields import coerce
from gridflow.errors import FieldValueError, GridflowError

MAX_TEXT, MAX_INT, MAX_ITEMS = 64, 2**53 - 1, 500  # the caps (duration text, int, list items)

YEARS = (2004, 2026)  # pinned: the same answers whatever chinesecalendar is installed
OVERRIDES = CalendarOverrides(
    years=frozenset({2027}),
    holidays={date(2027, 1, 1): "元旦", date(2027, 2, 10): "春节", date(2031, 5, 6): "x"},
    workdays={date(2027, 2, 6): "调休", date(2032, 3, 6): "y"},
)
ONE_DAY = timedelta(days=1)


def calendar(**kw) -> BusinessCalendar:
    return BusinessCalendar(covered_years=YEARS, overrides=OVERRIDES, **kw)


# ---- the old algorithms, day by day: the reference the new ones must equal ---------------------


def walk_add_days(cal: BusinessCalendar, start: datetime, n: int) -> datetime:
    d = start.astimezone(cal.tz).date()
    if n == 0:
        while not cal.is_working_day(d):
            d += ONE_DAY
    for _ in range(n):
        d += ONE_DAY
        while not cal.is_working_day(d):
            d += ONE_DAY
    return datetime.combine(d, cal.work_hours[-1][1], tzinfo=cal.tz).astimezone(UTC)


def walk_back_days(cal: BusinessCalendar, due: datetime, n: int) -> datetime:
    local = due.astimezone(cal.tz)
    d = local.date()
    for _ in range(n):
        d -= ONE_DAY
        while not cal.is_working_day(d):
            d -= ONE_DAY
    return datetime.combine(d, local.time(), tzinfo=cal.tz).astimezone(UTC)


def windows(cal: BusinessCalendar, d: date):
    if not cal.is_working_day(d):
        return []
    return [
        (
            datetime.combine(d, s, tzinfo=cal.tz).astimezone(UTC),
            datetime.combine(d, e, tzinfo=cal.tz).astimezone(UTC),
        )
        for s, e in cal.work_hours
    ]


def walk_forward(cal: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    cur, remaining = start.astimezone(UTC), seconds
    if remaining <= 0:
        return cur
    d = cur.astimezone(cal.tz).date()
    while True:
        for ws, we in windows(cal, d):
            begin = max(ws, cur)
            if begin >= we:
                continue
            available = (we - begin).total_seconds()
            if remaining <= available:
                return begin + timedelta(seconds=remaining)
            remaining -= available
        d += ONE_DAY


def walk_backward(cal: BusinessCalendar, due: datetime, seconds: float) -> datetime:
    cur, remaining = due.astimezone(UTC), seconds
    if remaining <= 0:
        return cur
    d = cur.astimezone(cal.tz).date()
    while True:
        for ws, we in reversed(windows(cal, d)):
            end = min(we, cur)
            if end <= ws:
                continue
            available = (end - ws).total_seconds()
            if remaining <= available:
                return end - timedelta(seconds=remaining)
            remaining -= available
        d -= ONE_DAY


def walk_seconds(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    if b <= a:
        return 0.0
    d, last, total = a.astimezone(cal.tz).date(), b.astimezone(cal.tz).date(), 0.0
    while d <= last:
        for ws, we in windows(cal, d):
            lo, hi = max(ws, a), min(we, b)
            if hi > lo:
                total += (hi - lo).total_seconds()
        d += ONE_DAY
    return total


instants = st.datetimes(
    min_value=datetime(2002, 6, 1), max_value=datetime(2034, 12, 31), timezones=st.just(UTC)
).map(lambda dt: dt.replace(second=0, microsecond=0))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(instants, st.integers(0, 700))
def test_adding_and_subtracting_working_days_equals_the_walk(start, n):
    cal = calendar()
    assert cal.add(start, Duration(n, "wd")).at == walk_add_days(cal, start, n)
    assert cal.subtract(start, Duration(n, "wd")).at == walk_back_days(cal, start, n)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(instants, st.integers(0, 5000 * 4).map(lambda q: q / 4))
def test_working_hours_forward_and_back_equal_the_walk(start, hours):
    cal = calendar()
    seconds = hours * 3600
    assert cal.add_working_seconds(start, seconds).at == walk_forward(cal, start, seconds)
    assert cal.add_working_seconds(start, -seconds).at == walk_backward(cal, start, seconds)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(instants, instants)
def test_working_seconds_between_equal_the_walk(a, b):
    cal = calendar()
    assert math.isclose(cal.working_seconds(a, b), walk_seconds(cal, a, b), abs_tol=1e-6)


def test_the_same_with_other_working_hours_and_zone():
    cal = calendar(timezone="Europe/Berlin", work_hours=((time(9), time(12)), (time(14), time(18))))
    start = datetime(2026, 3, 20, 10, tzinfo=UTC)  # a week before the clocks change
    for n in (0, 1, 7, 60):
        assert cal.add(start, Duration(n, "wd")).at == walk_add_days(cal, start, n)
    for hours in (0.5, 7, 33, 200):
        assert cal.add_working_seconds(start, hours * 3600).at == walk_forward(
            cal, start, hours * 3600
        )


def test_a_century_of_working_time_classifies_only_the_package_years(monkeypatch):
    cal = calendar()
    looked_up: list[date] = []
    classify = cal._classify
    monkeypatch.setattr(cal, "_classify", lambda d: looked_up.append(d) or classify(d))
    start = datetime(2026, 3, 2, 1, tzinfo=UTC)
    far = cal.add(start, Duration(26_000, "wd")).at  # about a century
    assert far.year == 2125
    cal.working_seconds(start, far)
    cal.at_fraction(start, far, 0.8)
    cal.add_working_seconds(far, -(10**9))
    cal.subtract(far, Duration(26_000, "wd"))
    # each day of a package year at most once (cached), plus a few days at the far end
    assert len(looked_up) <= 366 * (YEARS[1] - YEARS[0] + 1) + 100, len(looked_up)
    assert len(set(looked_up)) == len(looked_up)


def test_a_deadline_past_year_9999_is_a_time_range_error():
    from gridflow.errors import TimeRangeError

    cal = calendar()
    end = datetime(9999, 12, 31, 15, 59, tzinfo=UTC)  # GRIDFLOW_NOW=9999-12-31T23:59
    for duration in ("5wd", "1wh", "1d"):
        with pytest.raises(TimeRangeError) as info:
            cal.add(end, Duration.parse(duration))
        assert "falls outside the years 1–9999" in str(info.value)
    with pytest.raises(TimeRangeError):
        cal.add_working_seconds(datetime(2026, 1, 1, tzinfo=UTC), 1e9 * 3600)  # 1000000000wh
    with pytest.raises(TimeRangeError):
        cal.subtract(datetime(1, 1, 3, tzinfo=UTC), Duration(5, "wd"))
    # and working time up to the last instant is an answer, not an error
    assert cal.working_seconds(datetime(2026, 1, 1, tzinfo=UTC), end) > 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("99999999wd", "longer than the longest gridflow accepts (36525d, a century)"),
        ("1000000000wh", "longer than the longest gridflow accepts"),
        ("9" * 300 + "h", f"longer than {MAX_TEXT} characters"),
        ("9" * 60 + "h", "longer than the longest gridflow accepts"),
        ("5wd" + " " * 100_000 + "x", f"longer than {MAX_TEXT} characters"),
    ],
)
def test_durations_have_a_ceiling_that_names_itself(text, words):
    with pytest.raises(GridflowError) as info:  # a DurationError
        Duration.parse(text)
    assert type(info.value).__name__ == "DurationError"
    assert words in str(info.value) and len(str(info.value)) < 200
    assert isinstance(info.value, ValueError)  # callers catching ValueError go on working


def test_duration_fields_are_capped_at_a_year_or_their_max():
    plain = FieldDef(type="duration")
    assert coerce("extension", plain, "250wd") == "250wd"
    assert coerce("extension", plain, "366d") == "366d"
    with pytest.raises(FieldValueError) as info:
        coerce("claim_window", plain, "2000000wd")
    assert "claim_window:" in str(info.value) and "longest gridflow accepts" in str(info.value)
    with pytest.raises(FieldValueError) as info:
        coerce("claim_window", plain, "300wd")
    assert str(info.value) == (
        "claim_window: 300wd is longer than the cap of 366d (a year; set the field's max: to "
        "allow more)"
    )
    short = FieldDef(type="duration", max="10wd")
    assert coerce("extension", short, "75wh") == "75wh"  # 10 working days of 7.5 h
    assert coerce("extension", short, "14d") == "14d"  # 10 wd span 14 calendar days
    for over in ("76wh", "11wd", "15d"):
        with pytest.raises(FieldValueError) as info:
            coerce("extension", short, over)
        assert str(info.value) == f"extension: {over} is longer than the cap of 10wd"


def test_number_and_list_fields_have_caps_too():
    with pytest.raises(FieldValueError) as info:
        coerce("reopens", FieldDef(type="int"), "9" * 300)
    assert f"above the cap of {MAX_INT}" in str(info.value) and len(str(info.value)) < 120
    with pytest.raises(FieldValueError):
        coerce("reopens", FieldDef(type="int", min=0), -1)
    assert coerce("reopens", FieldDef(type="int", max=5), 5) == 5
    with pytest.raises(FieldValueError):
        coerce("score", FieldDef(type="float"), "inf")
    with pytest.raises(FieldValueError) as info:
        coerce("tags", FieldDef(type="list", items="string"), ["x"] * (MAX_ITEMS + 1))
    assert f"the cap is {MAX_ITEMS}" in str(info.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "string", "max": 5},
        {"type": "duration", "max": 5},
        {"type": "duration", "max": "5wds"},
        {"type": "duration", "min": "1wd"},
        {"type": "int", "max": "5"},
        {"type": "int", "min": 3, "max": 2},
        {"type": "int", "max": True},
    ],
)
def test_field_bounds_are_checked_when_the_workflow_is_loaded(spec):
    with pytest.raises(ValueError):
        FieldDef(**spec)
