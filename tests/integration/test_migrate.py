"""Moving open cases onto a new workflow revision (#16): renamed and split states, a
deadline kept or recomputed, a new required field, refused plans, a fire between plan and
apply, reruns — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from migrate_site import LONGER, PERMIT, RENAMED, REQUIRED, SPLIT, open_permits, write

from gridflow.errors import ExpressionError, MigrationRefused
from gridflow.storage import tables as t


@pytest.fixture
def site(tmp_path, make_engine, db_url):
    """An engine on revision 1 of ``permit``; ``site.revise(text)`` stores revision 2."""

    class Site:
        engine = make_engine(db_url, write(tmp_path / "v1", PERMIT))

        def revise(self, text: str, folder: str = "v2") -> int:
            wf = self.engine.load_workflows(write(tmp_path / folder, text))["permit"]
            return wf.revision

    return Site()


def migrate_rows(engine, case_id: int) -> list:
    return [s for s in engine.history(case_id) if s.trigger == "migrate"]


def timers(engine, case_id: int, status: str = "pending") -> dict[str, object]:
    tm = t.timer_t
    with engine.store.read() as tx:
        rows = tx.execute(
            sa.select(tm.c.name, tm.c.due_at).where(tm.c.case_id == case_id, tm.c.status == status)
        )
        return {r.name: r.due_at for r in rows}


def snapshot(engine) -> tuple:
    """Everything a migration writes, to show a refused one wrote nothing."""
    with engine.store.read() as tx:
        return tuple(
            sorted(map(tuple, tx.execute(sa.select(table))), key=repr)
            for table in (t.case_t, t.history_t, t.timer_t, t.event_t)
        )


def test_renamed_state_moves_with_a_map_one_history_row_each(site) -> None:
    e = site.engine
    ids = open_permits(e, 3, submit=2)
    assert site.revise(RENAMED) == 2
    before = snapshot(e)
    with pytest.raises(MigrationRefused) as refused:
        e.migrate("permit", to=2, actor="li.clerk", apply=True)
    (problem,) = refused.value.problems
    assert (problem["kind"], problem["subject"], problem["count"]) == (
        "unmapped-state",
        "review",
        2,
    )
    assert "nothing changed" in str(refused.value) and snapshot(e) == before

    plan = e.migrate("permit", to=2, actor="li.clerk", mapping={"review": "checking"})
    assert not plan.applied and snapshot(e) == before  # a dry run changes nothing
    assert plan.summary()["states"] == {"review → checking": 2, "new → new": 1}
    assert {c.deadline for c in plan.cases if c.to_state == "checking"} == {"recomputed"}

    done = e.migrate("permit", to=2, actor="wang.chief", mapping={"review": "checking"}, apply=True)
    assert done.migrated == 3 and not done.skipped
    for case_id, state in zip(ids, ["checking", "checking", "new"], strict=True):
        case = e.get(case_id)
        assert (case.revision, case.state) == (2, state)
        (row,) = migrate_rows(e, case_id)
        assert row.actor == "wang.chief" and row.comment == "revision 1 → 2"
        assert row.payload["revision"] == [1, 2] and row.seq == case.version
    with e.store.read() as tx:  # every step is an event of the change feed
        ev = t.event_t
        seqs = tx.execute(sa.select(ev.c.seq).where(ev.c.case_id == ids[0])).scalars().all()
    assert sorted(seqs) == [1, 2, 3]
    # the case lives on in revision 2: its transitions, its clock
    assert set(timers(e, ids[0])) == {"remind:0", "overdue:0"}
    assert e.fire(ids[0], "approve", actor="li.clerk").state == "done"

    again = e.migrate("permit", to=2, actor="li.clerk", mapping={"review": "checking"}, apply=True)
    assert (again.considered, again.migrated) == (0, 0)
    assert all(len(migrate_rows(e, i)) == 1 for i in ids)


def test_split_state_one_where_per_part(site) -> None:
    e = site.engine
    low = open_permits(e, 2, submit=2, severity="low")
    high = open_permits(e, 1, submit=1, severity="high")
    site.revise(SPLIT)
    with pytest.raises(MigrationRefused) as failing:  # a --where that fails on a case
        e.migrate("permit", to=2, actor="li.clerk", where="data.nosuch > 1")
    assert failing.value.problems[0]["kind"] == "where-failed"
    with pytest.raises(ExpressionError, match="where"):
        e.migrate("permit", to=2, actor="li.clerk", where="data.(")

    first = e.migrate(
        "permit",
        to=2,
        actor="li.clerk",
        mapping={"review": "review_minor"},
        where="data.severity == 'low'",
        apply=True,
    )
    assert (first.migrated, first.not_matching) == (2, 1)
    # the rest would be refused without its own map: only the high one is left
    with pytest.raises(MigrationRefused, match="review"):
        e.migrate("permit", to=2, actor="li.clerk")
    second = e.migrate(
        "permit",
        to=2,
        actor="li.clerk",
        mapping={"review": "review_major"},
        where="case.state == 'review' and data.severity == 'high'",
        apply=True,
    )
    assert second.migrated == 1
    assert [e.get(i).state for i in low + high] == ["review_minor"] * 2 + ["review_major"]
    assert set(timers(e, low[0])) == set()  # review_minor: a due time, no ladder
    assert e.get(low[0]).sla is not None
    assert set(timers(e, high[0])) == {"remind:0", "overdue:0"}  # review's ladder
    assert all(len(migrate_rows(e, i)) == 1 for i in low + high)


def test_deadline_kept_or_recomputed_and_a_fired_reminder_not_fired_again(site, clock) -> None:
    e = site.engine
    kept_id, redone_id = open_permits(e, 2, submit=2)
    old_due = e.get(kept_id).sla.due
    clock.advance(days=2)  # Wednesday 10:00: past the 50 % reminder, before the deadline
    e.tick()
    fired = [s.trigger for s in e.history(kept_id) if s.trigger.startswith("sla:")]
    assert fired == ["sla:remind:0"]
    site.revise(LONGER)

    kept = e.migrate(
        "permit", to=2, actor="li.clerk", where=f"case.id == {kept_id}", keep_deadline=True
    )
    (plan,) = kept.cases
    assert plan.deadline == "kept" and plan.due_after == old_due
    assert plan.not_refired == ["remind:0"]  # past, already fired: not again
    assert [tm.name for tm in plan.created] == ["overdue:0"]
    e.migrate(
        "permit",
        to=2,
        actor="li.clerk",
        where=f"case.id == {kept_id}",
        keep_deadline=True,
        apply=True,
    )
    assert e.get(kept_id).sla.due == old_due
    assert timers(e, kept_id) == {"overdue:0": old_due}

    redone = e.migrate("permit", to=2, actor="li.clerk", apply=True)
    (plan,) = redone.cases
    assert plan.deadline == "recomputed" and plan.case_id == redone_id
    new_due = e.get(redone_id).sla.due
    assert new_due - old_due >= timedelta(days=3)  # 5 working days from the state's entry
    pending = timers(e, redone_id)
    assert set(pending) == {"remind:0", "overdue:0"} and pending["remind:0"] > clock()
    assert set(timers(e, redone_id, "cancelled")) == {"overdue:0"}  # remind:0 had fired

    e.tick()  # nothing is due again right after the move
    for case_id in (kept_id, redone_id):
        notes = [s.trigger for s in e.history(case_id) if s.trigger.startswith("sla:")]
        assert notes == ["sla:remind:0"]
    clock.now = old_due + timedelta(minutes=1)
    e.tick()
    assert [s.trigger for s in e.history(kept_id)][-1] == "sla:overdue:0"
    assert not [s for s in e.history(redone_id) if s.trigger == "sla:overdue:0"]


def test_a_new_required_field_takes_its_default_or_a_set_value(site) -> None:
    e = site.engine
    ids = open_permits(e, 2, submit=1, legacy="old note")
    site.revise(REQUIRED)
    with pytest.raises(MigrationRefused) as refused:
        e.migrate("permit", to=2, actor="li.clerk")
    (problem,) = refused.value.problems  # priority has a default; owner has none
    assert (problem["kind"], problem["subject"], problem["count"]) == ("required-field", "owner", 2)
    assert "--set owner=VALUE" in problem["message"]

    done = e.migrate("permit", to=2, actor="li.clerk", values={"owner": "li"}, apply=True)
    assert done.migrated == 2
    plan = done.cases[0]
    assert plan.added == {"priority": "normal", "owner": "li"}
    assert plan.dropped == {"legacy": "old note"}
    for case_id in ids:
        data = e.get(case_id).data
        assert data["priority"] == "normal" and data["owner"] == "li" and "legacy" not in data
        assert migrate_rows(e, case_id)[0].payload["dropped"] == {"legacy": "old note"}


def test_a_refused_plan_lists_every_reason_and_changes_nothing(site) -> None:
    e = site.engine
    open_permits(e, 3, submit=2)
    site.revise(REQUIRED.replace("review", "checking"))
    before = snapshot(e)
    with pytest.raises(MigrationRefused) as refused:
        e.migrate(
            "permit",
            to=2,
            actor="li.clerk",
            mapping={"new": "nowhere", "checking": "done"},
            values={"colour": "red", "priority": "whenever"},
            apply=True,
        )
    kinds = {(p["kind"], p["subject"]) for p in refused.value.problems}
    assert {
        ("unknown-target", "nowhere"),
        ("final-target", "done"),
        ("unknown-field", "colour"),
        ("invalid-value", "priority"),
        ("unmapped-state", "review"),
        ("required-field", "owner"),
    } <= kinds
    assert snapshot(e) == before


def test_a_case_fired_after_the_plan_is_moved_as_the_fire_left_it(site) -> None:
    e = site.engine
    first, second = open_permits(e, 2)
    site.revise(RENAMED)
    plan = e.migrate("permit", to=2, actor="li.clerk", mapping={"review": "checking"})
    assert [c.to_state for c in plan.cases] == ["new", "new"]

    def fire_between(done: int, total: int) -> None:
        if done == 1:  # the first batch committed: the second case moves on meanwhile
            e.fire(second, "submit", actor="li.clerk")

    done = e.migrate(
        "permit",
        to=2,
        actor="li.clerk",
        mapping={"review": "checking"},
        apply=True,
        batch=1,
        progress=fire_between,
    )
    assert done.migrated == 2 and done.batches == 2
    assert e.get(second).state == "checking"
    (row,) = migrate_rows(e, second)
    assert (row.from_state, row.to_state, row.seq) == ("review", "checking", 3)
    assert e.get(first).state == "new"


def test_revisions_lists_open_cases_per_revision(site) -> None:
    e = site.engine
    open_permits(e, 2)
    site.revise(RENAMED)
    rows = [(r["revision"], r["open"], r["current"]) for r in e.revisions("permit")]
    assert rows == [(1, 2, False), (2, 0, True)]


def test_a_move_settles_no_deadline_in_the_reports(site, clock) -> None:
    """A case moved out of a timed state (here into one without a clock) has not met that
    deadline: the reports count only the steps of the process."""
    from gridflow.domain.period import Period

    e = site.engine
    moved, approved = open_permits(e, 2, submit=2)
    site.revise(LONGER)
    e.migrate(
        "permit",
        to=2,
        actor="li.clerk",
        mapping={"review": "new"},
        where=f"case.id == {moved}",
        apply=True,
    )
    assert e.get(moved).state == "new"
    clock.advance(days=10)
    e.fire(approved, "approve", actor="li.clerk")  # late: 2 working days were due
    figures = e.kpis(period=Period.parse(str(clock().year)))["sections"]["permit"]["figures"]
    assert (figures["review_deadlines"], figures["review_on_time"]) == (1, 0)
