"""The Engine facade: start / fire / get / history / find / available_triggers, on SQLite
and PostgreSQL, with an injected clock."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import T0

from gridflow.errors import (
    Conflict,
    GuardRefused,
    InvalidTrigger,
    MissingFields,
    NotFound,
    Refused,
    RoleRefused,
)

pytestmark = pytest.mark.usefixtures("any_engine")


@pytest.fixture
def engine(any_engine):
    return any_engine


def snapshot(engine, case_id: int):
    return engine.get(case_id).to_dict(), [s.to_dict() for s in engine.history(case_id)]


def test_start(engine):
    case = engine.start(
        "ticket",
        actor="li.clerk",
        data={"title": "楼道堆物", "tags": "a, b"},
        unit="g1",
        comment="by phone",
    )
    assert (case.workflow, case.revision, case.state, case.version) == ("ticket", 1, "new", 1)
    assert case.title == "楼道堆物" and case.state_label == "新建"
    assert case.data == {
        "title": "楼道堆物",
        "category": "noise",
        "department": None,
        "answer": None,
        "reopens": 0,
        "tags": ["a", "b"],
    }
    assert (case.unit, case.created_by, case.parent_id) == ("g1", "li.clerk", None)
    assert case.created_at == case.updated_at == T0 and case.closed_at is None
    (step,) = engine.history(case.id)
    assert (step.seq, step.trigger, step.from_state, step.to_state, step.actor) == (
        1,
        "start",
        None,
        "new",
        "li.clerk",
    )
    assert step.comment == "by phone" and step.at == T0
    json.dumps(case.to_dict())  # JSON-ready


def test_start_defaults_the_unit_to_the_actors(engine):
    assert engine.start("ticket", actor="zhao.area", data={"title": "x"}).unit == "wannan"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "cannot start ticket: required: title"),
        (
            {"title": "x", "titel": "y"},
            "cannot start ticket: ticket has no field 'titel' (did you mean 'title'?)",
        ),
        (
            {"title": "x", "category": "nosie"},
            "cannot start ticket: category: 'nosie' is not one of "
            "noise, litter, repair (did you mean 'noise'?)",
        ),
        (
            {"title": "x", "reopens": "many"},
            "cannot start ticket: reopens: 'many' is not a valid int",
        ),
    ],
)
def test_start_refuses_bad_data(engine, data, message):
    with pytest.raises(MissingFields) as info:
        engine.start("ticket", actor="li.clerk", data=data, unit="g1")
    assert str(info.value) == message
    assert engine.find() == []


def test_not_found(engine):
    with pytest.raises(NotFound) as info:
        engine.start("tickt", actor="li.clerk", data={"title": "x"})
    assert str(info.value) == "no workflow 'tickt' (did you mean 'ticket'?)"
    with pytest.raises(NotFound) as info:
        engine.start("ticket", actor="li.clrk", data={"title": "x"})
    assert str(info.value) == "no person 'li.clrk' (did you mean 'li.clerk'?)"
    with pytest.raises(NotFound) as info:
        engine.start("ticket", actor="li.clerk", data={"title": "x"}, unit="g4")
    assert str(info.value).startswith("no unit 'g4'")
    for call in (
        lambda: engine.get(404),
        lambda: engine.history(404),
        lambda: engine.fire(404, "assign", actor="li.clerk"),
        lambda: engine.available_triggers(404, "li.clerk"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert str(info.value) == "no case 404"
        assert (info.value.kind, info.value.key) == ("case", 404)
    assert engine.find() == []


def test_fire_walks_a_case_to_the_end_on_the_injected_clock(engine, clock):
    case = engine.start("ticket", actor="li.clerk", data={"title": "漏水"}, unit="g1")
    walk = [
        ("assign", "li.clerk", {"department": "police"}, None, "assigned"),
        ("answer", "cop", {"answer": "fixed"}, None, "answered"),
        ("reopen", "li.clerk", None, "still leaking", "assigned"),
        ("answer", "cop", {"answer": "fixed, really"}, None, "answered"),
        ("reopen", "li.clerk", None, None, "escalated"),  # the second reopen escalates
        ("close", "wang.chief", None, "done", "closed"),
    ]
    times = [T0]
    for trigger, who, data, comment, state in walk:
        times.append(clock.advance(hours=3, minutes=7))
        case = engine.fire(case.id, trigger, actor=who, data=data, comment=comment)
        assert (case.state, case.version, case.updated_at) == (state, len(times), times[-1])
    assert case.closed and case.closed_at == times[-1]
    assert case.created_at == T0
    assert case.data["reopens"] == 2 and case.data["answer"] == "fixed, really"
    steps = engine.history(case.id)
    assert [s.at for s in steps] == times
    assert [(s.trigger, s.actor, s.role) for s in steps[1:]] == [
        (trig, who, role)
        for (trig, who, *_), role in zip(
            walk, ["clerk", "handler", "clerk", "handler", "clerk", "chief"], strict=True
        )
    ]
    assert steps[3].comment == "still leaking" and steps[1].payload == {"department": "police"}
    chain = [(s.from_state, s.to_state) for s in steps]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chain))
    assert engine.available_triggers(case.id, "wang.chief") == []


def test_a_naive_clock_is_taken_as_utc(make_engine, db_url):
    naive = datetime(2025, 5, 6, 7, 8, 9)
    engine = make_engine(db_url, clock=lambda: naive)
    case = engine.start("counter", actor="sun.worker")
    assert case.created_at == naive.replace(tzinfo=UTC)
    assert engine.history(case.id)[0].at == naive.replace(tzinfo=UTC)


def test_available_triggers(engine):
    case = engine.start("ticket", actor="li.clerk", data={"title": "x"}, unit="g1")
    assert engine.available_triggers(case.id, "li.clerk") == ["assign", "reject"]
    assert engine.available_triggers(case.id, "cop") == []
    from gridflow.domain.org import SYSTEM

    with pytest.raises(RoleRefused, match="cannot act as the system"):  # only the engine does
        engine.available_triggers(case.id, SYSTEM)
    with pytest.raises(RoleRefused, match="the system is the engine itself"):
        engine.fire(case.id, "assign", actor="system", data={"department": "police"})
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    assert engine.available_triggers(case.id, "cop") == ["answer"]
    assert engine.available_triggers(case.id, "fix") == []  # handler, but not of police


def test_find(engine, clock):
    a = engine.start("ticket", actor="li.clerk", data={"title": "pipe"}, unit="g1")
    clock.advance(minutes=1)
    b = engine.start("ticket", actor="li.clerk", data={"title": "noise"}, unit="g3")
    clock.advance(minutes=1)
    c = engine.start("counter", actor="sun.worker", unit="wannan")
    engine.fire(b.id, "reject", actor="li.clerk", comment="dup")
    assert [x.id for x in engine.find()] == [c.id, b.id, a.id]
    assert [x.id for x in engine.find(unit="wannan")] == [c.id, a.id]
    assert [x.id for x in engine.find(workflow="ticket", open_only=True)] == [a.id]
    assert [x.id for x in engine.find(state="rejected")] == [b.id]
    assert [x.id for x in engine.find(text="pipe")] == [a.id]
    assert engine.find(workflow="ticket")[0].state_label == "不予受理"


def test_expected_version(engine):
    case = engine.start("counter", actor="sun.worker")
    moved = engine.fire(case.id, "bump", actor="sun.worker", expected_version=1)
    assert moved.version == 2
    before = snapshot(engine, case.id)
    with pytest.raises(Conflict) as info:
        engine.fire(case.id, "bump", actor="sun.worker", expected_version=1)
    err = info.value
    assert (err.case_id, err.expected, err.actual) == (case.id, 1, 2)
    assert str(err) == (
        f"case {case.id} is at version 2, not 1: someone else moved it first; reload and try again"
    )
    assert snapshot(engine, case.id) == before
    assert engine.fire(case.id, "bump", actor="sun.worker", expected_version=2).version == 3


REFUSALS = [
    # (trigger, actor, data, comment, error class, message start)
    (
        "asign",
        "li.clerk",
        {"department": "police"},
        None,
        InvalidTrigger,
        "cannot 'asign' case {id} in state 'new'; allowed here: assign, reject "
        "(did you mean 'assign'?)",
    ),
    (
        "close",
        "wang.chief",
        None,
        None,
        InvalidTrigger,
        "cannot 'close' case {id} in state 'new'; allowed here: nothing for wang.chief "
        "(other roles may: assign, reject)",
    ),
    (
        "assign",
        "cop",
        {"department": "police"},
        None,
        RoleRefused,
        "派出所联络员 (cop: handler@police, liaison@police, helper@police) cannot 'assign' case "
        "{id} (ticket, state 'new'): needs clerk of 第一网格 (g1) or a unit above it",
    ),
    (
        "assign",
        "li.clerk",
        None,
        None,
        MissingFields,
        "cannot 'assign' case {id}: the event must supply department",
    ),
    (
        "assign",
        "li.clerk",
        {"department": "police", "answer": "x"},
        None,
        MissingFields,
        "cannot 'assign' case {id}: 'answer' is not accepted by 'assign' (it accepts: department)",
    ),
    (
        "reject",
        "li.clerk",
        None,
        "  ",
        MissingFields,
        "cannot 'reject' case {id}: a comment is required",
    ),
]


@pytest.mark.parametrize(
    ("trigger", "who", "data", "comment", "error", "message"),
    REFUSALS,
    ids=[f"{r[0]}-{r[4].__name__}" for r in REFUSALS],
)
def test_refusals_leave_the_case_and_history_untouched(
    engine, clock, trigger, who, data, comment, error, message
):
    case = engine.start("ticket", actor="li.clerk", data={"title": "x"}, unit="g1")
    before = snapshot(engine, case.id)
    clock.advance(hours=1)
    with pytest.raises(error) as info:
        engine.fire(case.id, trigger, actor=who, data=data, comment=comment)
    assert isinstance(info.value, Refused)
    assert str(info.value) == message.format(id=case.id)
    assert (info.value.case_id, info.value.trigger) == (case.id, trigger)
    assert snapshot(engine, case.id) == before


def test_failed_check_and_guard_leave_the_case_untouched(engine):
    case = engine.start("ticket", actor="li.clerk", data={"title": "x"}, unit="g1")
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    engine.fire(case.id, "answer", actor="cop", data={"answer": "ok"})
    before = snapshot(engine, case.id)
    with pytest.raises(GuardRefused) as info:
        engine.fire(case.id, "reopen", actor="li.clerk")
    assert str(info.value) == (
        f"cannot 'reopen' case {case.id}: say why the answer is not good enough"
    )
    assert snapshot(engine, case.id) == before


def test_start_roles(engine):
    with pytest.raises(RoleRefused) as info:
        engine.start("lab", actor="nobody")
    assert str(info.value) == "无名 (nobody: no roles) cannot start lab: needs chief or anyone"
    with pytest.raises(RoleRefused) as info:
        engine.start("lab", actor="zhao.area", unit="g3")  # chief of wannan, g3 is in wanbei
    assert str(info.value) == (
        "赵片长 (zhao.area: chief@wannan) cannot start lab for unit g3: needs chief or anyone"
    )
    assert engine.find() == []
    assert engine.start("lab", actor="zhao.area", unit="g1").unit == "g1"
    assert engine.start("lab", actor="zhao.area").unit == "wannan"


def test_a_refused_start_writes_nothing(engine):
    with pytest.raises(RoleRefused):
        engine.start("lab", actor="chen.grid", data={"subject": "x"})
    with pytest.raises(MissingFields):
        engine.start("ticket", actor="li.clerk", data={"category": "noise"})
    assert engine.find() == []


def test_engine_machines_carry_no_models(engine):
    case = engine.start("counter", actor="sun.worker")
    for trigger in ("bump", "flip", "bump", "flip", "finish"):
        engine.fire(case.id, trigger, actor="sun.worker")
    wf = engine.workflow("counter")
    assert wf.machine.models == []
    assert engine.workflow("counter", 1) is wf  # one compiled workflow per revision
    final = engine.get(case.id)
    assert (final.state, final.data, final.closed) == ("done", {"count": 4, "flips": 2}, True)


def test_case_times_follow_the_clock_not_the_wall(engine, clock):
    clock.now = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    case = engine.start("counter", actor="sun.worker")
    clock.advance(days=400)
    case = engine.fire(case.id, "bump", actor="sun.worker")
    steps = engine.history(case.id)
    assert steps[0].at == datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert steps[1].at == steps[0].at + timedelta(days=400) == case.updated_at
