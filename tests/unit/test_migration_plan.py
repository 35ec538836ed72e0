"""The plan of moving one case onto another revision (pure, #16): a pausing state, a state
without a clock, a past rung that never fired (created) or fired (not again), a field whose
declaration changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from migrate_site import PERMIT

from gridflow.domain import sla
from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.duration import Duration
from gridflow.domain.loader import load_text
from gridflow.domain.migration import CasePlan, CaseSnapshot, plan_case

CAL = BusinessCalendar()
T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def compiled(text: str, revision: int):
    wf = load_text(text)
    wf.revision = revision
    return wf


OLD = compiled(PERMIT, 1)
PAUSING = PERMIT.replace(
    "  done: {label",
    "  waiting:\n    label: {zh: 待补, en: Waiting}\n    sla: {clock: review, pause: true}\n"
    "  done: {label",
).replace(
    "  - {trigger: approve,",
    "  - {trigger: hold, source: review, dest: waiting, roles: [clerk]}\n"
    "  - {trigger: resume, source: waiting, dest: review, roles: [clerk]}\n"
    "  - {trigger: approve,",
)


def review_case() -> CaseSnapshot:
    due = CAL.add(T0, Duration.parse("2wd"))
    clock = sla.Clock("review", T0, due.at, due.provisional)
    return CaseSnapshot(1, 1, "review", 2, {"title": "t", "severity": "low"}, None, T0, clock)


def plan(
    case: CaseSnapshot, new, *, now: datetime, fired=(), mapping=None, keep=False, values=None
):
    return plan_case(
        case,
        new,
        OLD,
        mapping=mapping or {},
        values=values or {},
        keep_deadline=keep,
        calendar=CAL,
        now=now,
        pending=["remind:0", "overdue:0"],
        fired=set(fired),
    )


def test_a_pausing_state_pauses_the_clock_as_of_the_entry() -> None:
    new = compiled(PAUSING, 2)
    case = review_case()
    out = plan(case, new, now=T0 + timedelta(days=1), mapping={"review": "waiting"})
    assert isinstance(out, CasePlan)
    assert out.deadline == "paused" and out.clock.paused_at == T0
    assert out.clock.paused_remaining == CAL.working_seconds(T0, case.clock.due_at)
    assert out.created == [] and out.cancelled == ["overdue:0", "remind:0"]


def test_a_state_without_a_clock_drops_it() -> None:
    new = compiled(
        PERMIT.replace(
            "    sla:\n      due: 2wd\n      remind: [50%]\n      overdue:\n        - {after: 0wd}\n",
            "",
        ),
        2,
    )
    out = plan(review_case(), new, now=T0)
    assert isinstance(out, CasePlan)
    assert (out.deadline, out.clock, out.created) == ("none", sla.NO_CLOCK, [])


def test_a_past_rung_is_created_unless_it_already_fired() -> None:
    new = compiled(PERMIT, 2)
    later = T0 + timedelta(days=2)  # past the 50 % reminder
    unfired = plan(review_case(), new, now=later, keep=True)
    fired = plan(review_case(), new, now=later, keep=True, fired={"remind:0"})
    assert isinstance(unfired, CasePlan) and isinstance(fired, CasePlan)
    assert [t.name for t in unfired.created] == ["remind:0", "overdue:0"]
    assert unfired.created[0].due_at < later  # acts at the next tick, late
    assert [t.name for t in fired.created] == ["overdue:0"] and fired.not_refired == ["remind:0"]


def test_a_changed_field_declaration_is_checked_again() -> None:
    new = compiled(
        PERMIT.replace(
            "values: [low, high], default: low", "values: [minor, major], default: minor"
        ),
        2,
    )
    refused = plan(review_case(), new, now=T0)
    assert isinstance(refused, list)
    assert [(r.kind, r.subject) for r in refused] == [("invalid-value", "severity")]
    fixed = plan(review_case(), new, now=T0, values={"severity": "minor"})
    assert isinstance(fixed, CasePlan) and fixed.changed == {"severity": ["low", "minor"]}
