"""The business calendar against real chinese_calendar data (no mocks)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest

from gridflow.domain.calendar import BusinessCalendar, CalendarOverrides, DayInfo, Deadline
from gridflow.domain.duration import Duration
from gridflow.errors import CalendarNotCovered, DefinitionError, GridflowError

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()


def at(*args: int) -> datetime:
    """A Shanghai-local instant."""
    return datetime(*args, tzinfo=SH)


def add(start: datetime, text: str, cal: BusinessCalendar = CAL) -> datetime:
    deadline = cal.add(start, Duration.parse(text))
    assert not deadline.provisional
    return deadline.at.astimezone(SH)


def sub(due: datetime, text: str) -> datetime:
    deadline = CAL.subtract(due, Duration.parse(text))
    assert not deadline.provisional
    return deadline.at.astimezone(SH)


# --------------------------------------------------------------------------- days


def test_spring_festival_2026():
    for day in range(15, 24):
        d = date(2026, 2, day)
        assert CAL.day(d) == DayInfo(
            d, working=False, kind="holiday", name="春节", source="package"
        )
    for makeup in (date(2026, 2, 14), date(2026, 2, 28)):  # both Saturdays
        assert makeup.weekday() == 5
        info = CAL.day(makeup)
        assert (info.working, info.kind) == (True, "makeup"), info
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 24))
    assert CAL.day(date(2026, 3, 1)).kind == "weekend"


def test_national_day_2026():
    for day in range(1, 8):
        info = CAL.day(date(2026, 10, day))
        assert (info.working, info.kind, info.name) == (False, "holiday", "国庆节"), info
    assert CAL.day(date(2026, 10, 10)).kind == "makeup"  # Saturday, working
    assert CAL.is_working_day(date(2026, 10, 10))
    assert not CAL.is_working_day(date(2026, 10, 11))
    assert CAL.day(date(2026, 10, 8)).kind == "workday"


def test_month_and_datetime_day():
    days = CAL.month(2026, 2)
    assert [d.day for d in days] == [date(2026, 2, 1) + timedelta(n) for n in range(28)]
    # a datetime is read as its local date: 2026-09-30 20:00 UTC is Oct 1 in Shanghai
    assert CAL.day(datetime(2026, 9, 30, 20, tzinfo=UTC)).kind == "holiday"


# Dates where `holidays` and chinese_calendar are allowed to disagree, with the reason.
# Checked for 2025–2026: none (every listed holiday is a day off in both).
KNOWN_DIFFERENCES: dict[date, str] = {}


@pytest.mark.parametrize("year", [2025, 2026])
def test_cross_check_with_holidays_package(year):
    other = holidays.China(years=year)
    assert len(other) > 10
    for day, name in sorted(other.items()):
        if day in KNOWN_DIFFERENCES:
            continue
        assert not CAL.is_working_day(day), f"{day} {name} is a holiday in `holidays`"
        assert CAL.day(day).kind in {"holiday", "weekend"}
    for day in sorted(getattr(other, "weekend_workdays", ())):
        if day.year == year and day not in KNOWN_DIFFERENCES:
            info = CAL.day(day)
            assert (info.working, info.kind) == (True, "makeup"), f"{day} is 调休 in `holidays`"


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize("start", [at(2026, 9, 28), at(2026, 9, 28, 10), at(2026, 9, 28, 23, 59)])
def test_five_working_days_over_national_day(start):
    deadline = CAL.add(start, Duration.parse("5wd"))
    assert deadline == Deadline(datetime(2026, 10, 10, 9, 30, tzinfo=UTC), provisional=False)
    assert deadline.at.astimezone(SH) == at(2026, 10, 10, 17, 30)


def test_working_days_edges():
    assert add(at(2026, 9, 28, 20), "0wd") == at(2026, 9, 28, 17, 30)  # a working day: itself
    assert add(at(2026, 10, 3, 9), "0wd") == at(2026, 10, 8, 17, 30)  # holiday: next working
    assert add(at(2026, 3, 6, 9), "1wd") == at(2026, 3, 9, 17, 30)  # Friday → Monday
    assert add(at(2026, 3, 7, 9), "1wd") == at(2026, 3, 9, 17, 30)  # Saturday → Monday
    assert add(at(2026, 2, 13, 9), "1wd") == at(2026, 2, 14, 17, 30)  # make-up Saturday
    assert add(at(2026, 2, 14, 9), "1wd") == at(2026, 2, 24, 17, 30)  # over Spring Festival
    # fractions of a working day are working hours of a 7.5 h day
    assert add(at(2026, 3, 2, 8, 30), "0.5wd") == at(2026, 3, 2, 13, 45)
    assert add(at(2026, 3, 2, 8, 30), "1.5wd") == at(2026, 3, 3, 13, 45)


# --------------------------------------------------------------------------- working hours


def test_working_hours():
    assert add(at(2026, 3, 2, 11), "1wh") == at(2026, 3, 2, 13, 30)  # across lunch
    assert add(at(2026, 3, 2, 12), "1wh") == at(2026, 3, 2, 14)  # start inside lunch
    assert add(at(2026, 3, 2, 17), "1wh") == at(2026, 3, 3, 9)  # across the evening
    assert add(at(2026, 3, 2, 17), "0.5wh") == at(2026, 3, 2, 17, 30)  # ends at closing
    assert add(at(2026, 3, 2, 7), "1wh") == at(2026, 3, 2, 9, 30)  # before opening
    assert add(at(2026, 3, 6, 17), "1wh") == at(2026, 3, 9, 9)  # across a weekend
    assert add(at(2026, 9, 30, 17), "1wh") == at(2026, 10, 8, 9)  # across National Day
    assert add(at(2026, 10, 9, 17), "1wh") == at(2026, 10, 10, 9)  # make-up Saturday works
    assert add(at(2026, 3, 2, 8, 30), "7.5wh") == at(2026, 3, 2, 17, 30)
    assert add(at(2026, 3, 2, 8, 30), "0wh") == at(2026, 3, 2, 8, 30)


def test_calendar_time_ignores_holidays():
    assert add(at(2026, 9, 30, 17), "48h") == at(2026, 10, 2, 17)
    assert add(at(2026, 9, 30, 17), "3d") == at(2026, 10, 3, 17)
    assert add(at(2026, 9, 30, 17), "30m") == at(2026, 9, 30, 17, 30)
    assert sub(at(2026, 10, 2, 17), "48h") == at(2026, 9, 30, 17)


def test_subtract():
    assert sub(at(2026, 3, 2, 13, 30), "1wh") == at(2026, 3, 2, 11)
    assert sub(at(2026, 3, 9, 9), "1wh") == at(2026, 3, 6, 17)  # back over a weekend
    assert sub(at(2026, 10, 8, 9), "4wh") == at(2026, 9, 30, 14)  # back over National Day
    assert sub(at(2026, 10, 10, 17, 30), "5wd") == at(2026, 9, 28, 17, 30)
    assert sub(at(2026, 10, 8, 10), "1wd") == at(2026, 9, 30, 10)  # same clock time
    assert sub(at(2026, 3, 2, 17, 30), "0.5wd") == at(2026, 3, 2, 13, 45)  # 3.75 h back


def test_add_working_seconds_and_working_seconds():
    dl = CAL.add_working_seconds(at(2026, 3, 2, 11), 3600)
    assert dl.at == at(2026, 3, 2, 13, 30) and dl.at.tzinfo is UTC
    assert CAL.add_working_seconds(at(2026, 3, 2, 13, 30), -3600).at == at(2026, 3, 2, 11)
    assert CAL.working_seconds(at(2026, 3, 2, 11), at(2026, 3, 2, 13, 30)) == 3600
    assert CAL.working_seconds(at(2026, 3, 2, 13, 30), at(2026, 3, 2, 11)) == 0
    # Sep 28–30 and Oct 8–10 work, Oct 1–7 off: six full days of 7.5 h
    assert CAL.working_seconds(at(2026, 9, 28), at(2026, 10, 11)) == 6 * 7.5 * 3600
    assert CAL.working_seconds(at(2026, 10, 3), at(2026, 10, 5)) == 0


def test_at_fraction():
    start, due = at(2026, 9, 30, 9), at(2026, 10, 8, 17, 30)  # 7 h + 7.5 h of working time
    assert CAL.at_fraction(start, due, 0.5).at == at(2026, 10, 8, 8, 45)
    assert CAL.at_fraction(start, due, 1).at == due
    assert CAL.at_fraction(start, due, 0).at == start
    # no working time between: plain time
    assert CAL.at_fraction(at(2026, 10, 3), at(2026, 10, 5), 0.5).at == at(2026, 10, 4)
    with pytest.raises(ValueError):
        CAL.at_fraction(start, due, -0.1)


def test_naive_input_is_utc():
    naive = datetime(2026, 3, 2, 3, 0)  # 11:00 Shanghai
    assert CAL.add(naive, Duration.parse("1wh")).at == at(2026, 3, 2, 13, 30)


# --------------------------------------------------------------------------- coverage


# The coverage tests take chinesecalendar's data as 2004–2026 whatever release is installed,
# so that a release adding 2027 leaves them true.
PINNED = (2004, 2026)


def test_2027_without_overrides_is_a_flagged_guess():
    cal = BusinessCalendar(covered_years=PINNED)
    assert not cal.covers(2027) and cal.covers(2026)
    assert cal.covered_years()[1] == 2026
    info = cal.day(date(2027, 1, 1))
    assert (info.source, info.kind, info.working) == ("guess", "workday", True)
    assert cal.day(date(2027, 1, 2)).source == "guess"
    deadline = cal.add(at(2026, 12, 30, 10), Duration.parse("5wd"))
    assert deadline.provisional
    assert deadline.at == at(2027, 1, 6, 17, 30)
    assert cal.uncovered_years_between(at(2026, 12, 30), deadline.at) == [2027]
    assert cal.add(at(2026, 12, 30, 10), Duration.parse("1wd")).provisional is False
    assert cal.add_working_seconds(at(2026, 12, 31, 17), 3600).provisional
    with pytest.raises(CalendarNotCovered, match="2027"):
        cal.check_covered(at(2026, 12, 30), deadline.at)


def test_covered_years_pin_the_package_data(tmp_path):
    # as if the installed chinesecalendar stopped at 2025: its 2026 data is not used
    cal = BusinessCalendar(covered_years=(2004, 2025))
    assert cal.covers(2025) and not cal.covers(2026)
    assert cal.covered_years() == (2004, 2025)
    assert cal.day(date(2025, 10, 1)).source == "package"
    national_day = date(2026, 10, 1)  # a holiday in the package data
    assert cal.day(national_day) == DayInfo(national_day, True, "workday", None, "guess")
    # Mon Sep 28 + 5wd on the Monday–Friday guess: Tue … Fri, Mon Oct 5
    deadline = cal.add(at(2026, 9, 28), Duration.parse("5wd"))
    assert deadline == Deadline(at(2026, 10, 5, 17, 30), provisional=True)
    with pytest.raises(CalendarNotCovered, match="2026"):
        cal.check_covered(at(2025, 12, 30), at(2026, 1, 5))
    # the override file still adds a year
    path = tmp_path / "overrides.yaml"
    path.write_text("years: [2026]\nholidays:\n  2026-10-01: 国庆节\n", encoding="utf-8")
    cal = BusinessCalendar.from_settings(
        timezone="Asia/Shanghai",
        work_hours=["08:30-11:30", "13:00-17:30"],
        overrides=str(path),
        covered_years=(2004, 2025),
    )
    assert cal.covers(2026) and cal.covered_years() == (2004, 2026)
    assert cal.day(national_day) == DayInfo(national_day, False, "holiday", "国庆节", "override")
    assert cal.day(date(2026, 10, 2)) == DayInfo(
        date(2026, 10, 2), True, "workday", None, "override"
    )
    assert not cal.add(at(2026, 9, 28), Duration.parse("5wd")).provisional
    # the default is everything the installed package has
    package = (min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year)
    assert BusinessCalendar().covered_years() == package
    # a span must lie inside the package data: further years come from the override file
    with pytest.raises(ValueError, match="beyond the installed chinesecalendar"):
        BusinessCalendar(covered_years=(2004, package[1] + 1))
    with pytest.raises(GridflowError, match=r"calendar\.covered_years 2026–2004"):
        BusinessCalendar.from_settings(
            timezone="UTC", work_hours=["08:30-11:30"], overrides=None, covered_years=(2026, 2004)
        )


OVERRIDES_2027 = """\
years: [2027]
holidays:
  2027-01-01: 元旦
  2026-10-09: 区里调整   # a local change inside a package year
workdays:
  2027-01-09: 元旦调休
"""


def test_overrides_cover_2027(tmp_path):
    path = tmp_path / "overrides.yaml"
    path.write_text(OVERRIDES_2027, encoding="utf-8")
    cal = BusinessCalendar.from_settings(
        timezone="Asia/Shanghai",
        work_hours=["08:30-11:30", "13:00-17:30"],
        overrides=str(path),
        covered_years=PINNED,
    )
    assert cal.covers(2027) and cal.covered_years() == (PINNED[0], 2027)
    new_year = date(2027, 1, 1)
    assert cal.day(new_year) == DayInfo(new_year, False, "holiday", "元旦", "override")
    assert cal.day(date(2027, 1, 4)).source == "override"  # declared year: not a guess
    assert cal.day(date(2027, 1, 9)).kind == "makeup"
    # Thu Dec 31 → Fri Jan 1 is off → Mon Jan 4
    deadline = cal.add(at(2026, 12, 31, 10), Duration.parse("1wd"))
    assert deadline == Deadline(at(2027, 1, 4, 17, 30), provisional=False)
    # an override entry beats package data: Oct 9 2026 is now off
    assert cal.day(date(2026, 10, 9)).source == "override"
    assert add(at(2026, 9, 28), "5wd", cal) == at(2026, 10, 12, 17, 30)
    assert not cal.covers(2028)


def test_override_errors_are_located_and_all_reported():
    text = """\
years: [2027, twenty]
holidays:
  2027-13-01: bad month
  2027-01-01: 元旦
  2027-01-02: [not, a, name]
workdays:
  2027-01-01: clash
  soon: x
holiday: {}
"""
    with pytest.raises(DefinitionError) as info:
        CalendarOverrides.parse(text, file="ov.yaml")
    found = {(p.line, p.column, p.path) for p in info.value.problems}
    assert found == {
        (1, 15, "years[1]"),
        (3, 3, "holidays.2027-13-01"),
        (5, 15, "holidays.2027-01-02"),
        (8, 3, "workdays.soon"),
        (9, 1, "holiday"),
        (7, 3, "workdays.2027-01-01"),
    }
    message = str(info.value)
    assert "ov.yaml:3:3: holidays.2027-13-01:" in message
    assert "did you mean 'holidays'" in message
    assert "both as a holiday and as a workday" in message


def test_override_yaml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(DefinitionError) as info:
        CalendarOverrides.parse("holidays:\n  2027-01-01: [\n", file="ov.yaml")
    (problem,) = info.value.problems
    assert problem.line >= 2 and "not valid YAML" in problem.message
    with pytest.raises(DefinitionError, match="cannot read"):
        CalendarOverrides.load(tmp_path / "missing.yaml")
    assert CalendarOverrides.parse("", file="empty.yaml").years == frozenset()


def test_settings_errors():
    with pytest.raises(GridflowError, match="did you mean 'Asia/Shanghai'"):
        BusinessCalendar.from_settings(
            timezone="Asia/Shangai", work_hours=["08:30-11:30"], overrides=None
        )
    with pytest.raises(GridflowError, match="work_hours"):
        BusinessCalendar.from_settings(timezone="UTC", work_hours=["8.30-11"], overrides=None)
    with pytest.raises(GridflowError, match="overlap"):
        BusinessCalendar.from_settings(
            timezone="UTC", work_hours=["08:00-12:00", "11:00-17:00"], overrides=None
        )


def test_custom_work_hours_and_timezone():
    cal = BusinessCalendar.from_settings(
        timezone="Asia/Shanghai", work_hours=["9:00-17:00"], overrides=None
    )
    assert add(at(2026, 9, 28), "5wd", cal) == at(2026, 10, 10, 17)
    assert add(at(2026, 3, 2, 16), "2wh", cal) == at(2026, 3, 3, 10)
