"""SLA timers: ``tick`` claims due timer rows under a lease and acts on them exactly once.

Per case, the case row is locked first, then its due timers are acted on in due order, each
in the same transaction that marks it done — so a crash loses nothing, a second daemon
doubles nothing, and a later rung never overtakes an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gridflow.domain import sla
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.org import SYSTEM
from gridflow.errors import CaseMoved, GridflowError, Refused
from gridflow.service.cases import RETRIES, CaseWriter
from gridflow.service.definitions import Definitions
from gridflow.service.notices import NoticeService
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_of, sla_context, view_of
from gridflow.storage.records import TimerRecord
from gridflow.storage.store import Tx

LEASE = timedelta(seconds=60)


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


class TimerService:
    """Due SLA timers: reminders, overdue rungs, escalations, timed transitions."""

    def __init__(self, rt: Runtime, defs: Definitions, writer: CaseWriter, notices: NoticeService):
        self.rt, self.defs, self.writer, self.notices = rt, defs, writer, notices

    def tick(
        self, now: datetime | None = None, *, batch: int = 200, limit: int | None = None
    ) -> TickResult:
        """Act on every timer due at ``now`` (default: the clock): claim a batch under a
        lease, then act on each in its own transaction together with marking it done."""
        now = now or self.rt.now()
        result = TickResult()
        store = self.rt.store
        while size := batches(limit, batch, result.claimed):
            with store.write() as tx:
                ids = store.timers.claim(
                    tx, now=now, batch=size, owner=self.rt.owner, until=now + LEASE
                )
            if not ids:
                break
            result.claimed += len(ids)
            for timer_id in ids:
                self._act(timer_id, now, result)
        return result

    def _act(self, timer_id: int, now: datetime, result: TickResult) -> None:
        """Act on a claimed timer — and first on any earlier-due timers of the same case, in
        due order, so that after downtime (or across daemons) a later rung never overtakes an
        earlier one. The case row is locked before its timers, the same order everywhere."""
        store = self.rt.store
        current = timer_id
        for _attempt in range(RETRIES):
            fired = late_count = 0
            try:
                with store.write() as tx:
                    head = store.timers.get(tx, timer_id)
                    if head is None or head.status != "pending":
                        result.skipped += 1
                        return
                    store.cases.load(tx, head.case_id, for_update=True)
                    for timer in store.timers.due_of_case(tx, head.case_id, head.due_at):
                        current = timer.id
                        if not store.timers.mark_done(tx, timer.id, now):
                            continue  # cancelled by the action of an earlier rung
                        late = (now - timer.due_at).total_seconds()
                        self._timer_action(tx, timer, now, late if late > 60 else None)
                        fired += 1
                        late_count += late > 60
                result.fired += fired
                result.late += late_count
                if not fired:
                    result.skipped += 1
                return
            except CaseMoved:
                continue
            except GridflowError as exc:
                result.errors.append(f"timer {current}: {exc}")
                self._timer_failed(current, now, str(exc))
                if current == timer_id:
                    return
                current = timer_id  # the failed one is recorded; go on with the rest

    def _timer_failed(self, timer_id: int, now: datetime, message: str) -> None:
        """An action that cannot succeed is recorded on the case, not retried forever."""
        store = self.rt.store
        with store.write() as tx:
            timer = store.timers.get(tx, timer_id)
            if timer is None or not store.timers.mark_done(tx, timer_id, now):
                return
            row = store.cases.load(tx, timer.case_id)
            if row is not None:
                self.writer.note(tx, row, f"sla:{timer.name}:failed", message, now)

    def _timer_action(
        self, tx: Tx, timer: TimerRecord, now: datetime, late_by: float | None
    ) -> None:
        cases = self.rt.store.cases
        row = cases.load(tx, timer.case_id, for_update=True)
        if row is None or row.closed_at is not None:
            return
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
            self.writer.note(
                tx, row, "sla:escalate", f"{timer.name}: escalated to {where}", now, late_by
            )
            row = cases.load(tx, row.id)
            assert row is not None
        if action.get("fire"):
            try:
                self.writer.fire_in(
                    tx,
                    row.id,
                    action["fire"],
                    SYSTEM,
                    {},
                    f"SLA {timer.name}",
                    None,
                    now,
                    late_by=late_by,
                )
            except Refused as exc:
                fresh = cases.load(tx, row.id)
                assert fresh is not None
                self.writer.note(tx, fresh, f"note:{action['fire']}", str(exc), now, late_by)
        elif not action.get("escalate"):
            self.writer.note(
                tx, row, f"sla:{timer.name}", action.get("label") or timer.kind, now, late_by
            )

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
