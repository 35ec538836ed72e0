"""People read local time: in expressions (guards, checks, ``set``), check messages and notice
templates, ``sla.due``, ``now``, ``event.at`` and ``case.created_at`` are aware datetimes in the
calendar's timezone whose text is the local ``YYYY-MM-DD HH:MM`` — and they still compare,
subtract and store as the instants they are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FakeClock, make_directory

from gridflow.domain.calendar import BusinessCalendar
from gridflow.errors import GuardRefused
from gridflow.service.engine import Engine

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
MONDAY_09_UTC = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # 17:00 Shanghai, 10:00 Berlin

WORKFLOW = """\
id: clocked
version: 1
title: {zh: 计时, en: Clocked}
roles:
  anyone: {scope: any}
fields:
  title: {type: string}
  stamp: {type: string}
  stamped_at: {type: datetime}
title_field: title
start_roles: [anyone]
initial: open
states:
  open:
    label: {zh: 办理中, en: Open}
    sla:
      due: 1wd
      overdue:
        - {after: 0wd, notify: [creator]}
    notify:
      - {template: opened, to: [creator]}
  done: {label: {zh: 完成, en: Done}, final: true}
transitions:
  - trigger: stamp
    source: open
    dest: open
    roles: [anyone]
    when: "case.created_at <= now and now < sla.due and sla.due - now > 0 * (now - now)"
    set:
      stamp: "at {{ now }}, due {{ sla.due }}, opened {{ case.created_at }}"
      stamped_at: "{{ now }}"
  - trigger: finish
    source: open
    dest: done
    roles: [anyone]
    checks:
      - that: "sla.overdue"
        message: "not before the deadline ({{ sla.due }}; now {{ now }})"
"""
OPENED = """\
{% import "_layouts/helpers.txt" as h %}
{% block subject %}opened {{ case.title }}, due {{ sla.due }}{% endblock %}
{% block body %}
due {{ sla.due }}
at {{ event.at }}
helper {{ h.zh_when(sla.due) }}
{% endblock %}
"""
OVERDUE = """\
{% block subject %}late {{ case.title }}{% endblock %}
{% block body %}was due {{ sla.due }}, seen at {{ event.at }}{% endblock %}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A workflow folder with ``clocked`` and its templates."""
    wf = tmp_path / "workflows"
    templates = wf / "templates" / "clocked"
    templates.mkdir(parents=True)
    (wf / "clocked.yaml").write_text(WORKFLOW, encoding="utf-8")
    (templates / "opened.zh-CN.txt").write_text(OPENED, encoding="utf-8")
    (templates / "overdue.zh-CN.txt").write_text(OVERDUE, encoding="utf-8")
    return wf


def engine_in(tmp_path: Path, folder: Path, tz: str, clock: FakeClock) -> Engine:
    """An engine over ``folder`` whose business calendar is in ``tz``."""
    db = tmp_path / (tz.replace("/", "_") + ".db")
    return Engine(
        f"sqlite:///{db}",
        folder,
        clock=clock,
        directory=make_directory(),
        calendar=BusinessCalendar(tz),
    )


@pytest.fixture(params=["Asia/Shanghai", "Europe/Berlin"])
def zone(request) -> str:
    return request.param


# the deadline of a case opened Monday 2025-03-03 09:00 UTC: the end of the next working day
DUE = {"Asia/Shanghai": "2025-03-04 17:30", "Europe/Berlin": "2025-03-04 17:30"}
OPENED_AT = {"Asia/Shanghai": "2025-03-03 17:00", "Europe/Berlin": "2025-03-03 10:00"}


# ---- expressions: checks, guards, set ---------------------------------------------------------
def test_a_check_message_reads_the_deadline_in_local_time(tmp_path, folder, zone):
    clock = FakeClock(MONDAY_09_UTC)
    engine = engine_in(tmp_path, folder, zone, clock)
    try:
        case = engine.start("clocked", actor="sun.worker", data={"title": "水管"})
        with pytest.raises(GuardRefused) as info:
            engine.fire(case.id, "finish", actor="sun.worker")
        assert str(info.value) == (
            f"cannot 'finish' case {case.id}: "
            f"not before the deadline ({DUE[zone]}; now {OPENED_AT[zone]})"
        )
    finally:
        engine.close()


def test_guards_compare_and_set_stores_the_instant(tmp_path, folder, zone):
    clock = FakeClock(MONDAY_09_UTC)
    engine = engine_in(tmp_path, folder, zone, clock)
    try:
        case = engine.start("clocked", actor="sun.worker", data={"title": "水管"})
        clock.now = MONDAY_09_UTC + timedelta(minutes=5)
        case = engine.fire(case.id, "stamp", actor="sun.worker")  # the guard compared times
        local_now = (clock.now.astimezone(ZoneInfo(zone))).strftime("%Y-%m-%d %H:%M")
        assert case.data["stamp"] == f"at {local_now}, due {DUE[zone]}, opened {OPENED_AT[zone]}"
        # a datetime field keeps the instant (whatever offset its text carries)
        assert datetime.fromisoformat(case.data["stamped_at"]) == clock.now
        # past the deadline the guard is false
        clock.now = case.sla.due + timedelta(minutes=1)
        with pytest.raises(GuardRefused):
            engine.fire(case.id, "stamp", actor="sun.worker")
    finally:
        engine.close()


def test_raise_hand_extension_check_reads_shanghai_time(tmp_path, monkeypatch):
    """The built-in ``request_extension`` check: ``({{ sla.due }})`` is 2026-… 17:30, not UTC."""
    from test_four_list import T0, Clock, sample_directory, share_builtin_workflows

    monkeypatch.chdir(tmp_path)
    share_builtin_workflows(monkeypatch)
    clock = Clock(T0)
    engine = Engine(f"sqlite:///{tmp_path / 'rh.db'}", clock=clock, directory=sample_directory())
    try:
        case = engine.start(
            "raise_hand",
            actor="wannan-r1-m1.chief",
            data={"title": "小区门口占道经营", "question": "请城管处置", "category": "normal"},
        )
        engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "city_mgmt"})
        signed = engine.fire(case.id, "sign", actor="city_mgmt.liaison")
        assert signed.sla is not None and signed.sla.due is not None
        deadline = signed.sla.due
        clock.now = deadline + timedelta(hours=1)
        with pytest.raises(GuardRefused) as info:
            engine.fire(
                case.id,
                "request_extension",
                actor="city_mgmt.liaison",
                data={"extension": "3wd", "extension_reason": "来不及"},
            )
        local = deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        assert f"an extension can only be requested before the deadline ({local})" in str(
            info.value
        )
        assert "+00:00" not in str(info.value)
    finally:
        engine.close()


# ---- notices: on events, on timers, previews ---------------------------------------------------
def test_event_and_timer_notices_read_local_time(tmp_path, folder, zone):
    clock = FakeClock(MONDAY_09_UTC)
    engine = engine_in(tmp_path, folder, zone, clock)
    try:
        case = engine.start("clocked", actor="sun.worker", data={"title": "水管"})
        (opened,) = engine.outbox.notices()
        assert opened.subject == f"opened 水管, due {DUE[zone]}"
        assert f"due {DUE[zone]}\nat {OPENED_AT[zone]}\n" in opened.text
        assert case.sla is not None and case.sla.due is not None
        clock.now = case.sla.due + timedelta(minutes=1)
        engine.tick()
        late = [n for n in engine.outbox.notices() if n.notice == "overdue"]
        assert len(late) == 1
        seen = clock.now.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
        assert late[0].text == f"was due {DUE[zone]}, seen at {seen}"
    finally:
        engine.close()


def test_notice_preview_reads_local_time(tmp_path, folder):
    clock = FakeClock(MONDAY_09_UTC)
    engine = engine_in(tmp_path, folder, "Asia/Shanghai", clock)
    try:
        sample = engine.preview("clocked", "opened")
        # the helpers' text is what it was: they shift any aware datetime to UTC+8 themselves
        assert sample.text.splitlines() == [
            "due 2025-03-04 17:30",
            "at 2025-03-03 17:00",
            "helper 2025年3月4日（周二）17:30",
        ]
        case = engine.start("clocked", actor="sun.worker", data={"title": "水管"})
        for_case = engine.preview("clocked", "opened", case_id=case.id)
        assert for_case.subject == "opened 水管, due 2025-03-04 17:30"
    finally:
        engine.close()


def test_builtin_helpers_show_the_same_text_for_a_local_time(tmp_path):
    """``helpers.txt`` shifts by the datetime's own offset: a local time prints as before."""
    from gridflow.domain.machine import local_time
    from gridflow.domain.templates.renderer import TemplateRenderer
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

    folder = tmp_path / "templates" / "x"
    folder.mkdir(parents=True)
    (folder / "t.zh-CN.txt").write_text(
        '{% import "_layouts/helpers.txt" as h %}{% block subject %}s{% endblock %}'
        "{% block body %}{{ h.zh_when(t) }}|{{ h.en_short(t) }}{% endblock %}",
        encoding="utf-8",
    )
    renderer = TemplateRenderer([tmp_path, BUILTIN_WORKFLOWS])

    def show(value: datetime) -> str:
        return renderer.render("x", "t", "zh-CN", {"t": value}).text

    utc = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert show(local_time(utc, SHANGHAI)) == show(utc) == "2025年3月4日（周二）17:30|4 Mar 17:30"


# ---- the value itself ----------------------------------------------------------------------------
def test_local_time_is_an_aware_datetime_that_reads_local():
    from gridflow.domain.machine import LocalTime, local_time

    utc = datetime(2026, 10, 23, 9, 30, tzinfo=UTC)
    t = local_time(utc, SHANGHAI)
    assert isinstance(t, LocalTime) and isinstance(t, datetime)
    assert str(t) == f"{t}" == "2026-10-23 17:30"
    assert t == utc and hash(t) == hash(utc)
    assert t < utc + timedelta(seconds=1) and t > utc - timedelta(seconds=1)
    assert t - utc == timedelta(0)
    assert str(t + timedelta(hours=1)) == "2026-10-23 18:30"  # arithmetic keeps the reading
    assert t.isoformat() == "2026-10-23T17:30:00+08:00"
    assert datetime.fromisoformat(t.isoformat()) == utc
    assert str(local_time(utc, BERLIN)) == "2026-10-23 11:30"  # summer time, UTC+2
    assert local_time(None, SHANGHAI) is None
    assert local_time(utc, None) is utc  # no zone: left as it is
    naive = datetime(2026, 10, 23, 9, 30)  # naive values are UTC (as the store's)
    assert str(local_time(naive, SHANGHAI)) == "2026-10-23 17:30"
