"""`gridflow calendar due|show` through click's CliRunner, with real holiday data."""

import json

import click
import pytest
from click.testing import CliRunner

from gridflow.drivers.cli.calendar import calendar


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke ``gridflow calendar ...`` with default settings (no config file, clean env)."""
    monkeypatch.chdir(tmp_path)
    for name in ("GRIDFLOW_CONFIG", "GRIDFLOW_TIMEZONE", "GRIDFLOW_CALENDAR_OVERRIDES"):
        monkeypatch.delenv(name, raising=False)
    root = click.Group()
    root.add_command(calendar)

    def invoke(*args: str):
        return CliRunner().invoke(root, ["calendar", *args])

    return invoke


def test_due_national_day(run):
    result = run("due", "--from", "2026-09-28", "--add", "5wd")
    assert result.exit_code == 0, result.output
    assert "2026-10-10 17:30" in result.output
    assert "PROVISIONAL" not in result.output


def test_due_json(run):
    result = run("due", "--from", "2026-09-28T17:00", "--add", "1wh", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["due"] == "2026-09-29T09:00:00+08:00"
    assert data["due_utc"] == "2026-09-29T01:00:00+00:00"
    assert data["provisional"] is False and data["uncovered_years"] == []


@pytest.fixture
def pinned(monkeypatch):
    """The configured calendar takes chinesecalendar's data as 2004–2026 whatever release is
    installed, so 2027 stays a year without data. (The settings have no ``covered_years`` yet:
    this pins it where they build the calendar.)"""
    from gridflow.domain.calendar import BusinessCalendar
    from gridflow.drivers.config import CalendarSettings

    def build(self: CalendarSettings) -> BusinessCalendar:
        return BusinessCalendar.from_settings(
            timezone=self.timezone,
            work_hours=self.work_hours,
            overrides=self.overrides,
            covered_years=(2004, 2026),
        )

    monkeypatch.setattr(CalendarSettings, "build", build)


def test_due_provisional_into_2027(run, pinned):
    result = run("due", "--from", "2026-12-30", "--add", "5wd")
    assert result.exit_code == 0, result.output
    assert "2027-01-06 17:30" in result.output
    assert "PROVISIONAL: no holiday data for 2027" in result.output


def test_due_with_override_file(run, tmp_path, monkeypatch):
    path = tmp_path / "ov.yaml"
    path.write_text("years: [2027]\nholidays:\n  2027-01-01: 元旦\n", encoding="utf-8")
    monkeypatch.setenv("GRIDFLOW_CALENDAR_OVERRIDES", str(path))
    result = run("due", "--from", "2026-12-31", "--add", "1wd", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["due"].startswith("2027-01-04T17:30") and data["provisional"] is False


def test_due_default_start_is_now(run):
    result = run("due", "--add", "30m", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["duration"] == "30m"


def test_due_errors(run, tmp_path, monkeypatch):
    bad_unit = run("due", "--from", "2026-09-28", "--add", "5wds")
    assert bad_unit.exit_code == 2 and "did you mean 'wd'" in bad_unit.output
    bad_start = run("due", "--from", "next tuesday", "--add", "5wd")
    assert bad_start.exit_code == 2 and "--from" in bad_start.output
    (tmp_path / "ov.yaml").write_text("holidays:\n  2027-02-30: x\n", encoding="utf-8")
    monkeypatch.setenv("GRIDFLOW_CALENDAR_OVERRIDES", str(tmp_path / "ov.yaml"))
    bad_file = run("due", "--add", "1wd")
    assert bad_file.exit_code == 1
    assert "ov.yaml:2:3: holidays.2027-02-30:" in bad_file.output
    assert bad_file.exception is None or isinstance(bad_file.exception, SystemExit)


def test_show_october_2026(run):
    result = run("show", "2026-10")
    assert result.exit_code == 0, result.output
    assert " 1休" in result.output and "10班" in result.output
    assert "2026-10-10 Sat  班 working  国庆节" in result.output
    assert "NOT COVERED" not in result.output


def test_show_json(run):
    result = run("show", "2026-02", "--json")
    days = {d["day"]: d for d in json.loads(result.output)["days"]}
    assert days["2026-02-14"]["kind"] == "makeup" and days["2026-02-15"]["kind"] == "holiday"
    assert len(days) == 28


def test_show_uncovered_year(run, pinned):
    result = run("show", "2027-10")
    assert result.exit_code == 0, result.output
    assert "NOT COVERED: no holiday data for 2027" in result.output
    assert "Monday–Friday guess" in result.output


def test_show_bad_month(run):
    result = run("show", "2026-13")
    assert result.exit_code == 2 and "not a month" in result.output
