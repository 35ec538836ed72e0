"""四单工作法 (four_list): every path and every refusal, through the Engine API and the CLI.

Each test takes the ``driver`` fixture and so runs twice: once on ``Engine`` directly, once
through the ``gridflow`` click commands (``start``/``fire``/``show``/``history``/``tick`` with
``--json``, the clock pinned by ``GRIDFLOW_NOW``). The drivers return the same JSON-shaped
case dicts (``Case.to_dict()``); a refusal is the engine's exception (API) or ``CliError``
carrying what the CLI printed with exit code 1. The helpers here are imported by
``test_raise_hand.py`` and ``test_race.py``.

The CLI driver reuses one Engine per database within a test (the per-invocation YAML parse
would otherwise dominate the run time); ``test_walkthrough_cli.py`` runs the real
``gridflow`` executable, one fresh process and Engine per command.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from itertools import permutations
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.duration import Duration
from gridflow.errors import GuardRefused, InvalidTrigger, MissingFields, RoleRefused

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # Monday, a working day
CAL = BusinessCalendar()


def wd_after(start: datetime, amount: str) -> datetime:
    """``start`` plus a duration in working time, as the engine's calendar counts it."""
    return CAL.add(start, Duration.parse(amount)).at


# ---- drivers ---------------------------------------------------------------------------------
class Clock:
    """A mutable virtual clock (``clock.now = …`` moves time)."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CliError(Exception):
    """The CLI exited with code 1; ``str()`` is the message it printed."""


@functools.cache
def sample_directory():
    """The built-in Fenglin sample org, parsed once per test session."""
    from gridflow.domain.org_loader import load_org_file
    from gridflow.service.engine import BUILTIN_ORG

    return load_org_file(BUILTIN_ORG)


class ApiDriver:
    kind = "api"

    def __init__(self, url: str, clock: Clock):
        from gridflow.service.engine import Engine

        self.clock = clock
        self.engine = Engine(url, clock=clock, directory=sample_directory())

    def start(self, workflow, actor, data=None, *, unit=None, comment=None) -> dict:
        case = self.engine.start(workflow, actor=actor, data=data, unit=unit, comment=comment)
        return case.to_dict()

    def fire(self, case_id, trigger, actor, data=None, *, comment=None) -> dict:
        case = self.engine.fire(case_id, trigger, actor=actor, data=data, comment=comment)
        return case.to_dict()

    def get(self, case_id) -> dict:
        return self.engine.get(case_id, with_children=True).to_dict()

    def history(self, case_id) -> list[dict]:
        return [s.to_dict() for s in self.engine.history(case_id)]

    def tick(self, now: datetime | None = None) -> dict:
        return asdict(self.engine.tick(now or self.clock.now))

    def triggers(self, case_id, actor) -> list[str]:
        return self.engine.available_triggers(case_id, actor)

    def close(self) -> None:
        self.engine.close()


def _arg(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CliDriver:
    kind = "cli"

    def __init__(self, url: str, clock: Clock):
        from click.testing import CliRunner

        self.url, self.clock, self.runner = url, clock, CliRunner()

    def run(self, *args: str) -> str:
        from gridflow.drivers.cli.main import cli

        env = {
            "GRIDFLOW_NOW": self.clock.now.isoformat(),
            "GRIDFLOW_DATABASE_URL": None,
            "GRIDFLOW_WORKFLOWS": None,
            "GRIDFLOW_CONFIG": None,
        }
        res = self.runner.invoke(cli, ["--db", self.url, *args], env=env, catch_exceptions=False)
        if res.exit_code == 1:
            lines = [x for x in res.stderr.splitlines() if x.startswith("Error: ")]
            assert lines, res.output
            raise CliError(lines[-1].removeprefix("Error: "))
        assert res.exit_code == 0, f"gridflow {' '.join(args)} → {res.exit_code}: {res.output}"
        return res.stdout

    @staticmethod
    def _sets(data) -> list[str]:
        out: list[str] = []
        for key, value in (data or {}).items():
            out += ["--set", f"{key}={_arg(value)}"]
        return out

    def start(self, workflow, actor, data=None, *, unit=None, comment=None) -> dict:
        args = ["start", workflow, "--actor", actor, *self._sets(data), "--json"]
        if unit:
            args += ["--unit", unit]
        if comment:
            args += ["--comment", comment]
        return json.loads(self.run(*args))

    def fire(self, case_id, trigger, actor, data=None, *, comment=None) -> dict:
        args = ["fire", str(case_id), trigger, "--actor", actor, *self._sets(data), "--json"]
        if comment is not None:
            args += ["--comment", comment]
        return json.loads(self.run(*args))

    def get(self, case_id) -> dict:
        return json.loads(self.run("show", str(case_id), "--json"))

    def history(self, case_id) -> list[dict]:
        return json.loads(self.run("history", str(case_id), "--json"))

    def tick(self, now: datetime | None = None) -> dict:
        return json.loads(self.run("tick", "--now", (now or self.clock.now).isoformat(), "--json"))

    def triggers(self, case_id, actor) -> list[str]:
        out = self.run("triggers", str(case_id), "--actor", actor).split()
        return [] if out == ["none"] else out

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    """A virtual clock at Monday 2026-03-02 09:00 Asia/Shanghai (overrides conftest's)."""
    return Clock()


@functools.cache
def _builtin_workflows(folder: str) -> dict:
    from gridflow.domain.loader import load_dir

    return load_dir(folder)


def share_builtin_workflows(monkeypatch) -> None:
    """Compile the built-in workflow files once per session instead of once per Engine (the
    YAML parse is most of an Engine's start-up). Every test database is fresh, so the
    shared definitions get revision 1 in each of them."""
    import gridflow.service.definitions as definitions_mod

    monkeypatch.setattr(
        definitions_mod, "load_dir", lambda folder, **_: dict(_builtin_workflows(str(folder)))
    )


@pytest.fixture(params=["api", "cli"])
def driver(request, tmp_path, clock, monkeypatch):
    """The same walk through ``Engine`` (api) and through the ``gridflow`` commands (cli)."""
    url = f"sqlite:///{tmp_path / 'gridflow.db'}"
    monkeypatch.chdir(tmp_path)  # no stray ./gridflow.toml or ./workflows
    share_builtin_workflows(monkeypatch)
    if request.param == "api":
        d = ApiDriver(url, clock)
    else:
        import gridflow.service.engine as engine_mod

        real, cache = engine_mod.Engine, {}

        def shared(database_url, workflows=None, *, clock=None, **kw):
            if database_url not in cache:
                kw.setdefault("directory", sample_directory())
                cache[database_url] = real(database_url, workflows, clock=clock, **kw)
            engine = cache[database_url]
            engine.clock = clock or (lambda: datetime.now(UTC))
            return engine

        monkeypatch.setattr(engine_mod, "Engine", shared)
        d = CliDriver(url, clock)
        request.addfinalizer(lambda: [e.close() for e in cache.values()])
    yield d
    d.close()


# ---- assertions --------------------------------------------------------------------------------
def refused(
    d,
    exc_type: type[Exception],
    case_id: int,
    trigger: str,
    actor: str,
    data: dict | None = None,
    *,
    comment: str | None = None,
    says: Iterable[str] = (),
) -> str:
    """Fire and expect a refusal of ``exc_type`` whose message holds every ``says`` fragment;
    the case must not have moved. Returns the message."""
    before = d.get(case_id)
    expected = exc_type if d.kind == "api" else CliError
    with pytest.raises(expected) as info:
        d.fire(case_id, trigger, actor, data, comment=comment)
    message = str(info.value)
    for fragment in says:
        assert fragment in message, f"{fragment!r} not in: {message}"
    after = d.get(case_id)
    assert (after["state"], after["version"]) == (before["state"], before["version"])
    return message


def due(case: dict) -> datetime:
    return datetime.fromisoformat(case["sla"]["due"])


def triggers_in_history(d, case_id: int) -> list[str]:
    return [s["trigger"] for s in d.history(case_id)]


def role_refusal_says(actor: str, trigger: str, *needs: str) -> list[str]:
    """What a role refusal must name: the actor, the transition and the role@unit needed."""
    return [actor, f"cannot {trigger!r}", "needs", *needs]


# ---- the four-list walk --------------------------------------------------------------------------
CHIEF, OTHER_CHIEF, STREET, DISTRICT = "wannan.chief", "ximu.chief", "fenglin.head", "xuhui.head"
GRID = "wannan-r1.chief"  # grid chief of committee wannan-r1 (in area wannan)


def listed(d, actor: str = GRID, **data) -> dict:
    case = d.start(
        "four_list", actor, {"title": "楼道堆物", "description": "3号楼楼道堆物", **data}
    )
    assert case["state"] == "listed"
    return case


def coordinating(d) -> int:
    cid = listed(d)["id"]
    assert d.fire(cid, "accept", CHIEF, {"location": "3号楼"})["state"] == "coordinating"
    return cid


def in_progress(d, lead: str = "police") -> int:
    cid = coordinating(d)
    case = d.fire(cid, "assign", CHIEF, {"lead_department": lead, "deadline": "2026-03-20"})
    assert case["state"] == "in_progress"
    return cid


def verifying(d) -> int:
    cid = in_progress(d)
    d.fire(cid, "report", "police.liaison", {"result": "已清理"})
    case = d.fire(cid, "submit_for_inspection", CHIEF, {"residents_informed": True})
    assert case["state"] == "verifying"
    return cid


def escalated(d) -> int:
    cid = coordinating(d)
    case = d.fire(cid, "escalate", CHIEF, comment="跨片区，需街道统筹")
    assert case["state"] == "escalated"
    return cid


# ---- listing: start, reject, merge ---------------------------------------------------------------
def test_start_is_listed_under_the_starters_unit(driver):
    case = listed(driver)
    assert case["unit"] == "wannan-r1" and case["created_by"] == GRID
    assert case["sla"]["clock"] == "triage" and due(case) == wd_after(T0, "2wd")
    patrol = listed(driver, actor="wannan.patrol")
    assert patrol["unit"] == "wannan-grid"


def test_start_refused_without_a_start_role_or_outside_the_unit(driver):
    expected = RoleRefused if driver.kind == "api" else CliError
    with pytest.raises(expected) as info:
        driver.start("four_list", "police.liaison", {"title": "x"})
    msg = str(info.value)
    assert "police.liaison" in msg and "cannot start four_list" in msg
    assert "needs patroller or grid_chief or area_chief or street_head" in msg
    with pytest.raises(expected) as info:
        driver.start("four_list", OTHER_CHIEF, {"title": "x"}, unit="wannan-r1")
    assert "ximu.chief" in str(info.value) and "for unit wannan-r1" in str(info.value)
    with pytest.raises(MissingFields if driver.kind == "api" else CliError) as info:
        driver.start("four_list", GRID, {"description": "no title"})
    assert "required: title" in str(info.value)


def test_reject_at_listing_needs_a_reason_and_a_comment(driver):
    cid = listed(driver)["id"]
    refused(driver, MissingFields, cid, "reject", CHIEF, comment="不属实", says=["reject_reason"])
    refused(
        driver,
        MissingFields,
        cid,
        "reject",
        CHIEF,
        {"reject_reason": "already_solved"},
        says=["a comment is required"],
    )
    refused(
        driver,
        MissingFields,
        cid,
        "reject",
        CHIEF,
        {"reject_reason": "solved"},
        comment="x",
        says=["'solved' is not one of", "did you mean 'already_solved'"],
    )
    refused(
        driver,
        RoleRefused,
        cid,
        "reject",
        GRID,
        {"reject_reason": "duplicate"},
        comment="x",
        says=role_refusal_says(GRID, "reject", "area_chief of", "(wannan-r1)"),
    )
    case = driver.fire(cid, "reject", CHIEF, {"reject_reason": "already_solved"}, comment="已解决")
    assert case["state"] == "rejected" and case["closed_at"]
    assert case["data"]["reject_reason"] == "already_solved"
    refused(driver, InvalidTrigger, cid, "accept", CHIEF, says=["nothing (final state)"])


def test_merge_at_listing_needs_the_target_and_a_comment(driver):
    first = listed(driver)["id"]
    cid = listed(driver)["id"]
    refused(driver, MissingFields, cid, "merge", CHIEF, comment="重复", says=["merged_into"])
    refused(driver, MissingFields, cid, "merge", CHIEF, {"merged_into": first}, says=["comment"])
    case = driver.fire(cid, "merge", CHIEF, {"merged_into": first}, comment="与前一件重复")
    assert case["state"] == "merged" and case["data"]["merged_into"] == first and case["closed_at"]


# ---- the main line: accept → assign → report → inspection → written off -------------------------
def test_wrong_role_and_wrong_unit_are_refused_with_who_what_where(driver):
    cid = listed(driver)["id"]
    msg = refused(
        driver,
        RoleRefused,
        cid,
        "accept",
        OTHER_CHIEF,
        says=role_refusal_says(
            OTHER_CHIEF, "accept", "area_chief of 宛南一村居民区 (wannan-r1) or a unit above it"
        ),
    )
    assert "area_chief@ximu" in msg and "four_list" in msg  # what the actor holds, which process
    refused(
        driver,
        RoleRefused,
        cid,
        "accept",
        "wannan.patrol",
        says=role_refusal_says("wannan.patrol", "accept", "area_chief of", "(wannan-r1)"),
    )
    assert driver.triggers(cid, CHIEF) == ["accept", "reject", "merge"]
    assert driver.triggers(cid, OTHER_CHIEF) == []


def test_accept_assign_report_inspect_pass(driver, clock):
    cid = coordinating(driver)
    case = driver.get(cid)
    assert case["data"]["location"] == "3号楼" and case["sla"]["clock"] == "coordinate"
    refused(
        driver,
        MissingFields,
        cid,
        "assign",
        CHIEF,
        {"lead_department": "police"},
        says=["must supply deadline"],
    )
    refused(
        driver,
        MissingFields,
        cid,
        "assign",
        CHIEF,
        {"lead_department": "wannan-r2", "deadline": "2026-03-20"},
        says=["'wannan-r2' is a residential, not a department"],
    )
    refused(
        driver,
        RoleRefused,
        cid,
        "assign",
        OTHER_CHIEF,
        {"lead_department": "police", "deadline": "2026-03-20"},
        says=role_refusal_says(OTHER_CHIEF, "assign", "area_chief of", "(wannan-r1)"),
    )
    case = driver.fire(
        cid,
        "assign",
        CHIEF,
        {"lead_department": "police", "co_departments": ["city_mgmt"], "deadline": "2026-03-20"},
    )
    assert case["state"] == "in_progress" and case["data"]["co_departments"] == ["city_mgmt"]
    # the committed deadline is the end of that working day
    assert due(case) == datetime(2026, 3, 20, 17, 30, tzinfo=SHANGHAI)
    refused(
        driver,
        RoleRefused,
        cid,
        "report",
        "city_mgmt.liaison",
        {"result": "x"},
        says=role_refusal_says(
            "city_mgmt.liaison",
            "report",
            "dept_liaison (as lead_liaison) of police (the case's lead_department)",
            "area_chief of",
        ),
    )
    refused(driver, MissingFields, cid, "report", "police.liaison", says=["must supply result"])
    case = driver.fire(cid, "report", "police.liaison", {"result": "已清理"})
    assert case["state"] == "feedback" and case["data"]["result"] == "已清理"
    refused(
        driver,
        GuardRefused,
        cid,
        "submit_for_inspection",
        CHIEF,
        says=["tell the residents who raised it first (set residents_informed=true)"],
    )
    refused(
        driver,
        GuardRefused,
        cid,
        "submit_for_inspection",
        CHIEF,
        {"residents_informed": False},
        says=["residents_informed=true"],
    )
    case = driver.fire(cid, "submit_for_inspection", CHIEF, {"residents_informed": True})
    assert case["state"] == "verifying" and case["data"]["residents_informed"] is True
    refused(
        driver,
        RoleRefused,
        cid,
        "pass_inspection",
        GRID,
        says=role_refusal_says(GRID, "pass_inspection", "area_chief of", "street_head of"),
    )
    case = driver.fire(cid, "pass_inspection", STREET)
    assert case["state"] == "written_off" and case["closed_at"] and case["sla"] is None
    assert triggers_in_history(driver, cid) == [
        "start",
        "accept",
        "assign",
        "report",
        "submit_for_inspection",
        "pass_inspection",
    ]


def test_lead_head_and_area_chief_may_also_report(driver):
    cid = in_progress(driver)
    assert driver.fire(cid, "report", "police.head", {"result": "ok"})["state"] == "feedback"
    cid = in_progress(driver)
    assert driver.fire(cid, "report", CHIEF, {"result": "ok"})["state"] == "feedback"


def test_rework_twice_then_the_third_rework_escalates_to_the_street(driver):
    cid = verifying(driver)
    refused(driver, MissingFields, cid, "rework", CHIEF, says=["a comment is required"])
    for n in (1, 2):
        case = driver.fire(cid, "rework", CHIEF if n == 1 else STREET, comment=f"第{n}次不合格")
        assert case["state"] == "in_progress" and case["data"]["reworks"] == n
        assert case["data"]["escalations"] == 0
        driver.fire(cid, "report", "police.liaison", {"result": f"返工{n}"})
        assert driver.fire(cid, "submit_for_inspection", CHIEF)["state"] == "verifying"
    case = driver.fire(cid, "rework", CHIEF, comment="第三次不合格")
    assert case["state"] == "escalated"
    assert case["data"]["reworks"] == 3
    assert case["data"]["escalations"] == 1 and case["data"]["escalated_to"] == "street"
    steps = [(s["trigger"], s["to_state"]) for s in driver.history(cid) if s["trigger"] == "rework"]
    assert steps == [("rework", "in_progress"), ("rework", "in_progress"), ("rework", "escalated")]


# ---- escalation: street, district ---------------------------------------------------------------
@pytest.mark.parametrize("source", ["coordinating", "in_progress", "asking"])
def test_escalate_to_the_street_then_the_street_takes_over(driver, source):
    if source == "coordinating":
        cid = coordinating(driver)
    elif source == "in_progress":
        cid = in_progress(driver)
    else:
        cid = coordinating(driver)
        driver.fire(cid, "ask", CHIEF, {"ask_departments": ["police"]})
    refused(driver, MissingFields, cid, "escalate", CHIEF, says=["a comment is required"])
    refused(
        driver,
        RoleRefused,
        cid,
        "escalate",
        OTHER_CHIEF,
        comment="x",
        says=role_refusal_says(OTHER_CHIEF, "escalate", "area_chief of", "(wannan-r1)"),
    )
    case = driver.fire(cid, "escalate", CHIEF, comment="需街道统筹")
    assert case["state"] == "escalated" and case["sla"]["clock"] == "street"
    assert case["data"]["escalated_to"] == "street" and case["data"]["escalations"] == 1
    refused(
        driver,
        RoleRefused,
        cid,
        "take_over",
        CHIEF,
        {"lead_department": "construction", "deadline": "2026-04-30"},
        says=role_refusal_says(CHIEF, "take_over", "street_head of", "(wannan-r1)"),
    )
    refused(
        driver,
        MissingFields,
        cid,
        "take_over",
        STREET,
        {"lead_department": "construction"},
        says=["deadline"],
    )
    case = driver.fire(
        cid, "take_over", STREET, {"lead_department": "construction", "deadline": "2026-04-30"}
    )
    assert case["state"] == "in_progress" and case["data"]["lead_department"] == "construction"
    # the new lead department may now report; the old one may not
    refused(driver, RoleRefused, cid, "report", "police.liaison", {"result": "x"})
    assert driver.fire(cid, "report", "construction.liaison", {"result": "ok"})["state"] == (
        "feedback"
    )


def test_escalate_to_the_district_then_the_district_decides(driver):
    cid = escalated(driver)
    refused(driver, MissingFields, cid, "escalate_district", STREET, says=["comment"])
    refused(
        driver,
        RoleRefused,
        cid,
        "escalate_district",
        CHIEF,
        comment="x",
        says=role_refusal_says(CHIEF, "escalate_district", "street_head of"),
    )
    case = driver.fire(cid, "escalate_district", STREET, comment="涉及区级资金")
    assert case["state"] == "at_district"
    assert case["data"]["escalated_to"] == "district" and case["data"]["escalations"] == 2
    refused(
        driver,
        RoleRefused,
        cid,
        "district_decides",
        STREET,
        {"lead_department": "construction", "deadline": "2026-05-29"},
        says=role_refusal_says(STREET, "district_decides", "district_head of", "(wannan-r1)"),
    )
    case = driver.fire(
        cid,
        "district_decides",
        DISTRICT,
        {"lead_department": "construction", "deadline": "2026-05-29"},
    )
    assert case["state"] == "in_progress" and case["data"]["lead_department"] == "construction"
    assert due(case) == datetime(2026, 5, 29, 17, 30, tzinfo=SHANGHAI)


def test_the_street_may_reject_an_escalated_case(driver):
    cid = escalated(driver)
    refused(driver, MissingFields, cid, "reject", STREET, comment="x", says=["reject_reason"])
    refused(
        driver,
        RoleRefused,
        cid,
        "reject",
        CHIEF,
        {"reject_reason": "not_in_scope"},
        comment="x",
        says=role_refusal_says(CHIEF, "reject", "street_head of"),
    )
    case = driver.fire(
        cid, "reject", STREET, {"reject_reason": "not_in_scope"}, comment="非街道事权"
    )
    assert case["state"] == "rejected" and case["closed_at"]


# ---- long-term hold ----------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["in_progress", "asking"])
def test_hold_is_requested_then_denied(driver, source):
    if source == "in_progress":
        cid = in_progress(driver)
    else:
        cid = coordinating(driver)
        driver.fire(cid, "ask", CHIEF, {"ask_departments": ["police"], "deadline": "2026-03-20"})
    before = driver.get(cid)
    refused(driver, MissingFields, cid, "request_hold", CHIEF, says=["must supply hold_reason"])
    case = driver.fire(cid, "request_hold", CHIEF, {"hold_reason": "等待规划调整"})
    assert case["state"] == "hold_requested" and case["sla"]["paused"] is True
    refused(
        driver,
        RoleRefused,
        cid,
        "deny_hold",
        CHIEF,
        comment="x",
        says=role_refusal_says(CHIEF, "deny_hold", "street_head of"),
    )
    refused(driver, MissingFields, cid, "deny_hold", STREET, says=["comment"])
    case = driver.fire(cid, "deny_hold", STREET, comment="继续推进")
    # back to work on the clock that was paused, not a new one
    assert case["state"] == "in_progress" and case["sla"]["clock"] == "work"
    assert case["sla"]["paused"] is False and due(case) == due(before)


@pytest.mark.parametrize("ending", ["resume_from_review", "resume_from_hold"])
def test_hold_approved_reviewed_by_timer_kept_then_resumed(driver, clock, ending):
    cid = in_progress(driver)
    driver.fire(cid, "request_hold", CHIEF, {"hold_reason": "等待旧改启动"})
    refused(
        driver,
        RoleRefused,
        cid,
        "approve_hold",
        CHIEF,
        says=role_refusal_says(CHIEF, "approve_hold", "street_head of"),
    )
    case = driver.fire(cid, "approve_hold", STREET, {"review_every": "5wd"})
    assert case["state"] == "on_hold" and case["data"]["review_every"] == "5wd"
    assert case["sla"]["clock"] == "hold" and due(case) == wd_after(T0, "5wd")
    if ending == "resume_from_hold":
        case = driver.fire(cid, "resume", CHIEF, {"deadline": "2026-04-30"})
        assert case["state"] == "in_progress"
        assert due(case) == datetime(2026, 4, 30, 17, 30, tzinfo=SHANGHAI)
        return
    refused(
        driver,
        RoleRefused,
        cid,
        "review_due",
        STREET,
        says=[STREET, "cannot 'review_due'", "only the system fires it"],
    )
    # not yet due: the tick leaves it alone
    driver.tick(due(case) - timedelta(minutes=1))
    assert driver.get(cid)["state"] == "on_hold"
    clock.now = due(case) + timedelta(minutes=5)
    driver.tick()
    case = driver.get(cid)
    assert case["state"] == "review" and case["sla"]["clock"] == "review"
    step = driver.history(cid)[-1]
    assert (step["trigger"], step["actor"], step["from_state"]) == (
        "review_due",
        "system",
        "on_hold",
    )
    refused(driver, MissingFields, cid, "keep_on_hold", STREET, says=["comment"])
    refused(driver, RoleRefused, cid, "keep_on_hold", CHIEF, comment="x", says=["street_head of"])
    case = driver.fire(cid, "keep_on_hold", STREET, comment="旧改尚未启动")
    assert case["state"] == "on_hold" and due(case) == wd_after(clock.now, "5wd")
    clock.now = due(case) + timedelta(minutes=5)
    driver.tick()
    assert driver.get(cid)["state"] == "review"
    assert triggers_in_history(driver, cid).count("review_due") == 2
    refused(
        driver, RoleRefused, cid, "resume", OTHER_CHIEF, says=["street_head of", "area_chief of"]
    )
    case = driver.fire(cid, "resume", STREET, {"lead_department": "construction"})
    assert case["state"] == "in_progress" and case["data"]["lead_department"] == "construction"


# ---- asking departments: spawn three questions, fan in once ---------------------------------------
DEPTS = ("police", "city_mgmt", "sanitation")


def asking(d) -> tuple[int, dict[str, int]]:
    cid = coordinating(d)
    case = d.fire(cid, "ask", CHIEF, {"ask_departments": list(DEPTS)})
    assert case["state"] == "asking"
    kids = d.get(cid)["children"]
    assert sorted(k["data"]["department"] for k in kids) == sorted(DEPTS)
    for kid in kids:
        # started as the parent's unit, dispatched at once by the system, complex = 15wd
        assert kid["workflow"] == "raise_hand" and kid["parent_id"] == cid
        assert kid["state"] == "dispatched" and kid["unit"] == "wannan-r1"
        assert kid["data"]["direction"] == "grid_asks" and kid["data"]["category"] == "complex"
        assert kid["data"]["title"] == "楼道堆物" and kid["data"]["question"] == "3号楼楼道堆物"
        assert due(kid) == wd_after(T0, "15wd")
        assert [(s["trigger"], s["actor"]) for s in d.history(kid["id"])] == [
            ("start", CHIEF),
            ("dispatch_direct", "system"),
        ]
    return cid, {k["data"]["department"]: k["id"] for k in kids}


def test_ask_needs_departments(driver):
    cid = coordinating(driver)
    refused(driver, MissingFields, cid, "ask", CHIEF, says=["must supply ask_departments"])
    refused(
        driver,
        MissingFields,
        cid,
        "ask",
        CHIEF,
        {"ask_departments": ["police", "polise"]},
        says=["no unit 'polise'", "did you mean 'police'"],
    )
    assert driver.fire(cid, "ask", CHIEF, {"ask_departments": ["police"]})["state"] == "asking"
    refused(
        driver,
        RoleRefused,
        cid,
        "answers_in",
        CHIEF,
        says=[CHIEF, "cannot 'answers_in'", "only the system fires it"],
    )


@pytest.mark.parametrize("order", list(permutations(DEPTS)), ids="-".join)
def test_three_department_questions_fan_in_exactly_once(driver, order):
    cid, kids = asking(driver)
    for n, dept in enumerate(order, 1):
        kid = kids[dept]
        driver.fire(kid, "sign", f"{dept}.liaison")
        driver.fire(kid, "answer", f"{dept}.head", {"answer": f"{dept}已处置"})
        closed = driver.fire(kid, "confirm", GRID, {"satisfaction": "satisfied"})
        assert closed["state"] == "closed"
        parent = driver.get(cid)
        if n < len(order):
            assert parent["state"] == "asking"
            assert "answers_in" not in triggers_in_history(driver, cid)
    parent = driver.get(cid)
    assert parent["state"] == "feedback"
    assert triggers_in_history(driver, cid).count("answers_in") == 1
    answers = parent["data"]["answers"]
    assert sorted(answers) == sorted(f"{d}已处置" for d in DEPTS) and len(answers) == 3
    assert all(f"{d}已处置" in parent["data"]["result"] for d in DEPTS)
    step = driver.history(cid)[-1]
    assert (step["trigger"], step["actor"], step["to_state"]) == (
        "answers_in",
        "system",
        "feedback",
    )
    # the feedback list goes on like any other: inspection, write-off
    driver.fire(cid, "submit_for_inspection", CHIEF, {"residents_informed": True})
    assert driver.fire(cid, "pass_inspection", CHIEF)["state"] == "written_off"


def test_a_withdrawn_question_still_fans_in_with_the_other_answers(driver, clock):
    cid, kids = asking(driver)
    driver.fire(kids["police"], "withdraw", GRID, comment="已自行解决")
    driver.fire(kids["city_mgmt"], "sign", "city_mgmt.liaison")
    driver.fire(kids["city_mgmt"], "answer", "city_mgmt.liaison", {"answer": "已拆除"})
    driver.fire(kids["city_mgmt"], "confirm", GRID, {"satisfaction": "basically_satisfied"})
    driver.fire(kids["sanitation"], "sign", "sanitation.liaison")
    answered = driver.fire(kids["sanitation"], "answer", "sanitation.liaison", {"answer": "已清运"})
    assert driver.get(cid)["state"] == "asking"
    # nobody confirms: the answer is accepted by default after 3 working days
    clock.now = due(answered) + timedelta(minutes=1)
    driver.tick()
    assert driver.get(kids["sanitation"])["state"] == "closed"
    parent = driver.get(cid)
    assert parent["state"] == "feedback"
    assert parent["data"]["answers"] == ["已拆除", "已清运"]
    assert triggers_in_history(driver, cid).count("answers_in") == 1


def test_role_refusal_text_names_actor_role_unit_and_transition(driver):
    """The exact wording, once, so a regression in the message is caught."""
    cid = listed(driver)["id"]
    msg = refused(driver, RoleRefused, cid, "accept", OTHER_CHIEF)
    assert re.fullmatch(
        r"胡强杰 \(ximu\.chief: area_chief@ximu\) cannot 'accept' case \d+ "
        r"\(four_list, state 'listed'\): needs area_chief of 宛南一村居民区 \(wannan-r1\) "
        r"or a unit above it",
        msg,
    ), msg
