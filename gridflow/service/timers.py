"""SLA timers: ``tick`` acts on due timers exactly once, a batch of cases per transaction.

A batch claims cases with due timers (PostgreSQL: their rows locked, skipping cases another
daemon holds), then acts on each case's due timers in due order, each in a savepoint with
marking it done — so a crash loses nothing (the batch rolls back), a second daemon doubles
nothing (the case lock, and a timer is done only once), and a later rung never overtakes an
earlier one (a case's due timers are acted on together, in order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridflow.domain import sla
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.org import SYSTEM
from gridflow.errors import CaseMoved, GridflowError, Refused
from gridflow.service.cases import RETRIES, BatchWrites, CaseWriter
from gridflow.service.definitions import Definitions
from gridflow.service.notices import Deferred, NoticeService
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_of, sla_context, view_of
from gridflow.storage.records import CaseRecord, TimerRecord
from gridflow.storage.store import Tx


@dataclass
class TickResult:
    """What one ``tick`` did."""

    claimed: int = 0
    fired: int = 0
    late: int = 0  # acted on more than a minute after falling due (downtime)
    skipped: int = 0  # claimed by us but already done / cancelled by the time we looked
    errors: list[str] = field(default_factory=list)


def batches(limit: int | None, batch: int, taken: int) -> int:
    """How many rows the next claim of a pass may take: ``batch``, or what is left of
    ``limit`` after ``taken`` (0: the pass is done). Timers and notices both use it."""
    return batch if limit is None else max(0, min(batch, limit - taken))


class _ActionFailed(Exception):
    """Internal: an action failed on a batch's fast way; the batch is done again carefully."""


class TimerService:
    """Due SLA timers: reminders, overdue rungs, escalations, timed transitions."""

    def __init__(self, rt: Runtime, defs: Definitions, writer: CaseWriter, notices: NoticeService):
        self.rt, self.defs, self.writer, self.notices = rt, defs, writer, notices

    def tick(
        self, now: datetime | None = None, *, batch: int = 200, limit: int | None = None
    ) -> TickResult:
        """Act on every timer due at ``now`` (default: the clock), in batches: one
        transaction claims up to ``batch`` cases with due timers and acts on each case's due
        timers in due order, each in a savepoint together with marking it done (a failing
        one is recorded on its case and the rest commit); each case is loaded once, the
        notices of the batch are inserted at once. A crash rolls a batch back whole; the
        next pass does it again. ``limit``: at most this many cases in the pass."""
        now = now or self.rt.now()
        result = TickResult()
        cases_seen = 0
        while size := batches(limit, batch, cases_seen):
            acted = self._batch(now, size, result)
            if not acted:
                break
            cases_seen += acted
        return result

    def _batch(self, now: datetime, size: int, result: TickResult) -> int:
        """One transaction over up to ``size`` cases; how many cases it took. The fast way
        keeps the writes for the end of the batch (one statement each); when an action
        fails, the batch is rolled back and done again the careful way — a savepoint per
        timer, the failure recorded on its case, the rest committed."""
        careful = False
        for _attempt in range(RETRIES):
            part = TickResult()
            try:
                taken = self._run(now, size, part, careful)
            except _ActionFailed:
                careful = True
                continue
            except CaseMoved:  # a case changed under us (PostgreSQL): the batch again
                continue
            result.claimed += part.claimed
            result.fired += part.fired
            result.late += part.late
            result.skipped += part.skipped
            result.errors += part.errors
            return taken
        raise GridflowError(f"timer batch kept conflicting; gave up after {RETRIES} tries")

    def _run(self, now: datetime, size: int, part: TickResult, careful: bool) -> int:
        store = self.rt.store
        with store.write() as tx, self.notices.deferred(tx) as owed:
            case_ids = store.timers.claim_cases(tx, now=now, batch=size)
            if not case_ids:
                return 0
            loaded = store.cases.load_many(tx, case_ids)
            due = store.timers.due_of_cases(tx, case_ids, now)
            later = None if careful else BatchWrites(now)
            for case_id in case_ids:
                row, moved = loaded.get(case_id), False
                for timer in due.get(case_id, []):
                    part.claimed += 1
                    if later is None:
                        row = self._careful(tx, owed, timer, row, now, part)
                        continue
                    if moved:  # a transition earlier in the batch may have cancelled it
                        if not store.timers.mark_done(tx, timer.id, now):
                            part.skipped += 1
                            continue
                    else:
                        later.timer_done(case_id, timer.id)
                    late = (now - timer.due_at).total_seconds()
                    try:
                        row, fired = self._timer_action(
                            tx, timer, row, now, late if late > 60 else None, later
                        )
                    except CaseMoved:
                        raise
                    except GridflowError as exc:
                        raise _ActionFailed from exc
                    moved = moved or fired
                    part.fired += 1
                    part.late += late > 60
            if later is not None:
                later.flush(tx, store)
            store.outbox.insert(tx, owed.rows)
        return len(case_ids)

    def _careful(
        self,
        tx: Tx,
        owed: Deferred,
        timer: TimerRecord,
        row: CaseRecord | None,
        now: datetime,
        result: TickResult,
    ) -> CaseRecord | None:
        """Mark ``timer`` done and act on it in a savepoint; a failure is recorded on the
        case (not retried forever). The case as it is after."""
        mark = owed.mark()
        try:
            with tx.begin_nested():
                if not self.rt.store.timers.mark_done(tx, timer.id, now):
                    result.skipped += 1  # cancelled by the action of an earlier rung
                    return row
                late = (now - timer.due_at).total_seconds()
                row, _fired = self._timer_action(tx, timer, row, now, late if late > 60 else None)
                result.fired += 1
                result.late += late > 60
                return row
        except GridflowError as exc:
            if isinstance(exc, CaseMoved):
                raise
            owed.drop_since(mark)
            result.errors.append(f"timer {timer.id}: {exc}")
            with tx.begin_nested():  # what cannot succeed is recorded, not retried forever
                self.rt.store.timers.mark_done(tx, timer.id, now)
                fresh = self.rt.store.cases.load(tx, timer.case_id)
                if fresh is None:
                    return None
                return self.writer.note(tx, fresh, f"sla:{timer.name}:failed", str(exc), now)

    def _timer_action(
        self,
        tx: Tx,
        timer: TimerRecord,
        row: CaseRecord | None,
        now: datetime,
        late_by: float | None,
        later: BatchWrites | None = None,
    ) -> tuple[CaseRecord | None, bool]:
        """What the rung says: notify, escalate (a notice and a note), fire a transition,
        or just note it. Returns the case as the action leaves it, and whether a transition
        was fired (it may have cancelled the case's other timers). ``later``: notes are kept
        there; what is kept of the case is written before a transition."""
        if row is None or row.closed_at is not None:
            return row, False
        cases = self.rt.store.cases
        wf = self.defs.workflow(row.workflow_id, row.revision)
        view = view_of(row)
        action: dict[str, Any] = timer.spec or {}
        extra = {
            "sla": sla_context(
                sla.view(clock_of(row), now, self.rt.calendar), tz=self.rt.calendar.tz
            ),
            "notice": {"kind": timer.kind, "label": action.get("label"), "late_by": late_by},
        }
        event = {
            "trigger": f"sla:{timer.name}",
            "actor": SYSTEM,
            "comment": None,
            "from_state": row.state,
            "at": now,
        }
        if action.get("notify"):
            self.notices.notify(
                tx,
                wf,
                view,
                action["notify"],
                action.get("template") or timer.kind,
                SYSTEM,
                row.created_by,
                event,
                now,
                None,
                extra,
            )
        if action.get("escalate"):
            target = (
                self.defs.directory.escalation_target(row.unit, action["escalate"])
                if row.unit
                else None
            )
            to = [f"unit:{target.id}"] if target else []
            self.notices.notify(
                tx, wf, view, to, "escalation", SYSTEM, row.created_by, event, now, None, extra
            )
            where = f"{target.name} ({target.id})" if target else "nobody (no such unit above)"
            note = f"{timer.name}: escalated to {where}"
            row = self.writer.note(tx, row, "sla:escalate", note, now, late_by, later)
        if action.get("fire"):
            if later is not None:
                later.flush_case(tx, self.rt.store, row.id)
            try:
                fired = self.writer.fire_in(
                    tx,
                    row.id,
                    action["fire"],
                    SYSTEM,
                    {},
                    f"SLA {timer.name}",
                    None,
                    now,
                    late_by=late_by,
                    loaded=row,
                )
            except Refused as exc:
                note = str(exc)
                return self.writer.note(
                    tx, row, f"note:{action['fire']}", note, now, late_by, later
                ), False
            return (fired if fired is not None else cases.load(tx, row.id)), True
        if not action.get("escalate"):
            label = action.get("label") or timer.kind
            row = self.writer.note(tx, row, f"sla:{timer.name}", label, now, late_by, later)
        return row, False

    # ---- provisional deadlines -----------------------------------------------------------
    def recompute_provisional(self) -> tuple[int, int]:
        """Recompute open cases' provisional deadlines with the calendar as it is now (after a
        new override file or chinesecalendar release), moving their pending timers too.
        Returns (recomputed, kept): a clock that was paused or extended since it started is
        kept as it is (still marked provisional), as the steps since cannot be replayed."""
        store = self.rt.store
        done = kept = 0
        with store.write() as tx:
            for row in store.cases.open_provisional(tx):
                wf = self.defs.workflow(row.workflow_id, row.revision)
                state = wf.definition.states[row.state]
                moved = (
                    store.cases.steps_since(tx, row.id, row.clock_started_at)
                    if row.clock_started_at is not None
                    else []
                )
                touched = any(_pauses_or_extends(wf, trig, to) for trig, to in moved)
                redone = (
                    None
                    if touched
                    else sla.recompute(
                        row.state,
                        state,
                        clock_of(row),
                        row.data or {},
                        self.rt.calendar,
                        wf.due_expressions.get(row.state),
                    )
                )
                if redone is None:
                    kept += 1
                    continue
                clock, timers = redone
                store.cases.set_columns(
                    tx, row.id, {"due_at": clock.due_at, "due_provisional": clock.provisional}
                )
                for timer in timers:
                    store.timers.reschedule(tx, row.id, timer.name, timer.due_at, timer.provisional)
                done += 1
        return done, kept


def _pauses_or_extends(wf: CompiledWorkflow, trigger: str, to_state: str) -> bool:
    state = wf.definition.states.get(to_state)
    if state is not None and state.sla is not None and state.sla.pause:
        return True
    return any(x.spec.extend_clock for x in wf.transitions if x.trigger == trigger)
