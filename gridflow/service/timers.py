"""SLA timers: ``tick`` claims due timer rows under a lease and acts on them exactly once.

A mixin of ``Engine``. Per case, the case row is locked first, then its due timers are acted
on in due order, each in the same transaction that marks it done — so a crash loses nothing,
a second daemon doubles nothing, and a later rung never overtakes an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from gridflow.domain import sla
from gridflow.domain.org import SYSTEM
from gridflow.errors import CaseMoved, GridflowError, Refused
from gridflow.service.rows import clock_of, sla_context, view_of
from gridflow.storage import tables as t
from gridflow.storage.store import (
    CLAIM_TIMERS,
    CLAIM_TIMERS_SKIP_LOCKED,
    DUE_OF_CASE,
    DUE_OF_CASE_LOCKED,
    LEASE_TIMERS,
    TIMER_DONE,
    TIMER_HEAD,
)

LEASE = timedelta(seconds=60)
RETRIES = 20


@dataclass
class TickResult:
    """What one ``tick`` did."""

    claimed: int = 0
    fired: int = 0
    late: int = 0  # acted on more than a minute after falling due (downtime)
    skipped: int = 0  # claimed by us but already done / cancelled by the time we looked
    errors: list[str] = field(default_factory=list)


class TimersMixin:
    def tick(
        self, now: datetime | None = None, *, batch: int = 200, limit: int | None = None
    ) -> TickResult:
        """Act on every timer due at ``now`` (default: the clock): claim a batch under a
        lease, then act on each in its own transaction together with marking it done."""
        now = now or self.now()
        result = TickResult()
        while limit is None or result.claimed < limit:
            ids = self._claim(now, batch if limit is None else min(batch, limit - result.claimed))
            if not ids:
                break
            result.claimed += len(ids)
            for timer_id in ids:
                self._act(timer_id, now, result)
        return result

    def _claim(self, now: datetime, batch: int) -> list[int]:
        q = CLAIM_TIMERS if self.store.is_sqlite else CLAIM_TIMERS_SKIP_LOCKED
        with self.store.write() as conn:
            ids = [r[0] for r in conn.execute(q, {"b_now": now, "b_batch": batch})]
            if ids:
                conn.execute(
                    LEASE_TIMERS, {"b_ids": ids, "b_owner": self.owner, "b_until": now + LEASE}
                )
        return ids

    def _act(self, timer_id: int, now: datetime, result: TickResult) -> None:
        """Act on a claimed timer — and first on any earlier-due timers of the same case, in
        due order, so that after downtime (or across daemons) a later rung never overtakes an
        earlier one. The case row is locked before its timers, the same order everywhere."""
        current = timer_id
        due_of_case = DUE_OF_CASE if self.store.is_sqlite else DUE_OF_CASE_LOCKED
        for _attempt in range(RETRIES):
            fired = late_count = 0
            try:
                with self.store.write() as conn:
                    head = conn.execute(TIMER_HEAD, {"b_id": timer_id}).first()
                    if head is None or head.status != "pending":
                        result.skipped += 1
                        return
                    self.store.load_case(conn, head.case_id, for_update=True)
                    due = {"b_case_id": head.case_id, "b_due": head.due_at}
                    for timer in list(conn.execute(due_of_case, due)):
                        current = timer.id
                        done = conn.execute(TIMER_DONE, {"b_id": timer.id, "b_at": now})
                        if done.rowcount != 1:
                            continue  # cancelled by the action of an earlier rung
                        late = (now - timer.due_at).total_seconds()
                        self._timer_action(conn, timer, now, late if late > 60 else None)
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
        tm = t.timer_t
        with self.store.write() as conn:
            timer = conn.execute(sa.select(tm).where(tm.c.id == timer_id)).one()
            if timer.status != "pending":
                return
            conn.execute(tm.update().where(tm.c.id == timer_id).values(status="done", done_at=now))
            row = self.store.load_case(conn, timer.case_id)
            if row is not None:
                self._note(conn, row, f"sla:{timer.name}:failed", message, now)

    def _timer_action(self, conn, timer, now: datetime, late_by: float | None) -> None:
        row = self.store.load_case(conn, timer.case_id, for_update=True)
        if row is None or row.closed_at is not None:
            return
        wf = self.workflow(row.workflow_id, row.revision)
        view = view_of(row)
        action = timer.spec or {}
        sla_ctx = sla_context(sla.view(clock_of(row), now, self.calendar))
        extra = {
            "sla": sla_ctx,
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
            self._notify(
                conn,
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
                self.directory.escalation_target(row.unit, action["escalate"]) if row.unit else None
            )
            to = [f"unit:{target.id}"] if target else []
            self._notify(
                conn, wf, view, to, "escalation", SYSTEM, row.created_by, event, now, None, extra
            )
            where = f"{target.name} ({target.id})" if target else "nobody (no such unit above)"
            note = f"{timer.name}: escalated to {where}"
            self._note(conn, row, "sla:escalate", note, now, late_by)
            row = self.store.load_case(conn, row.id)
        if action.get("fire"):
            try:
                self._fire_in(
                    conn,
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
                self._note(
                    conn,
                    self.store.load_case(conn, row.id),
                    f"note:{action['fire']}",
                    str(exc),
                    now,
                    late_by,
                )
        elif not action.get("escalate"):
            self._note(
                conn, row, f"sla:{timer.name}", action.get("label") or timer.kind, now, late_by
            )

    # ---- provisional deadlines ----------------------------------------------------------
    def recompute_provisional(self) -> tuple[int, int]:
        """Recompute open cases' provisional deadlines with the calendar as it is now (after a
        new override file or chinesecalendar release), moving their pending timers too.
        Returns (recomputed, kept): a clock that was paused or extended since it started is
        kept as it is (still marked provisional), as the steps since cannot be replayed."""
        c, tm, h = t.case_t, t.timer_t, t.history_t
        done = kept = 0
        with self.store.write() as conn:
            rows = list(
                conn.execute(
                    sa.select(c).where(c.c.closed_at.is_(None), c.c.due_provisional.is_(True))
                )
            )
            for row in rows:
                wf = self.workflow(row.workflow_id, row.revision)
                state = wf.definition.states[row.state]
                moved = conn.execute(
                    sa.select(h.c.trigger, h.c.to_state).where(
                        h.c.case_id == row.id, h.c.at >= row.clock_started_at
                    )
                ).all()
                touched = any(_pauses_or_extends(wf, trig, to) for trig, to in moved)
                redone = (
                    None
                    if touched
                    else sla.recompute(
                        row.state,
                        state,
                        clock_of(row),
                        row.data or {},
                        self.calendar,
                        wf.due_expressions.get(row.state),
                    )
                )
                if redone is None:
                    kept += 1
                    continue
                clock, timers = redone
                conn.execute(
                    c.update()
                    .where(c.c.id == row.id)
                    .values(due_at=clock.due_at, due_provisional=clock.provisional)
                )
                for timer in timers:
                    conn.execute(
                        tm.update()
                        .where(
                            tm.c.case_id == row.id,
                            tm.c.name == timer.name,
                            tm.c.status == "pending",
                        )
                        .values(due_at=timer.due_at, provisional=timer.provisional)
                    )
                done += 1
        return done, kept


def _pauses_or_extends(wf, trigger: str, to_state: str) -> bool:
    state = wf.definition.states.get(to_state)
    if state is not None and state.sla is not None and state.sla.pause:
        return True
    return any(x.spec.extend_clock for x in wf.transitions if x.trigger == trigger)
