"""The machine, pure: what an event would do, decided without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import transitions
from conftest import DATA

from gridflow.domain.fields import defaults
from gridflow.domain.loader import load_file, load_text
from gridflow.domain.machine import CaseView, CompiledWorkflow
from gridflow.domain.org import SYSTEM, Directory
from gridflow.errors import (
    DefinitionError,
    GuardRefused,
    InvalidTrigger,
    MissingFields,
    RoleRefused,
)

NOW = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def lab() -> CompiledWorkflow:
    return load_file(DATA / "lab.yaml")


@pytest.fixture(scope="module")
def ticket() -> CompiledWorkflow:
    return load_file(DATA / "ticket.yaml")


def view(
    wf: CompiledWorkflow,
    state: str | None = None,
    unit: str | None = "g1",
    case_id: int = 1,
    **data,
) -> CaseView:
    values = defaults(wf.definition.fields) | data
    return CaseView(case_id, state or wf.definition.initial_states[0], 3, values, unit, NOW)


def decide(wf, case, trigger, who, directory: Directory, **kw):
    actor = SYSTEM if who == "system" else directory.people[who]
    return wf.decide(case, trigger, actor, directory, now=NOW, **kw)


# ---- branch selection ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "dest", "index"),
    [
        (12, "high", 0),  # the first branch wins although the second holds too
        (10, "high", 0),
        (7, "mid", 1),
        (5, "mid", 1),
        (0, "low", 2),  # the unguarded last branch catches the rest
    ],
)
def test_first_branch_whose_when_holds_wins_in_file_order(lab, directory, score, dest, index):
    d = decide(lab, view(lab, score=score), "route", "sun.worker", directory)
    assert (d.source, d.dest, d.transition.index, d.role) == ("open", dest, index, "anyone")
    assert d.final is False


def test_lone_guard_that_does_not_hold_is_refused(lab, directory):
    with pytest.raises(GuardRefused) as info:
        decide(lab, view(lab, score=3), "leap", "sun.worker", directory)
    err = info.value
    assert str(err) == (
        "cannot 'leap' case 1 in state 'open': the condition is not met (data.score > 100)"
    )
    assert (err.case_id, err.trigger, err.state, err.guard) == (
        1,
        "leap",
        "open",
        "data.score > 100",
    )


def test_guard_failing_at_runtime_is_a_refusal(lab, directory):
    with pytest.raises(GuardRefused) as info:
        decide(lab, view(lab, score=None), "route", "sun.worker", directory)
    assert info.value.guard == "data.score >= 10"
    assert str(info.value).startswith("cannot 'route' case 1: 'data.score >= 10' failed:")


def test_sandbox_refuses_dunder_walks(directory):
    text = (
        (DATA / "lab.yaml")
        .read_text()
        .replace('when: "data.score > 100"', 'when: "data.score.__class__.__mro__"')
    )
    # written in the file: refused when it is loaded, at the author's first '_' name
    with pytest.raises(DefinitionError) as refused:
        load_text(text, "lab.yaml")
    (problem,) = refused.value.problems
    assert (problem.line, problem.column) == (53, 23)  # the first _ name
    assert "'__class__'" in problem.message
    # reached through data at run time: refused by the sandbox, a refusal of the event
    text = (DATA / "lab.yaml").read_text().replace('"data.score > 100"', '"data.stamp[data.who]"')
    wf = load_text(text, "lab.yaml")
    case = view(wf, stamp="x", who="__class__")
    with pytest.raises(GuardRefused) as info:
        decide(wf, case, "leap", "sun.worker", directory)
    assert "__class__" in str(info.value) and "sandbox" in str(info.value)


def test_ticket_reopen_branches(ticket, directory):
    first = view(ticket, "answered", reopens=0)
    d = decide(ticket, first, "reopen", "li.clerk", directory, comment="not fixed")
    assert (d.dest, d.transition.index, d.data["reopens"]) == ("assigned", 5, 1)
    again = view(ticket, "answered", reopens=1)
    d = decide(ticket, again, "reopen", "li.clerk", directory)
    assert (d.dest, d.transition.index, d.data["reopens"]) == ("escalated", 4, 2)


# ---- roles and scopes ---------------------------------------------------------------------
def test_role_refusal_names_actor_role_unit_and_trigger(ticket, directory):
    case = view(ticket, "assigned", case_id=7, department="police")
    with pytest.raises(RoleRefused) as info:
        decide(ticket, case, "answer", "li.clerk", directory, payload={"answer": "done"})
    err = info.value
    assert str(err) == (
        "李受理 (li.clerk: clerk@fenglin) cannot 'answer' case 7 "
        "(ticket, state 'assigned'): needs handler of police "
        "(the case's department)"
    )
    assert (err.actor, err.needed, err.trigger, err.state, err.case_id) == (
        "li.clerk",
        ["handler"],
        "answer",
        "assigned",
        7,
    )


def test_role_refusal_for_someone_without_roles(lab, directory):
    with pytest.raises(RoleRefused) as info:
        decide(lab, view(lab), "by_chief", "nobody", directory)
    assert str(info.value) == (
        "无名 (nobody: no roles) cannot 'by_chief' case 1 "
        "(lab, state 'open'): needs chief of 第一网格 (g1) or a unit "
        "above it"
    )


@pytest.mark.parametrize(
    ("who", "unit", "ok"),
    [
        ("zhao.area", "g1", True),  # chief of wannan: g1 is below
        ("wang.chief", "g1", True),  # chief of the street: everything below
        ("zhao.area", "wannan", True),  # the unit itself
        ("qian.north", "g1", False),  # chief of wanbei: g1 is elsewhere
        ("zhao.area", "fenglin", False),  # a unit above the holder's is out of scope
        ("qian.north", None, True),  # a case without a unit: any holder
    ],
)
def test_scope_unit(lab, directory, who, unit, ok):
    case = view(lab, unit=unit)
    if ok:
        assert decide(lab, case, "by_chief", who, directory).dest == "done"
    else:
        with pytest.raises(RoleRefused) as info:
            decide(lab, case, "by_chief", who, directory)
        name = directory.units[unit].name
        assert str(info.value).endswith(f"needs chief of {name} ({unit}) or a unit above it")


@pytest.mark.parametrize(
    ("unit", "ok"),
    [
        ("wannan", True),  # grid g1 lies inside the case's area
        ("fenglin", True),
        ("g1", True),
        ("g3", False),
        ("g2", False),
    ],
)
def test_scope_under(lab, directory, unit, ok):
    case = view(lab, unit=unit)
    if ok:
        assert decide(lab, case, "by_grid", "chen.grid", directory).dest == "done"
    else:
        with pytest.raises(RoleRefused) as info:
            decide(lab, case, "by_grid", "chen.grid", directory)
        name = directory.units[unit].name
        assert str(info.value) == (
            f"陈网格 (chen.grid: grid@g1) cannot 'by_grid' case 1 "
            f"(lab, state 'open'): needs grid of a unit within "
            f"{name} ({unit})"
        )


@pytest.mark.parametrize(
    ("who", "dept", "ok"),
    [
        ("cop", "police", True),
        ("fix", "housing", True),
        ("fix", "police", False),
        ("cop", None, False),  # nobody is the liaison of an unset field
    ],
)
def test_scope_field(lab, directory, who, dept, ok):
    case = view(lab, unit="g3", dept=dept)  # the case's own unit does not matter here
    if ok:
        assert decide(lab, case, "by_liaison", who, directory).role == "liaison"
    else:
        with pytest.raises(RoleRefused) as info:
            decide(lab, case, "by_liaison", who, directory)
        assert str(info.value).endswith(f"needs liaison of {dept} (the case's dept)")


def test_scope_field_holding_a_list(lab, directory):
    case = view(lab, depts=["housing", "police"])
    assert decide(lab, case, "by_helper", "cop", directory).role == "helper"
    with pytest.raises(RoleRefused):
        decide(lab, view(lab, depts=["housing"]), "by_helper", "cop", directory)


def test_scope_any(lab, directory):
    # sun.worker holds `anyone` at g3, the case is in g1: scope any ignores units
    for unit in ("g1", "fenglin", None):
        assert (
            decide(lab, view(lab, unit=unit), "by_anyone", "sun.worker", directory).dest == "done"
        )


def test_system_only_transition(lab, directory):
    with pytest.raises(RoleRefused) as info:
        decide(lab, view(lab), "by_system", "wang.chief", directory)
    assert str(info.value).endswith(
        "cannot 'by_system' case 1 (lab, state 'open'): only the system fires it"
    )
    d = decide(lab, view(lab), "by_system", "system", directory)
    assert (d.dest, d.role) == ("done", None)


def test_acting_as_a_role_the_transition_does_not_take(lab, directory):
    case = view(lab, dept="police")
    with pytest.raises(RoleRefused) as info:
        decide(lab, case, "by_liaison", "cop", directory, role="handler")
    assert " acting as handler cannot 'by_liaison'" in str(info.value)
    assert decide(lab, case, "by_liaison", "cop", directory, role="liaison").role == "liaison"


def test_allowed_triggers_are_those_the_actor_holds_a_role_for(lab, ticket, directory):
    assert lab.allowed_for(view(lab), directory.people["sun.worker"], directory) == [
        "route",
        "leap",
        "by_anyone",
        "annotate",
        "justify",
        "grade",
    ]
    assert lab.allowed_for(view(lab), directory.people["nobody"], directory) == []
    assert ticket.allowed_for(
        view(ticket, "answered"), directory.people["li.clerk"], directory
    ) == ["close", "reopen"]


# ---- invalid triggers ---------------------------------------------------------------------
def test_invalid_trigger_lists_allowed_ones_and_suggests(ticket, directory):
    with pytest.raises(InvalidTrigger) as info:
        decide(ticket, view(ticket, "new"), "asign", "li.clerk", directory)
    err = info.value
    assert str(err) == (
        "cannot 'asign' case 1 in state 'new'; allowed here: assign, reject "
        "(did you mean 'assign'?)"
    )
    assert (err.allowed, err.trigger, err.state) == (["assign", "reject"], "asign", "new")


def test_trigger_of_another_state(ticket, directory):
    with pytest.raises(InvalidTrigger) as info:
        decide(ticket, view(ticket, "new"), "close", "li.clerk", directory)
    assert str(info.value) == "cannot 'close' case 1 in state 'new'; allowed here: assign, reject"


def test_an_actor_who_may_do_nothing_is_told_so_not_shown_others_triggers(ticket, directory):
    with pytest.raises(InvalidTrigger) as info:
        decide(ticket, view(ticket, "new"), "close", "cop", directory)
    err = info.value
    assert str(err) == (
        "cannot 'close' case 1 in state 'new'; allowed here: nothing for cop "
        "(other roles may: assign, reject)"
    )
    assert (err.allowed, err.defined) == ([], ["assign", "reject"])


def test_trigger_on_a_final_state(ticket, directory):
    with pytest.raises(InvalidTrigger) as info:
        decide(ticket, view(ticket, "closed"), "reopen", "li.clerk", directory)
    assert str(info.value) == (
        "cannot 'reopen' case 1 in state 'closed'; allowed here: nothing (final state)"
    )
    assert info.value.allowed == []


# ---- payload rules --------------------------------------------------------------------------
def test_requires(ticket, directory):
    for payload in ({}, {"department": None}):
        with pytest.raises(MissingFields) as info:
            decide(ticket, view(ticket, "new"), "assign", "li.clerk", directory, payload=payload)
        assert str(info.value) == "cannot 'assign' case 1: the event must supply department"
        assert info.value.fields == ["department"]
    d = decide(
        ticket,
        view(ticket, "new"),
        "assign",
        "li.clerk",
        directory,
        payload={"department": "police"},
    )
    assert d.payload == {"department": "police"} and d.data["department"] == "police"


def test_requires_checks_unit_references(ticket, directory):
    with pytest.raises(MissingFields) as info:
        decide(
            ticket,
            view(ticket, "new"),
            "assign",
            "li.clerk",
            directory,
            payload={"department": "polise"},
        )
    assert str(info.value) == (
        "cannot 'assign' case 1: department: no unit 'polise' (did you mean 'police'?)"
    )


def test_accepts(lab, directory):
    d = decide(
        lab,
        view(lab),
        "annotate",
        "sun.worker",
        directory,
        payload={"note": "leaking pipe", "urgency": "high"},
    )
    assert d.data["note"] == "leaking pipe" and d.data["urgency"] == "high"
    with pytest.raises(MissingFields) as info:
        decide(
            lab,
            view(lab),
            "annotate",
            "sun.worker",
            directory,
            payload={"note": "x", "urgncy": "high", "score": 3},
        )
    assert str(info.value) == (
        "cannot 'annotate' case 1: 'urgncy' is not accepted by 'annotate' "
        "(did you mean 'urgency'?) (it accepts: note, urgency); "
        "'score' is not accepted by 'annotate' (it accepts: note, urgency)"
    )
    with pytest.raises(MissingFields) as info:
        decide(
            lab,
            view(lab),
            "annotate",
            "sun.worker",
            directory,
            payload={"note": "x", "urgency": "hihg"},
        )
    assert str(info.value) == (
        "cannot 'annotate' case 1: urgency: 'hihg' is not one of low, high (did you mean 'high'?)"
    )


def test_comment_required(lab, directory):
    for comment in (None, "", "   "):
        with pytest.raises(MissingFields) as info:
            decide(lab, view(lab), "justify", "sun.worker", directory, comment=comment)
        assert str(info.value) == "cannot 'justify' case 1: a comment is required"
        assert info.value.fields == ["comment"]
    assert (
        decide(lab, view(lab), "justify", "sun.worker", directory, comment="because").dest == "open"
    )


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (70, "cannot 'grade' case 1: score 70 is above the cap of 50"),
        (-1, "cannot 'grade' case 1: a score cannot be negative"),
    ],
)
def test_checks_refuse_with_their_message(lab, directory, score, message):
    with pytest.raises(GuardRefused) as info:
        decide(lab, view(lab), "grade", "sun.worker", directory, payload={"score": score})
    assert str(info.value) == message


def test_ticket_check_wants_a_comment(ticket, directory):
    with pytest.raises(GuardRefused) as info:
        decide(ticket, view(ticket, "answered", reopens=0), "reopen", "li.clerk", directory)
    assert str(info.value) == "cannot 'reopen' case 1: say why the answer is not good enough"


def test_set_expressions(lab, directory):
    case = view(lab, score=1, subject="pipes")
    d = decide(lab, case, "grade", "sun.worker", directory, payload={"score": 7})
    assert d.data == case.data | {
        "score": 7,  # the payload lands first, so `set` sees it
        "doubled": 14,  # a native value: an int, not the text "14"
        "stamp": "graded by 孙 in state open",  # text rendered from a template
        "who": "sun.worker",
        "urgency": "high",  # a literal
        "graded_at": NOW.isoformat(),  # `now` as the field type wants it
    }
    assert d.payload == {"score": 7}
    assert case.data["score"] == 1 and case.data["doubled"] is None  # the view is untouched


def test_set_entries_apply_in_order_each_seeing_the_ones_above(directory):
    text = (DATA / "lab.yaml").read_text()
    old = '      doubled: "{{ data.score * 2 }}"\n'
    assert old in text
    text = text.replace(old, old + '      score: "{{ data.doubled + 1 }}"\n')
    wf = load_text(text, "lab.yaml")
    d = decide(wf, view(wf, score=1), "grade", "sun.worker", directory, payload={"score": 7})
    assert (d.data["doubled"], d.data["score"]) == (14, 15)  # score sees the new doubled


# ---- the transitions machine ----------------------------------------------------------------
def test_one_machine_per_workflow_and_no_model_attached(lab, ticket, directory):
    machine = lab.machine
    assert isinstance(machine, transitions.Machine)
    assert machine.models == []
    for score in (0, 6, 11):
        decide(lab, view(lab, score=score), "route", "sun.worker", directory)
    decide(lab, view(lab), "grade", "sun.worker", directory, payload={"score": 2})
    with pytest.raises(GuardRefused):
        decide(lab, view(lab), "leap", "sun.worker", directory)
    decide(
        ticket,
        view(ticket, "new"),
        "assign",
        "li.clerk",
        directory,
        payload={"department": "police"},
    )
    assert lab.machine is machine
    assert lab.machine.models == [] and ticket.machine.models == []
    assert machine is not ticket.machine
    assert set(machine.states) == set(lab.definition.states)
