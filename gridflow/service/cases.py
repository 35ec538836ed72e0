"""Writing cases: start one, fire an event on one — each in ONE transaction (service ring).

Firing an event: load the case (its row locked) → ask the workflow's machine (trigger, role
and scope, payload, guards, checks) → update the case (state, version + 1, data, SLA clock)
→ append the history row → cancel the timers of the state left and set those of the state
entered → write the notices to the outbox → start spawned child cases → if this closed the
last child of a group, fire the parent's fan-in trigger. Then commit. A crash at any point
leaves all of it or none of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridflow.domain import sla
from gridflow.domain.cases import Origin
from gridflow.domain.fields import coerce, defaults
from gridflow.domain.machine import CaseView, CompiledWorkflow, Decision, local_time
from gridflow.domain.org import SYSTEM, Actor
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import (
    Backdated,
    CaseMoved,
    Conflict,
    FieldValueError,
    GridflowError,
    MissingFields,
    NotFound,
    Refused,
    RoleRefused,
)
from gridflow.service.definitions import Definitions
from gridflow.service.notices import NoticeService
from gridflow.service.runtime import Runtime
from gridflow.service.views import (
    child_context,
    clock_columns,
    clock_of,
    facets_of,
    late_seconds,
    sla_context,
    step_columns,
    view_of,
)
from gridflow.storage.records import CaseRecord
from gridflow.storage.store import Store, Tx

RETRIES = 20  # a case that keeps changing under an event (PostgreSQL) is re-checked this often
CLOCK_SKEW = timedelta(seconds=5)  # how far behind a case's last step a caller's clock may be


class CaseWriter:
    """Starts cases and fires events on them; also the system's own steps (notes, fan-in)
    that timers and spawned children need."""

    def __init__(self, rt: Runtime, defs: Definitions, notices: NoticeService):
        self.rt, self.defs, self.notices = rt, defs, notices

    # ---- start ---------------------------------------------------------------------------
    def start(
        self,
        wf: CompiledWorkflow,
        actor: Actor,
        data: Mapping[str, Any],
        unit: str | None,
        role: str | None,
        comment: str | None,
        origin: Origin | None = None,
    ) -> CaseRecord:
        """Open a case of ``wf`` in its initial state; the case as committed. ``origin``:
        where the request came from, recorded beside the first step."""
        store, now = self.rt.store, self.rt.now()
        with store.write() as tx:
            case_id = self.create(
                tx, wf, actor, dict(data), unit, role, comment, now, origin=origin
            )
            row = store.cases.load(tx, case_id)  # as committed, read in the same transaction
        assert row is not None
        return row

    def create(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        actor: Actor,
        data: dict[str, Any],
        unit: str | None,
        role: str | None,
        comment: str | None,
        now: datetime,
        *,
        parent: tuple[int, int, str | None] | None = None,
        origin: Origin | None = None,
    ) -> int:
        """Insert a case, its first history row, its initial clock, timers and notices;
        ``parent``: (parent id, the parent's step that spawned it, the fan-in trigger)."""
        d = wf.definition
        directory = self.defs.directory
        values = defaults(d.fields)
        problems, reasons = [], {}
        for key, value in data.items():
            if key not in d.fields:
                problems.append(f"{wf.id} has no field {key!r}{did_you_mean(key, d.fields)}")
                reasons[key] = problems[-1]
                continue
            try:
                values[key] = coerce(key, d.fields[key], value, directory.units or None)
            except FieldValueError as exc:
                problems.append(str(exc))
                reasons[key] = problems[-1]
        missing = [k for k, f in d.fields.items() if f.required and values.get(k) in (None, "", [])]
        if missing:
            problems.append(f"required: {', '.join(missing)}")
            reasons.update({k: f"{k}: required" for k in missing})
        if not problems:
            unit = self._start_unit(wf, actor, unit, role, values, trusted=parent is not None)
        if problems:
            raise MissingFields(
                f"cannot start {wf.id}: " + "; ".join(problems),
                fields=missing,
                trigger="start",
                reasons=reasons,
            )
        assert wf.revision is not None
        title = str(values.get(d.title_field) or "") if d.title_field else ""
        parent_id, group, parent_trigger = parent or (None, None, None)
        initial = d.initial_for(values)
        facets = wf.facet_columns(values)
        cases = self.rt.store.cases
        case_id = cases.insert(
            tx,
            dict(
                **facets,
                workflow_id=wf.id,
                revision=wf.revision,
                state=initial,
                version=1,
                title=title,
                data=values,
                unit=unit,
                unit_path=directory.path(unit) if unit else None,
                created_by=actor.id,
                parent_id=parent_id,
                spawn_group=group,
                parent_trigger=parent_trigger,
                created_at=now,
                updated_at=now,
                entered_at=now,
            ),
        )
        cases.append_step(
            tx,
            dict(
                case_id=case_id,
                seq=1,
                trigger="start",
                from_state=None,
                to_state=initial,
                actor=actor.id,
                role=role,
                comment=comment,
                payload=data or None,
                at=now,
                **step_columns(wf.id, unit, facets),
            ),
            origin_columns(origin),
        )
        self._enter_initial(
            tx, wf, CaseView(case_id, initial, 1, values, unit, now, parent_id), actor, comment, now
        )
        return case_id

    def _start_unit(
        self,
        wf: CompiledWorkflow,
        actor: Actor,
        unit: str | None,
        role: str | None,
        values: Mapping[str, Any],
        *,
        trusted: bool,
    ) -> str | None:
        """The case's unit, after checking ``actor`` may start it there: a start role held
        in that role's scope, judged as for any transition (``unit``, ``under``, ``field:``)."""
        directory = self.defs.directory
        units = directory.units
        if unit is not None and units and unit not in units:
            raise NotFound("unit", unit, units)
        starters = wf.definition.start_roles
        if trusted or actor.system or not starters:
            return unit if unit is not None else (actor.units()[0] if actor.units() else None)
        for name in starters:
            if role is not None and role != name:
                continue
            if unit is None:  # default: where the actor holds the role
                roles = wf.definition.roles
                org_role = (roles[name].org_role or name) if name in roles else name
                candidates = [g.unit for g in actor.grants if g.role == org_role][:1]
            else:
                candidates = [unit]
            for where in candidates:
                view = CaseView(None, wf.definition.initial_for(values), 0, values, where)
                if wf.grant_as(name, view, actor, directory) is not None:
                    return where
        where_txt = f" for unit {unit}" if unit else ""
        holds = ", ".join(f"{g.role}@{g.unit}" for g in actor.grants) or "no roles"
        raise RoleRefused(
            f"{actor.name or actor.id} ({actor.id}: {holds}) cannot start "
            f"{wf.id}{where_txt}: needs {' or '.join(starters)}",
            actor=actor.id,
            needed=starters,
            trigger="start",
        )

    def _enter_initial(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        view: CaseView,
        actor: Actor,
        comment: str | None,
        now: datetime,
    ) -> None:
        """Entering the initial state: its clock, timers and notices."""
        assert view.id is not None
        state = wf.definition.states[view.state]
        clock, timers = sla.enter(
            view.state,
            state,
            sla.NO_CLOCK,
            view.data,
            now,
            self.rt.calendar,
            None,
            wf.due_expressions.get(view.state),
        )
        if clock != sla.NO_CLOCK:
            self.rt.store.cases.set_columns(tx, view.id, clock_columns(clock))
        self._insert_timers(tx, view.id, 1, timers)
        if state.notify:
            event = {
                "trigger": "start",
                "actor": actor,
                "comment": comment,
                "from_state": None,
                "at": now,
            }
            cal = self.rt.calendar
            extra = {"sla": sla_context(sla.view(clock, now, cal), tz=cal.tz)}
            for n in state.notify:
                self.notices.notify(
                    tx, wf, view, n.to, n.template, actor, actor.id, event, now, 1, extra
                )

    # ---- fire ----------------------------------------------------------------------------
    def fire(
        self,
        case_id: int,
        trigger: str,
        actor: Actor,
        payload: dict[str, Any],
        comment: str | None,
        role: str | None,
        expected_version: int | None,
        origin: Origin | None = None,
    ) -> CaseRecord:
        """Fire ``trigger``; the case as the event left it. A case that moved on is a
        ``Conflict`` with ``expected_version``, else the event is re-checked on the newer
        case (and may then be refused on its merits)."""
        store = self.rt.store
        self._before_writing(case_id)
        for _attempt in range(RETRIES):
            try:
                with store.write() as tx:
                    row = self.fire_in(
                        tx,
                        case_id,
                        trigger,
                        actor,
                        payload,
                        comment,
                        role,
                        self.rt.now(),
                        expected_version=expected_version,
                        origin=origin,
                    )
                    # the case as this transaction leaves it: known from the UPDATE, or read
                    # in the same transaction (no second transaction to read it)
                    if row is None:
                        row = store.cases.load(tx, case_id)
                assert row is not None
                return row
            except CaseMoved:
                if expected_version is not None:
                    raise Conflict(case_id, expected_version, expected_version + 1) from None
        raise GridflowError(f"case {case_id} kept changing; gave up after {RETRIES} tries")

    def _before_writing(self, case_id: int) -> None:
        """Read the workflow files now, outside the event's transaction, when the case's
        workflow may start cases of others (their current revisions are stored on first
        read, which is a write of its own)."""
        if self.defs.loaded:
            return
        with self.rt.store.read() as tx:
            row = self.rt.store.cases.load(tx, case_id)
        if row is not None:
            wf = self.defs.workflow(row.workflow_id, row.revision)
            if any(t.spec.spawn is not None for t in wf.transitions):
                self.defs.load()

    def fire_in(
        self,
        tx: Tx,
        case_id: int,
        trigger: str,
        actor: Actor,
        payload: dict[str, Any],
        comment: str | None,
        role: str | None,
        now: datetime,
        *,
        expected_version: int | None = None,
        late_by: float | None = None,
        origin: Origin | None = None,
        loaded: CaseRecord | None = None,
    ) -> CaseRecord | None:
        """Decide and write one event in ``tx``; the case as the event left it, or None
        when spawned cases may have changed it since (read it again to know). ``loaded``:
        the case as this transaction holds it, locked (a timer pass), not read again."""
        # lock the row (PostgreSQL): concurrent events on one case queue up instead of
        # all failing the version check but one and retrying until they give up
        row = loaded or self.rt.store.cases.load(tx, case_id, for_update=True)
        if row is None:
            raise NotFound("case", case_id)
        if expected_version is not None and row.version != expected_version:
            raise Conflict(case_id, expected_version, row.version)
        if not actor.system:  # a caller's step (the engine's own are at its tick's time):
            # the clock read again now that the row is ours (a lock wait is not backdating)
            now = self._step_time(row, trigger, max(now, self.rt.now()))
        wf = self.defs.workflow(row.workflow_id, row.revision)
        extra: dict[str, Any] = {}
        if wf.needs_children:
            extra["children"] = [
                child_context(c, self.defs.workflow)
                for c in self.rt.store.cases.children(tx, case_id)
            ]
        if wf.needs_sla:
            cal = self.rt.calendar
            extra["sla"] = sla_context(sla.view(clock_of(row), now, cal), tz=cal.tz)
        taken = (
            self.rt.store.cases.step_counts(tx, case_id, [trigger])
            if trigger in wf.limited
            else None
        )
        decision = wf.decide(
            view_of(row),
            trigger,
            actor,
            self.defs.directory,
            payload=payload,
            comment=comment,
            role=role,
            now=now,
            extra_context=extra,
            tz=self.rt.calendar.tz,  # times in expressions read in the business timezone
            taken=taken,  # steps of a trigger with a ``max``, from the history
        )
        return self._apply(
            tx, wf, row, decision, actor, comment, now, late_by=late_by, origin=origin
        )

    def _step_time(self, row: CaseRecord, trigger: str, now: datetime) -> datetime:
        """When a caller's step on ``row`` is recorded: ``now``, never before the case's last
        step. A clock at most ``CLOCK_SKEW`` behind that step (another host's) records the
        step at the last step's time; further behind (a wrong clock, a backdating
        ``GRIDFLOW_NOW``) is ``Backdated``, naming both times in local time."""
        last = row.updated_at
        if last is None:
            return now
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        if now >= last:
            return now
        if last - now <= CLOCK_SKEW:
            return last
        tz = self.rt.calendar.tz
        at, before = local_time(now, tz), local_time(last, tz)
        raise Backdated(
            f"cannot {trigger!r} case {row.id} at {at}: its last step was at {before} "
            f"({tz}); a step cannot be recorded before the one it follows",
            at=now,
            last_at=last,
            case_id=row.id,
            trigger=trigger,
            state=row.state,
        )

    def _apply(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        row: CaseRecord,
        decision: Decision,
        actor: Actor,
        comment: str | None,
        now: datetime,
        *,
        late_by: float | None = None,
        origin: Origin | None = None,
    ) -> CaseRecord | None:
        """Write ``decision`` (case, history, timers, notices, spawns). Returns the case
        as written, or None when spawned cases may have changed it since."""
        cases, calendar = self.rt.store.cases, self.rt.calendar
        seq = row.version + 1
        data = decision.data
        facets = wf.facet_columns(data)
        values: dict[str, Any] = dict(
            state=decision.dest,
            version=seq,
            data=data,
            updated_at=now,
            entered_at=now,
            closed_at=now if decision.final else None,
            **facets,
        )
        if decision.final:
            values["work_seconds"] = calendar.working_seconds(row.created_at, now)
        if wf.definition.title_field:
            values["title"] = str(data.get(wf.definition.title_field) or row.title)
        view = CaseView(row.id, decision.dest, seq, data, row.unit, row.created_at, row.parent_id)
        dest_state = wf.definition.states[decision.dest]
        before = clock_of(row)
        clock, timers = sla.enter(
            decision.dest,
            dest_state,
            before,
            data,
            now,
            calendar,
            decision.extend_by,
            wf.due_expressions.get(decision.dest),
        )
        if row.due_at is not None:  # leaving a state with a clock: its timers are void …
            if clock == before and self._same_timers(tx, row.id, timers):
                timers = []  # … unless the same clock runs on with the same timers: kept
            else:
                self.rt.store.timers.cancel_pending(tx, row.id, now)
        values.update(clock_columns(clock))
        if not cases.update(tx, row.id, row.version, values):
            raise CaseMoved(row.id)
        cases.append_step(
            tx,
            dict(
                case_id=row.id,
                seq=seq,
                trigger=decision.transition.trigger,
                from_state=decision.source,
                to_state=decision.dest,
                actor=actor.id,
                role=decision.role,
                comment=comment,
                payload=decision.payload or None,
                at=now,
                late_by=late_by,
                actor_unit=decision.unit,
                elapsed_s=calendar.working_seconds(row.entered_at or row.created_at, now),
                due_at=row.due_at,
                late_s=late_seconds(row, now, calendar),
                **step_columns(row.workflow_id, row.unit, facets),
            ),
            origin_columns(origin),
        )
        self._insert_timers(tx, row.id, seq, timers)
        notices = (*decision.transition.spec.notify, *dest_state.notify)
        if notices:  # their context (and its calendar work) only when there are any
            event = {
                "trigger": decision.transition.trigger,
                "actor": actor,
                "comment": comment,
                "from_state": decision.source,
                "at": now,
            }
            # the clock just set
            extra = {"sla": sla_context(sla.view(clock, now, calendar), tz=calendar.tz)}
            for n in notices:
                self.notices.notify(
                    tx, wf, view, n.to, n.template, actor, row.created_by, event, now, seq, extra
                )
        spec = decision.transition.spec.spawn
        if spec is not None:
            child_wf = self.defs.workflow(spec.workflow)
            for child in decision.spawns:
                child_id = self.create(
                    tx,
                    child_wf,
                    actor,
                    child["data"],
                    child["unit"],
                    None,
                    f"spawned by case {row.id}",
                    now,
                    parent=(row.id, seq, spec.on_all_final),
                    origin=origin,
                )
                if spec.then:
                    self.fire_in(
                        tx, child_id, spec.then, SYSTEM, {}, f"spawned by case {row.id}", None, now
                    )
        if decision.final and row.parent_id is not None and row.parent_trigger:
            self._fan_in(tx, row, now)
        # the case as the UPDATE left it, unless spawned children may have changed it since
        # (each fires its own trigger; closing the last of them fires this case: fan-in)
        return None if decision.spawns else cases.as_updated(row, values)

    def _same_timers(self, tx: Tx, case_id: int, timers: list[sla.TimerSpec]) -> bool:
        """Whether the case's pending timers are exactly ``timers`` (a state entered on a
        clock that runs on: sign, then begin, share the answer clock and its ladder)."""
        pending = self.rt.store.timers.pending_of_case(tx, case_id)
        if len(pending) != len(timers):
            return False
        have = {(p.name, p.kind, p.due_at, p.provisional, _spec(p.spec)) for p in pending}
        want = {(s.name, s.kind, s.due_at, s.provisional, _spec(s.action)) for s in timers}
        return have == want

    def _insert_timers(self, tx: Tx, case_id: int, seq: int, timers: list[sla.TimerSpec]) -> None:
        self.rt.store.timers.insert(
            tx,
            (
                dict(
                    case_id=case_id,
                    entry_seq=seq,
                    name=tm.name,
                    kind=tm.kind,
                    due_at=tm.due_at,
                    provisional=tm.provisional,
                    spec=tm.action,
                )
                for tm in timers
            ),
        )

    def _fan_in(self, tx: Tx, child: CaseRecord, now: datetime) -> None:
        """The last child of a spawn group closed: fire the parent's trigger (exactly once:
        the parent row is locked, and the trigger moves the parent on)."""
        cases = self.rt.store.cases
        assert child.parent_id is not None and child.parent_trigger is not None
        parent = cases.load(tx, child.parent_id, for_update=True)
        if parent is None or cases.open_siblings(tx, parent.id, child.spawn_group):
            return
        try:
            self.fire_in(
                tx,
                parent.id,
                child.parent_trigger,
                SYSTEM,
                {},
                f"all children of step {child.spawn_group} closed",
                None,
                now,
            )
        except Refused as exc:
            self.note(tx, parent, f"note:{child.parent_trigger}", str(exc), now)

    def note(
        self,
        tx: Tx,
        row: CaseRecord,
        trigger: str,
        comment: str,
        now: datetime,
        late_by: float | None = None,
        later: BatchWrites | None = None,
    ) -> CaseRecord:
        """A system note in a case's history (no state change; still a new version).
        Returns the case as the note leaves it. With ``later`` the writes are kept there
        for one statement each at the end of a batch (see :class:`BatchWrites`)."""
        seq = row.version + 1
        cases = self.rt.store.cases
        values = {"version": seq, "updated_at": now}
        step = dict(
            case_id=row.id,
            seq=seq,
            trigger=trigger,
            from_state=row.state,
            to_state=row.state,
            actor=SYSTEM.id,
            comment=comment,
            at=now,
            late_by=late_by,
            **step_columns(row.workflow_id, row.unit, facets_of(row)),
        )
        if later is not None:
            later.bump(row.id, row.version, seq, now)
            later.steps.append(step)
        else:
            if not cases.update(tx, row.id, row.version, values):
                raise CaseMoved(row.id)
            cases.append_step(tx, step)
        return cases.as_updated(row, values)


@dataclass
class BatchWrites:
    """Writes of a timer batch kept for its end, one statement each: the system notes'
    case version bumps (case → (version in the database, version now, when)) and history
    rows, and the timers acted on (case → timer ids). Before anything else writes a case
    (a timed transition), :meth:`flush_case` writes what is kept of it."""

    at: datetime
    bumps: dict[int, tuple[int, int, datetime]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    done: dict[int, list[int]] = field(default_factory=dict)

    def bump(self, case_id: int, version: int, to: int, at: datetime) -> None:
        first = self.bumps.get(case_id, (version, to, at))[0]
        self.bumps[case_id] = (first, to, at)

    def timer_done(self, case_id: int, timer_id: int) -> None:
        self.done.setdefault(case_id, []).append(timer_id)

    def flush_case(self, tx: Tx, store: Store, case_id: int) -> None:
        """Write the kept bump and timer marks of ``case_id`` now."""
        pending = self.bumps.pop(case_id, None)
        if pending is not None and not store.cases.bump_versions(tx, [(case_id, *pending)]):
            raise CaseMoved(case_id)
        done = self.done.pop(case_id, [])
        if done and store.timers.mark_many_done(tx, done, self.at) not in (len(done), -1):
            raise CaseMoved(case_id)

    def flush(self, tx: Tx, store: Store) -> None:
        """Write everything kept (a batch's end)."""
        bumps = [(i, old, new, at) for i, (old, new, at) in self.bumps.items()]
        if bumps and store.cases.bump_versions(tx, bumps) not in (len(bumps), -1):
            raise CaseMoved(None)
        done = [i for ids in self.done.values() for i in ids]
        if done and store.timers.mark_many_done(tx, done, self.at) not in (len(done), -1):
            raise CaseMoved(None)
        store.cases.append_steps(tx, self.steps)
        self.bumps.clear()
        self.steps.clear()
        self.done.clear()


def origin_columns(origin: Origin | None) -> dict[str, Any] | None:
    """The ``gf_step_origin`` columns of ``origin`` (None: nothing recorded)."""
    return None if origin is None else dataclasses.asdict(origin)


def _spec(action: Mapping[str, Any] | None) -> str:
    """A timer's action as comparable text (as the JSON column stores it)."""
    return json.dumps(action or {}, sort_keys=True, default=str)
