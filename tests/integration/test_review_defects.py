"""Defects a review of the rings found, each pinned by a test that failed before the fix.

- KPI "days" divided working seconds by a fixed 7.5 h day: wrong under custom ``work_hours``.
- ``gridflow demo`` printed an empty period label (``统计期:  (2026-07-01 …``), left the
  workbook's 统计期 empty, and wrote a bare ``days`` line to stderr when not on a terminal.
- The outbox dispatcher ignored ``limit`` (its claim was a drifted copy of the timer claim).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from test_four_list import sample_directory

from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.org import Actor
from gridflow.domain.period import Period
from gridflow.drivers.cli.main import cli
from gridflow.service.engine import Engine
from gridflow.service.notices import NoticeService

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_kpi_days_are_working_days_of_the_configured_calendar(tmp_path) -> None:
    """A 3-hour working day (09:00–12:00): a question two working days overdue shows 2.0
    days overdue, not 0.8 (2 × 3 h / 7.5 h)."""
    calendar = BusinessCalendar(work_hours=[(time(9, 0), time(12, 0))], covered_years=(2004, 2026))
    clock = Clock(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))  # Monday
    engine = Engine(
        f"sqlite:///{tmp_path / 'k.db'}",
        clock=clock,
        calendar=calendar,
        directory=sample_directory(),
    )
    try:
        case = engine.start(
            "raise_hand", actor="wannan-r1-m1.chief", data={"title": "x", "category": "simple"}
        )
        engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
        due = engine.get(case.id).sla.due
        assert due is not None
        clock.now = due + timedelta(days=2)  # Wednesday noon → Friday noon: two working days
        figures = engine.kpis(period=Period.parse("2026Q1"), now=clock.now)
        late = {row["unit"]: row for row in figures["overdue"]["by_unit"]}
        assert late[case.unit]["max_days_overdue"] == 2.0
    finally:
        engine.close()


def test_demo_names_its_period_and_keeps_stderr_clean(tmp_path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--days", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    label = next(line for line in result.output.splitlines() if "统计期" in line)
    assert "2026-07-01..2026-07-03" in label  # a short run names its days
    assert "days" not in result.stderr  # no progress bar off a terminal
    sheet = load_workbook(out / "report.xlsx")["about"]
    values = {row[0].value: row[1].value for row in sheet.iter_rows() if row[0].value}
    assert values.get("统计期") == "2026-07-01..2026-07-03"


def test_a_full_quarter_is_labelled_by_its_quarter() -> None:
    from gridflow.drivers.cli.demo import period_label

    start = datetime(2026, 7, 1, tzinfo=SHANGHAI)
    end = datetime(2026, 10, 1, tzinfo=SHANGHAI)
    assert period_label("2026Q3", None, start, end) == "2026Q3"
    assert period_label("2026Q3", 3, start, start + timedelta(days=3)) == "2026-07-01..2026-07-03"


@pytest.mark.parametrize(("limit", "batch"), [(3, 100), (5, 2), (0, 10)])
def test_the_dispatcher_delivers_at_most_limit_notices(tmp_path, limit, batch) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'o.db'}", directory=sample_directory())
    try:
        person, now = Actor("wannan.chief", "赵"), engine.now()
        rows = [
            NoticeService._row(None, None, "gridflow", "n", person, "console", "", now)
            | {"subject": "s", "text": "t"}
            for _ in range(10)
        ]
        with engine.store.write() as tx:
            engine.store.outbox.insert(tx, rows)

        class Sink:
            name = "console"
            got: list[str] = []

            def deliver(self, notice) -> None:  # type: ignore[no-untyped-def]
                self.got.append(notice.id)

            def close(self) -> None:
                pass

        sink = Sink()
        result = engine.dispatcher({"console": sink}).run_once(now, batch=batch, limit=limit)
        assert result.claimed == result.sent == len(sink.got) == limit
        assert (
            engine.outbox.counts() == {"sent": limit, "pending": 10 - limit}
            if limit
            else {"pending": 10}
        )
    finally:
        engine.close()
