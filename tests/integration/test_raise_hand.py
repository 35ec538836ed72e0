"""双向举手 (raise_hand): every path and every refusal of both directions, through the Engine
API and the CLI (the ``driver`` fixture of ``test_four_list.py`` runs each test both ways).

Grid asks (mandatory questions): dispatch, sign, begin, answer, confirm; return →
re-dispatch / uphold; extensions; unsatisfied rounds → supervision; withdraw; auto-confirm.
Department asks (race-to-claim questions): publish, hands, first-come and select awards, the
claim window closing by timer, unclaimed → assign / republish, submit / send back / accept,
cancel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_four_list import (  # the drivers and helpers live there
    T0,
    _builtin_workflows,
    clock,
    driver,
    due,
    refused,
    role_refusal_says,
    sample_directory,
    triggers_in_history,
    wd_after,
)

from gridflow.errors import GuardRefused, InvalidTrigger, MissingFields, RoleRefused

__all__ = ["clock", "driver"]  # fixtures used by the tests below

ASKER = "wannan-r1-m1.chief"  # grid chief of a micro-grid of committee wannan-r1
COMMITTEE = "wannan-r1.chief"  # grid chief of the committee above it
DISPATCH, STREET, AREA = "fenglin.dispatch", "fenglin.head", "wannan.chief"


# ---- grid asks: helpers --------------------------------------------------------------------------
def raised(d, category: str = "normal", actor: str = ASKER) -> int:
    case = d.start(
        "raise_hand",
        actor,
        {"title": "小区门口占道经营", "question": "请城管处置", "category": category},
    )
    assert case["state"] == "raised" and case["data"]["direction"] == "grid_asks"
    assert case["sla"]["clock"] == "dispatch"
    return case["id"]


def dispatched(d, dept: str = "city_mgmt", category: str = "normal") -> int:
    cid = raised(d, category)
    case = d.fire(cid, "dispatch", DISPATCH, {"department": dept})
    assert case["state"] == "dispatched"
    return cid


def signed(d, dept: str = "city_mgmt") -> int:
    cid = dispatched(d, dept)
    assert d.fire(cid, "sign", f"{dept}.liaison")["state"] == "signed"
    return cid


def answered(d, dept: str = "city_mgmt") -> int:
    cid = signed(d, dept)
    assert d.fire(cid, "answer", f"{dept}.liaison", {"answer": "已劝离"})["state"] == "answered"
    return cid


# ---- grid asks: the main line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("category", "limit"), [("simple", "1wd"), ("normal", "5wd"), ("complex", "15wd")]
)
def test_answer_limit_follows_the_category(driver, category, limit):
    cid = raised(driver, category)
    case = driver.fire(cid, "dispatch", DISPATCH, {"department": "city_mgmt"})
    assert case["sla"]["clock"] == "answer" and due(case) == wd_after(T0, limit)


@pytest.mark.parametrize("dispatcher", [DISPATCH, AREA])
def test_dispatch_sign_begin_answer_confirm_satisfied(driver, dispatcher):
    cid = raised(driver)
    assert driver.get(cid)["unit"] == "wannan-r1-m1"
    refused(
        driver,
        RoleRefused,
        cid,
        "dispatch",
        ASKER,
        {"department": "city_mgmt"},
        says=role_refusal_says(
            ASKER, "dispatch", "dispatcher of", "area_chief of", "(wannan-r1-m1)"
        ),
    )
    refused(driver, MissingFields, cid, "dispatch", dispatcher, says=["must supply department"])
    refused(
        driver,
        MissingFields,
        cid,
        "dispatch",
        dispatcher,
        {"department": "wannan-r1"},
        says=["'wannan-r1' is a residential, not a department"],
    )
    case = driver.fire(
        cid, "dispatch", dispatcher, {"department": "city_mgmt", "category": "simple"}
    )
    assert case["state"] == "dispatched" and case["data"]["category"] == "simple"
    refused(
        driver,
        RoleRefused,
        cid,
        "sign",
        "police.liaison",
        says=role_refusal_says(
            "police.liaison",
            "sign",
            "dept_liaison of city_mgmt (the case's department)",
            "dept_head of city_mgmt (the case's department)",
        ),
    )
    assert driver.fire(cid, "sign", "city_mgmt.liaison")["state"] == "signed"
    assert driver.fire(cid, "begin", "city_mgmt.head")["state"] == "answering"
    refused(driver, MissingFields, cid, "answer", "city_mgmt.liaison", says=["must supply answer"])
    refused(
        driver,
        MissingFields,
        cid,
        "answer",
        "city_mgmt.liaison",
        {"answer": ""},
        says=["must supply answer"],
    )
    case = driver.fire(cid, "answer", "city_mgmt.liaison", {"answer": "已劝离并设置隔离栏"})
    assert case["state"] == "answered" and case["sla"]["clock"] == "confirm"
    refused(
        driver,
        RoleRefused,
        cid,
        "confirm",
        AREA,
        {"satisfaction": "satisfied"},
        says=role_refusal_says(AREA, "confirm", "grid_chief of 宛南一村第1微网格 (wannan-r1-m1)"),
    )
    refused(
        driver,
        RoleRefused,
        cid,
        "confirm",
        "wannan-r2.chief",
        {"satisfaction": "satisfied"},
        says=role_refusal_says("wannan-r2.chief", "confirm", "grid_chief of", "(wannan-r1-m1)"),
    )
    refused(driver, MissingFields, cid, "confirm", ASKER, says=["must supply satisfaction"])
    case = driver.fire(cid, "confirm", ASKER, {"satisfaction": "satisfied"})
    assert case["state"] == "closed" and case["closed_at"] and case["data"]["rounds"] == 0
    assert triggers_in_history(driver, cid) == [
        "start",
        "dispatch",
        "sign",
        "begin",
        "answer",
        "confirm",
    ]


def test_answer_right_after_signing_and_the_committee_chief_may_confirm(driver):
    cid = signed(driver)
    assert driver.fire(cid, "answer", "city_mgmt.head", {"answer": "ok"})["state"] == "answered"
    case = driver.fire(cid, "confirm", COMMITTEE, {"satisfaction": "basically_satisfied"})
    assert case["state"] == "closed" and case["data"]["satisfaction"] == "basically_satisfied"


def test_dispatch_direct_is_for_the_system_only(driver):
    cid = raised(driver)
    refused(
        driver,
        RoleRefused,
        cid,
        "dispatch_direct",
        DISPATCH,
        says=[DISPATCH, "cannot 'dispatch_direct'", "only the system fires it"],
    )


# ---- return -------------------------------------------------------------------------------------------
def test_return_then_redispatch(driver):
    cid = dispatched(driver, "police")
    before = driver.get(cid)
    refused(
        driver, MissingFields, cid, "return", "police.liaison", comment="x", says=["return_reason"]
    )
    refused(
        driver,
        MissingFields,
        cid,
        "return",
        "police.liaison",
        {"return_reason": "not_our_duty"},
        says=["a comment is required"],
    )
    refused(
        driver,
        RoleRefused,
        cid,
        "return",
        "city_mgmt.liaison",
        {"return_reason": "not_our_duty"},
        comment="x",
        says=role_refusal_says("city_mgmt.liaison", "return", "police (the case's department)"),
    )
    case = driver.fire(
        cid, "return", "police.liaison", {"return_reason": "not_our_duty"}, comment="占道经营归城管"
    )
    assert case["state"] == "returned" and case["sla"]["paused"] is True
    refused(
        driver,
        RoleRefused,
        cid,
        "redispatch",
        "police.liaison",
        {"department": "city_mgmt"},
        says=role_refusal_says("police.liaison", "redispatch", "dispatcher of", "street_head of"),
    )
    refused(
        driver,
        GuardRefused,
        cid,
        "redispatch",
        DISPATCH,
        {"department": "police"},
        says=["re-dispatching to the same department needs a comment saying why"],
    )
    case = driver.fire(cid, "redispatch", DISPATCH, {"department": "city_mgmt"})
    assert case["state"] == "dispatched" and case["data"]["department"] == "city_mgmt"
    # the answer clock resumes where it stopped: no time passed, same deadline
    assert due(case) == due(before) and case["sla"]["paused"] is False
    refused(driver, RoleRefused, cid, "sign", "police.liaison", says=["city_mgmt"])
    assert driver.fire(cid, "sign", "city_mgmt.liaison")["state"] == "signed"


def test_redispatch_to_the_same_department_with_a_reason(driver):
    cid = dispatched(driver, "police")
    driver.fire(
        cid, "return", "police.head", {"return_reason": "insufficient_info"}, comment="地址不清"
    )
    case = driver.fire(cid, "redispatch", STREET, {"department": "police"}, comment="地址已补充")
    assert case["state"] == "dispatched" and case["data"]["department"] == "police"


def test_return_upheld(driver):
    cid = dispatched(driver, "police")
    driver.fire(cid, "return", "police.liaison", {"return_reason": "duplicate"}, comment="重复")
    refused(driver, MissingFields, cid, "uphold_return", DISPATCH, says=["comment"])
    case = driver.fire(cid, "uphold_return", DISPATCH, comment="确为重复")
    assert case["state"] == "return_upheld" and case["closed_at"]


def test_no_return_after_signing(driver):
    cid = signed(driver)
    refused(
        driver,
        InvalidTrigger,
        cid,
        "return",
        "city_mgmt.liaison",
        {"return_reason": "not_our_duty"},
        comment="x",
        says=[
            "cannot 'return'",
            "in state 'signed'",
            "allowed here: begin, answer, request_extension",
        ],
    )
    driver.fire(cid, "begin", "city_mgmt.liaison")
    refused(
        driver,
        InvalidTrigger,
        cid,
        "return",
        "city_mgmt.liaison",
        {"return_reason": "not_our_duty"},
        comment="x",
        says=["in state 'answering'"],
    )


# ---- extensions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("from_state", ["signed", "answering"])
def test_extension_approved_moves_the_deadline_by_the_extension(driver, from_state):
    cid = signed(driver)
    if from_state == "answering":
        driver.fire(cid, "begin", "city_mgmt.liaison")
    old_due = due(driver.get(cid))
    refused(
        driver,
        MissingFields,
        cid,
        "request_extension",
        "city_mgmt.liaison",
        {"extension": "3wd"},
        says=["must supply extension_reason"],
    )
    refused(
        driver,
        MissingFields,
        cid,
        "request_extension",
        "city_mgmt.liaison",
        {"extension": "three days", "extension_reason": "x"},
        says=["extension:"],
    )
    case = driver.fire(
        cid,
        "request_extension",
        "city_mgmt.liaison",
        {"extension": "3wd", "extension_reason": "需协调产权方"},
    )
    assert case["state"] == "extension_requested" and case["sla"]["paused"] is True
    refused(
        driver,
        RoleRefused,
        cid,
        "approve_extension",
        "city_mgmt.head",
        says=role_refusal_says("city_mgmt.head", "approve_extension", "street_head of"),
    )
    case = driver.fire(cid, "approve_extension", STREET)
    assert case["state"] == "answering" and case["data"]["extensions"] == 1
    assert due(case) == wd_after(old_due, "3wd") and due(case) > old_due


def test_extension_rejected_keeps_the_deadline(driver):
    cid = signed(driver)
    old_due = due(driver.get(cid))
    driver.fire(
        cid,
        "request_extension",
        "city_mgmt.head",
        {"extension": "5wd", "extension_reason": "人手不足"},
    )
    refused(driver, MissingFields, cid, "reject_extension", STREET, says=["a comment is required"])
    case = driver.fire(cid, "reject_extension", STREET, comment="期限内完成")
    assert case["state"] == "answering" and case["data"]["extensions"] == 0
    assert due(case) == old_due


def test_no_extension_after_the_deadline(driver, clock):
    cid = signed(driver)
    deadline = due(driver.get(cid))
    clock.now = deadline + timedelta(hours=1)
    assert driver.get(cid)["sla"]["overdue_by"]
    # the message shows the deadline as people read it: Shanghai time, to the minute
    local = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    refused(
        driver,
        GuardRefused,
        cid,
        "request_extension",
        "city_mgmt.liaison",
        {"extension": "3wd", "extension_reason": "来不及"},
        says=[f"an extension can only be requested before the deadline ({local})"],
    )
    # just before the deadline it is still allowed
    clock.now = deadline - timedelta(minutes=1)
    case = driver.fire(
        cid, "request_extension", "city_mgmt.liaison", {"extension": "3wd", "extension_reason": "x"}
    )
    assert case["state"] == "extension_requested"


# ---- satisfaction rounds, supervision ---------------------------------------------------------------
def test_unsatisfied_once_second_round_twice_supervised_then_answered(driver):
    cid = answered(driver)
    refused(
        driver,
        MissingFields,
        cid,
        "confirm",
        ASKER,
        {"satisfaction": "unsatisfied"},
        says=["a comment is required"],
    )
    case = driver.fire(cid, "confirm", ASKER, {"satisfaction": "unsatisfied"}, comment="摊位仍在")
    assert case["state"] == "answering" and case["data"]["rounds"] == 1
    assert case["sla"]["clock"] == "answer"
    driver.fire(cid, "answer", "city_mgmt.liaison", {"answer": "已再次劝离"})
    case = driver.fire(cid, "confirm", ASKER, {"satisfaction": "unsatisfied"}, comment="又回来了")
    assert case["state"] == "supervised" and case["data"]["rounds"] == 2
    assert case["sla"]["clock"] == "supervise"
    refused(
        driver,
        RoleRefused,
        cid,
        "answer",
        "police.liaison",
        {"answer": "x"},
        says=["city_mgmt (the case's department)"],
    )
    case = driver.fire(cid, "answer", "city_mgmt.head", {"answer": "已纳入长效管理"})
    assert case["state"] == "answered" and case["data"]["answer"] == "已纳入长效管理"
    case = driver.fire(cid, "confirm", ASKER, {"satisfaction": "satisfied"})
    assert case["state"] == "closed" and case["data"]["satisfaction"] == "satisfied"


def test_supervised_then_the_street_concludes(driver):
    cid = answered(driver)
    driver.fire(cid, "confirm", ASKER, {"satisfaction": "unsatisfied"}, comment="1")
    driver.fire(cid, "answer", "city_mgmt.liaison", {"answer": "2"})
    driver.fire(cid, "confirm", ASKER, {"satisfaction": "unsatisfied"}, comment="2")
    refused(
        driver,
        RoleRefused,
        cid,
        "conclude",
        "city_mgmt.head",
        comment="x",
        says=role_refusal_says("city_mgmt.head", "conclude", "street_head of"),
    )
    refused(driver, MissingFields, cid, "conclude", STREET, says=["a comment is required"])
    case = driver.fire(cid, "conclude", STREET, comment="已尽责，督办办结")
    assert case["state"] == "closed" and case["data"]["rounds"] == 2


def test_closing_without_an_answer_is_refused(driver):
    cid = dispatched(driver)
    refused(
        driver,
        InvalidTrigger,
        cid,
        "confirm",
        ASKER,
        {"satisfaction": "satisfied"},
        says=["cannot 'confirm'", "in state 'dispatched'"],
    )
    driver.fire(cid, "sign", "city_mgmt.liaison")
    refused(
        driver,
        InvalidTrigger,
        cid,
        "conclude",
        STREET,
        comment="x",
        says=["cannot 'conclude'", "in state 'signed'"],
    )
    refused(
        driver,
        MissingFields,
        cid,
        "answer",
        "city_mgmt.liaison",
        {"answer": ""},
        says=["must supply answer"],
    )


@pytest.mark.parametrize(
    ("state", "trigger", "actor", "payload", "comment"),
    [
        ("answered", "confirm", ASKER, {"satisfaction": "satisfied"}, None),
        ("supervised", "conclude", STREET, {}, "办结"),
    ],
)
def test_the_answer_check_itself(state, trigger, actor, payload, comment):
    """No event path reaches ``answered``/``supervised`` without an answer (``answer``
    requires one), so the check behind them is exercised on the compiled workflow."""
    from gridflow.domain.machine import CaseView
    from gridflow.service.engine import BUILTIN_WORKFLOWS

    wf = _builtin_workflows(str(BUILTIN_WORKFLOWS))["raise_hand"]
    directory = sample_directory()
    data = {"department": "city_mgmt", "answer": None, "rounds": 2}
    view = CaseView(7, state, 5, data, "wannan-r1-m1")
    with pytest.raises(GuardRefused) as info:
        wf.decide(
            view, trigger, directory.people[actor], directory, payload=payload, comment=comment
        )
    assert (
        str(info.value)
        == f"cannot {trigger!r} case 7: a question cannot be closed without an answer"
    )


# ---- withdraw, auto-confirm -----------------------------------------------------------------------
@pytest.mark.parametrize("at", ["raised", "dispatched"])
def test_withdraw(driver, at):
    cid = raised(driver) if at == "raised" else dispatched(driver)
    refused(driver, MissingFields, cid, "withdraw", ASKER, says=["a comment is required"])
    refused(
        driver,
        RoleRefused,
        cid,
        "withdraw",
        "ximu-r1.chief",
        comment="x",
        says=role_refusal_says("ximu-r1.chief", "withdraw", "grid_chief of", "(wannan-r1-m1)"),
    )
    case = driver.fire(cid, "withdraw", ASKER, comment="已自行解决")
    assert case["state"] == "withdrawn" and case["closed_at"]


def test_no_withdraw_after_signing(driver):
    cid = signed(driver)
    refused(driver, InvalidTrigger, cid, "withdraw", ASKER, comment="x", says=["in state 'signed'"])


def test_auto_confirm_after_three_working_days(driver, clock):
    cid = answered(driver)
    case = driver.get(cid)
    assert due(case) == wd_after(T0, "3wd")
    driver.tick(due(case) - timedelta(minutes=1))
    assert driver.get(cid)["state"] == "answered"
    clock.now = due(case) + timedelta(minutes=1)
    result = driver.tick()
    assert result["fired"] >= 1 and result["errors"] == []
    case = driver.get(cid)
    assert case["state"] == "closed" and case["data"]["satisfaction"] == "basically_satisfied"
    step = driver.history(cid)[-1]
    assert (step["trigger"], step["actor"], step["from_state"]) == (
        "auto_confirm",
        "system",
        "answered",
    )
    refused(
        driver,
        InvalidTrigger,
        cid,
        "confirm",
        ASKER,
        {"satisfaction": "unsatisfied"},
        comment="late",
        says=["nothing (final state)"],
    )


# ---- department asks ------------------------------------------------------------------------------------
def published(d, **data) -> int:
    case = d.start(
        "raise_hand",
        "police.liaison",
        {"direction": "dept_asks", "title": "平安志愿者招募", "department": "police", **data},
    )
    assert case["state"] == "open" and case["unit"] == "police"
    return case["id"]


def test_publish_opens_a_claim_window(driver):
    cid = published(driver)
    case = driver.get(cid)
    assert case["data"]["award_policy"] == "first_come" and case["data"]["max_awardees"] == 1
    assert case["sla"]["clock"] == "claim" and due(case) == wd_after(T0, "3wd")
    cid = published(driver, claim_window="5wd", award_policy="select", max_awardees=3)
    assert due(driver.get(cid)) == wd_after(T0, "5wd")
    expected = RoleRefused if driver.kind == "api" else Exception
    with pytest.raises(expected) as info:
        driver.start("raise_hand", "wannan.patrol", {"direction": "dept_asks", "title": "x"})
    assert "cannot start raise_hand" in str(info.value) and "wannan.patrol" in str(info.value)


def test_only_grid_chiefs_under_the_street_may_raise_hands(driver):
    cid = published(driver)
    refused(
        driver,
        RoleRefused,
        cid,
        "raise_hand",
        "ximu.chief",
        says=role_refusal_says(
            "ximu.chief",
            "raise_hand",
            "grid_chief (as claimer) of a unit within 枫林路街道 (fenglin)",
        ),
    )
    refused(driver, RoleRefused, cid, "raise_hand", "police.liaison", says=["(as claimer)"])
    assert driver.triggers(cid, ASKER) == ["raise_hand", "withdraw_hand"]
    assert "award" in driver.triggers(cid, "police.liaison")


def test_first_come_one_place(driver):
    cid = published(driver)
    case = driver.fire(cid, "raise_hand", ASKER)
    assert case["state"] == "awarded"
    assert case["data"]["hands"] == ["wannan-r1-m1"]
    assert case["data"]["awardees"] == ["wannan-r1-m1"]  # once, not twice
    assert case["data"]["losers"] == []
    assert case["sla"]["clock"] == "solve" and due(case) == wd_after(T0, "15wd")
    refused(
        driver,
        InvalidTrigger,
        cid,
        "raise_hand",
        "ximu-r1.chief",
        says=["cannot 'raise_hand'", "in state 'awarded'"],
    )


def test_first_come_two_places_and_a_second_hand_from_the_same_grid(driver):
    cid = published(driver, max_awardees=2)
    case = driver.fire(cid, "raise_hand", ASKER)
    assert case["state"] == "open" and case["data"]["hands"] == ["wannan-r1-m1"]
    refused(
        driver,
        GuardRefused,
        cid,
        "raise_hand",
        ASKER,
        says=["wannan-r1-m1 has already raised its hand on this question"],
    )
    case = driver.fire(cid, "raise_hand", "ximu-r2.chief")
    assert case["state"] == "awarded"
    assert case["data"]["awardees"] == ["wannan-r1-m1", "ximu-r2"]
    refused(driver, InvalidTrigger, cid, "raise_hand", "dongan-r1.chief", says=["'awarded'"])


def test_withdraw_a_hand(driver):
    cid = published(driver, award_policy="select")
    refused(
        driver,
        GuardRefused,
        cid,
        "withdraw_hand",
        ASKER,
        says=["wannan-r1-m1 has not raised its hand on this question"],
    )
    driver.fire(cid, "raise_hand", ASKER)
    driver.fire(cid, "raise_hand", COMMITTEE)
    case = driver.fire(cid, "withdraw_hand", ASKER)
    assert case["state"] == "open" and case["data"]["hands"] == ["wannan-r1"]
    # withdrawn, it may raise its hand again
    assert driver.fire(cid, "raise_hand", ASKER)["data"]["hands"] == ["wannan-r1", "wannan-r1-m1"]


def test_select_policy_award(driver):
    cid = published(driver, award_policy="select", max_awardees=2)
    for chief in (ASKER, "ximu-r1-m2.chief", "tianlong-r4.chief"):
        assert driver.fire(cid, "raise_hand", chief)["state"] == "open"
    hands = ["wannan-r1-m1", "ximu-r1-m2", "tianlong-r4"]
    assert driver.get(cid)["data"]["hands"] == hands
    refused(
        driver,
        RoleRefused,
        cid,
        "award",
        COMMITTEE,
        {"award_to": ["wannan-r1-m1"]},
        says=role_refusal_says(
            COMMITTEE, "award", "dept_liaison of police (the case's department)"
        ),
    )
    refused(driver, MissingFields, cid, "award", "police.liaison", says=["must supply award_to"])
    refused(
        driver,
        GuardRefused,
        cid,
        "award",
        "police.liaison",
        {"award_to": ["wannan-r1-m1", "dongan-r3"]},
        says=["only grids that raised their hands can be picked (" + ", ".join(hands) + ")"],
    )
    refused(
        driver,
        GuardRefused,
        cid,
        "award",
        "police.head",
        {"award_to": hands},
        says=["at most 2 grid(s) can be picked"],
    )
    case = driver.fire(cid, "award", "police.head", {"award_to": ["tianlong-r4", "wannan-r1-m1"]})
    assert case["state"] == "awarded"
    assert case["data"]["awardees"] == ["tianlong-r4", "wannan-r1-m1"]
    assert case["data"]["losers"] == ["ximu-r1-m2"]


def test_first_come_questions_are_not_picked(driver):
    cid = published(driver, max_awardees=3)
    driver.fire(cid, "raise_hand", ASKER)
    refused(
        driver,
        GuardRefused,
        cid,
        "award",
        "police.liaison",
        {"award_to": ["wannan-r1-m1"]},
        says=["this question is first-come: hands win in order, no one is picked"],
    )


# ---- the claim window closes (timer) --------------------------------------------------------------------
def close_window(d, clock, cid: int) -> dict:
    clock.now = due(d.get(cid)) + timedelta(minutes=1)
    d.tick()
    step = d.history(cid)[-1]
    assert (step["trigger"], step["actor"]) == ("window_closed", "system")
    return d.get(cid)


def test_window_closes_with_hands_under_select_then_the_department_picks(driver, clock):
    cid = published(driver, award_policy="select")
    driver.fire(cid, "raise_hand", ASKER)
    driver.fire(cid, "raise_hand", "zhenxing-r2-m3.chief")
    case = close_window(driver, clock, cid)
    assert case["state"] == "selecting" and case["sla"]["clock"] == "select"
    refused(
        driver,
        InvalidTrigger,
        cid,
        "raise_hand",
        "ximu-r1.chief",
        says=["cannot 'raise_hand'", "in state 'selecting'"],
    )
    case = driver.fire(cid, "award", "police.liaison", {"award_to": ["zhenxing-r2-m3"]})
    assert case["state"] == "awarded" and case["data"]["losers"] == ["wannan-r1-m1"]


def test_window_closes_first_come_with_fewer_hands_than_places(driver, clock):
    cid = published(driver, max_awardees=3)
    driver.fire(cid, "raise_hand", ASKER)
    driver.fire(cid, "raise_hand", "dongan-r6.chief")
    case = close_window(driver, clock, cid)
    assert case["state"] == "awarded"
    assert case["data"]["awardees"] == ["wannan-r1-m1", "dongan-r6"]


def test_window_closes_with_no_hands_then_the_street_assigns(driver, clock):
    cid = published(driver)
    case = close_window(driver, clock, cid)
    assert case["state"] == "unclaimed" and case["sla"] is None
    refused(
        driver,
        RoleRefused,
        cid,
        "assign",
        ASKER,
        {"award_to": ["wannan-r1-m1"]},
        says=role_refusal_says(ASKER, "assign", "street_head of", "dispatcher of"),
    )
    refused(driver, MissingFields, cid, "assign", DISPATCH, says=["must supply award_to"])
    case = driver.fire(cid, "assign", DISPATCH, {"award_to": ["wannan-r3"]})
    assert case["state"] == "awarded" and case["data"]["awardees"] == ["wannan-r3"]
    assert driver.fire(cid, "submit", "wannan-r3.chief", {"result": "ok"})["state"] == "submitted"


def test_window_closes_with_no_hands_then_republished(driver, clock):
    cid = published(driver)
    close_window(driver, clock, cid)
    refused(
        driver, RoleRefused, cid, "republish", ASKER, says=["street_head of", "dept_liaison of"]
    )
    case = driver.fire(cid, "republish", "police.liaison", {"claim_window": "2wd"})
    assert case["state"] == "open" and case["data"]["hands"] == []
    assert case["sla"]["clock"] == "claim" and due(case) == wd_after(clock.now, "2wd")
    assert driver.fire(cid, "raise_hand", ASKER)["state"] == "awarded"


# ---- solving: submit, send back, accept ------------------------------------------------------------
def test_submit_send_back_submit_accept(driver):
    cid = published(driver)
    driver.fire(cid, "raise_hand", ASKER)
    refused(
        driver,
        RoleRefused,
        cid,
        "submit",
        "wannan-r2.chief",
        {"result": "x"},
        says=role_refusal_says(
            "wannan-r2.chief", "submit", "grid_chief (as awardee) of ['wannan-r1-m1']"
        ),
    )
    refused(driver, RoleRefused, cid, "submit", "police.liaison", {"result": "x"}, says=["awardee"])
    refused(driver, MissingFields, cid, "submit", ASKER, says=["must supply result"])
    case = driver.fire(cid, "submit", ASKER, {"result": "招募志愿者12名"})
    assert case["state"] == "submitted"
    refused(
        driver, MissingFields, cid, "send_back", "police.liaison", says=["a comment is required"]
    )
    refused(
        driver,
        RoleRefused,
        cid,
        "send_back",
        "city_mgmt.liaison",
        comment="x",
        says=["police (the case's department)"],
    )
    case = driver.fire(cid, "send_back", "police.liaison", comment="名单不全")
    assert case["state"] == "awarded" and case["data"]["reworks"] == 1
    # the committee chief above the awarded micro-grid may submit for it
    driver.fire(cid, "submit", COMMITTEE, {"result": "招募志愿者15名，名单附后"})
    refused(
        driver,
        RoleRefused,
        cid,
        "accept",
        "city_mgmt.head",
        says=["police (the case's department)"],
    )
    case = driver.fire(cid, "accept", "police.head")
    assert case["state"] == "completed" and case["closed_at"]
    assert case["data"]["result"] == "招募志愿者15名，名单附后"


# ---- cancel -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at", ["open", "selecting", "unclaimed"])
def test_cancel(driver, clock, at):
    cid = published(driver, award_policy="select")
    if at == "selecting":
        driver.fire(cid, "raise_hand", ASKER)
    if at != "open":
        assert close_window(driver, clock, cid)["state"] == at
    refused(driver, MissingFields, cid, "cancel", "police.liaison", says=["a comment is required"])
    refused(
        driver,
        RoleRefused,
        cid,
        "cancel",
        ASKER,
        comment="x",
        says=role_refusal_says(ASKER, "cancel", "dept_liaison of police", "street_head of"),
    )
    case = driver.fire(
        cid, "cancel", STREET if at == "unclaimed" else "police.head", comment="活动取消"
    )
    assert case["state"] == "cancelled" and case["closed_at"]


def test_no_cancel_once_awarded(driver):
    cid = published(driver)
    driver.fire(cid, "raise_hand", ASKER)
    refused(
        driver, InvalidTrigger, cid, "cancel", "police.liaison", comment="x", says=["'awarded'"]
    )


def test_grid_asks_and_dept_asks_states_do_not_mix(driver):
    cid = published(driver)
    refused(driver, InvalidTrigger, cid, "dispatch", DISPATCH, {"department": "police"})
    gid = raised(driver)
    refused(driver, InvalidTrigger, gid, "raise_hand", ASKER, says=["in state 'raised'"])
    assert datetime.fromisoformat(driver.get(gid)["created_at"]) == T0
