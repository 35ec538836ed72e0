"""The ``kpis:`` block resolved against its workflow (``gridflow.domain.kpi_plan``), and the
machine's ``max:`` and the SLA's ``pause: [..]`` (issue #15) — pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import gridflow
from gridflow.domain.kpi_plan import describe, generic_figures, headline_text, plan_of
from gridflow.domain.kpi_spec import Figure
from gridflow.domain.loader import load_file, load_text

BUILTIN = Path(gridflow.__file__).parent / "builtin" / "workflows"
HOTLINE = Path(__file__).parents[1] / "data" / "hotline" / "hotline.yaml"

SMALL = """\
id: small
title: Small
roles: {clerk: {}}
fields:
  verdict: {type: enum, values: [good, poor]}
facets: {grade: verdict}
initial: open
states:
  open: {sla: {clock: work, due: 2wd}}
  paused: {sla: {pause: [work]}}
  done: {final: true}
transitions:
  - {trigger: wait, source: open, dest: paused, roles: [clerk]}
  - {trigger: back, source: paused, dest: open, roles: [clerk]}
  - {trigger: bounce, source: open, dest: open, roles: [clerk], max: 2}
  - {trigger: close, source: open, dest: done, roles: [clerk]}
"""


def test_a_workflow_declaring_nothing_gets_the_generic_set():
    wf = load_text(SMALL, "small.yaml")
    (section,) = wf.kpis.sections
    assert (section.id, section.workflow, section.tag, section.scope) == (
        "small",
        "small",
        None,
        "own",
    )
    assert [f.key for f in section.figures] == [
        "opened", "closed", "open_at_end",
        "work_deadlines", "work_on_time", "work_on_time_rate",
        "overdue",
    ]  # fmt: skip
    assert section.label == ("Small", "Small")
    assert wf.kpis.owes is None  # the party owes the next move in every state
    assert wf.kpis.clocks == {"work": (frozenset({"open"}), frozenset({"paused"}))}


def test_marks_and_stages_add_generic_figures():
    text = SMALL + "kpis:\n  returns: [bounce]\n  stages: {waiting: [paused]}\n"
    figures = generic_figures(load_text(text, "small.yaml").definition)
    assert list(figures)[3] == "waiting" and figures["returns"].steps == ["bounce"]
    assert figures["waiting"].cases == "open_at_end" and figures["waiting"].in_ == ["waiting"]


def test_the_built_ins_declare_their_sections():
    four = load_file(BUILTIN / "four_list.yaml").kpis
    hand = load_file(BUILTIN / "raise_hand.yaml").kpis
    assert [s.id for s in four.sections] == ["four_list"]
    assert [(s.id, s.tag, s.scope) for s in hand.sections] == [
        ("grid_asks", "grid_asks", "own"),
        ("dept_asks", "dept_asks", "reach"),
    ]
    on_hold = four.sections[0].figure("on_hold")
    assert on_hold.states == frozenset({"hold_requested", "on_hold", "review"})  # the stage
    answer = hand.sections[0].figure("answers_on_time")
    assert answer.running == frozenset({"dispatched", "signed", "answering"})
    assert answer.pausing == frozenset({"returned", "extension_requested"})
    assert hand.sections[0].grade_labels()["basically_satisfied"] == (
        "基本满意",
        "Basically satisfied",
    )
    assert four.owes == frozenset({"in_progress"})


@pytest.mark.parametrize(
    ("figure", "says"),
    [
        ({"cases": "closed", "in": ["done"]}, "cases closed in the period in done"),
        ({"steps": ["sign"], "within": "1wd"}, "sign steps in the period, taken within 1wd of entering the state left"),
        ({"steps": ["a", "b"], "per": "case"}, "cases with a + b steps in the period"),
        ({"rate": ["x", "y"]}, "x ÷ y"),
        ({"sum": ["x", "y"], "minus": ["z"]}, "x + y − z"),
        ({"deadlines": "answer", "outcome": "missed"}, "open on the answer clock, due in the period, before now"),
    ],
)  # fmt: skip
def test_a_figure_says_how_it_is_counted(figure, says):
    assert describe(Figure.model_validate(figure)) == says


def test_headlines_name_figures():
    shown = headline_text(
        "共{n}件，{{n}}为件数，按时{r}",
        {"n": 3, "r": None},
        lambda k, v: "—" if v is None else str(v),
    )
    assert shown == "共3件，{n}为件数，按时—"


def test_plan_of_the_hotline():
    plan = plan_of(load_file(HOTLINE).definition)
    (section,) = plan.sections
    assert section.headline is not None and "{opened}" in section.headline[0]
    assert plan.owes == frozenset({"dispatched", "handling", "supervised"})


# ---- max: and pause: [..] -------------------------------------------------------------------
def test_a_branch_at_its_max_is_refused_naming_the_limit():
    from gridflow.domain.machine import CaseView
    from gridflow.domain.org import Actor, Directory, Grant
    from gridflow.errors import GuardRefused

    wf = load_text(SMALL, "small.yaml")
    clerk = Actor("c", "C", (Grant("clerk", "u"),))
    case = CaseView(1, "open", 3, {}, None)
    assert wf.decide(case, "bounce", clerk, Directory(), taken={"bounce": 1}).dest == "open"
    with pytest.raises(
        GuardRefused, match=r"at most 2 times per case \(max: 2\), and it has been taken 2"
    ):
        wf.decide(case, "bounce", clerk, Directory(), taken={"bounce": 2})
    assert "bounce" not in wf.allowed_for(case, clerk, Directory(), {"bounce": 2})
    assert "bounce" in wf.allowed_for(case, clerk, Directory())  # count unknown: not judged


def test_a_pausing_state_pauses_whichever_named_clock_runs():
    from gridflow.domain import sla
    from gridflow.domain.calendar import BusinessCalendar

    wf = load_text(SMALL, "small.yaml").definition
    cal = BusinessCalendar()
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    clock, _ = sla.enter("open", wf.states["open"], sla.NO_CLOCK, {}, now, cal)
    paused, timers = sla.enter("paused", wf.states["paused"], clock, {}, now, cal)
    assert paused.paused and timers == []
    other = sla.Clock("other", now, clock.due_at)
    assert sla.enter("paused", wf.states["paused"], other, {}, now, cal)[0] == other  # runs on
