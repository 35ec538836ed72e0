"""The ``Engine`` facade: start, fire, query, tick — one event, one transaction.

Firing an event, in ONE database transaction: load the case → ask the workflow's machine
(trigger, role and scope, payload, guards, checks) → update the case (state, version + 1,
data, SLA clock) → append the history row → cancel the timers of the state left and set
those of the state entered → write the notices to the outbox → start spawned child cases →
if this closed the last child of a group, fire the parent's fan-in trigger. Then commit.
A crash at any point leaves all of it or none of it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridflow.domain import sla
from gridflow.domain.cases import Case, Step
from gridflow.domain.fields import coerce, defaults
from gridflow.domain.loader import load_dir, load_files, load_text
from gridflow.domain.machine import CaseView, CompiledWorkflow, Decision
from gridflow.domain.org import SYSTEM, Actor, Directory
from gridflow.errors import (
    CaseMoved,
    Conflict,
    FieldValueError,
    GridflowError,
    MissingFields,
    NotFound,
    Refused,
    RoleRefused,
)
from gridflow.service.notices import NoticesMixin
from gridflow.service.rows import (
    child_context,
    clock_columns,
    clock_of,
    facets_of,
    late_seconds,
    sla_context,
    step_columns,
    title_of,
    view_of,
)
from gridflow.service.timers import RETRIES, TimersMixin
from gridflow.storage import tables as t
from gridflow.storage.store import (
    CANCEL_TIMERS,
    INSERT_TIMERS,
    Store,
)

log = logging.getLogger("gridflow.engine")

BUILTIN_WORKFLOWS = Path(__file__).resolve().parents[1] / "builtin" / "workflows"
BUILTIN_ORG = BUILTIN_WORKFLOWS / "org.yaml"


class Engine(NoticesMixin, TimersMixin):
    """Runs workflows over a database. Thread-safe; one per process is plenty.

    ``workflows``: a folder, a list of files, or None for the built-ins. ``clock``: a
    callable returning an aware ``datetime`` (inject a virtual one to run months in
    seconds). ``directory``: an org ``Directory``; default: the one stored by ``gridflow org
    load``, else the built-in sample (Fenglin Street).
    """

    def __init__(
        self,
        database_url: str = "sqlite:///gridflow.db",
        workflows: str | Path | Iterable[str | Path] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        directory: Directory | None = None,
        calendar=None,
        templates: Iterable[str | Path] | None = None,
        base_url: str = "http://localhost/cases",
        default_channel: str = "console",
        create_schema: bool = True,
    ):
        self.store = Store(database_url)
        if create_schema:
            self.store.create_schema()
        self.clock = clock or (lambda: datetime.now(UTC))
        if calendar is None:
            from gridflow.domain.calendar import BusinessCalendar

            calendar = BusinessCalendar()
        self.calendar = calendar
        self.base_url, self.default_channel = base_url, default_channel
        self.workflow_source = workflows
        self._explicit_directory = directory
        self._directory: Directory | None = directory
        self._revisions: dict[tuple[str, int], CompiledWorkflow] = {}
        self.workflows: dict[str, CompiledWorkflow] = {}
        self.load_workflows(workflows)
        roots = [Path(p) for p in templates] if templates else []
        self._template_roots = [*roots, self._workflow_dir(workflows), BUILTIN_WORKFLOWS]
        self._renderer = None
        self._template_problems: set[tuple[str, str]] = set()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    # ---- definitions and directory --------------------------------------------------
    @staticmethod
    def _workflow_dir(workflows) -> Path:
        if workflows is None:
            return BUILTIN_WORKFLOWS
        if isinstance(workflows, (str, Path)):
            p = Path(workflows)
            return p if p.is_dir() else p.parent
        return BUILTIN_WORKFLOWS

    def load_workflows(self, workflows=None) -> dict[str, CompiledWorkflow]:
        """(Re)load workflow files; store new texts as new revisions. Running cases keep the
        revision they started on. Raises ``DefinitionError`` and keeps the old set on error."""
        src = workflows if workflows is not None else self.workflow_source
        if src is None:
            loaded = load_dir(BUILTIN_WORKFLOWS)
        elif isinstance(src, (str, Path)):
            loaded = load_dir(src) if Path(src).is_dir() else load_files([src])
        else:
            loaded = load_files(src)
        now = self.now()
        with self.store.write() as conn:
            for wf in loaded.values():
                wf.revision = self.store.ensure_definition(
                    conn,
                    wf.id,
                    str(wf.definition.version),
                    wf.content_hash,
                    wf.source,
                    wf.file,
                    now,
                )
            facets = {w.id: w.definition.facets for w in loaded.values()}
            self.store.fill_facets(conn, facets)
        for wf in loaded.values():
            self._revisions[(wf.id, wf.revision)] = wf
        self.workflows = loaded
        return loaded

    def workflow(self, workflow_id: str, revision: int | None = None) -> CompiledWorkflow:
        """The current definition, or a stored older ``revision`` (compiled once, cached)."""
        if revision is None:
            if workflow_id not in self.workflows:
                raise NotFound("workflow", workflow_id, self.workflows)
            return self.workflows[workflow_id]
        key = (workflow_id, revision)
        if key not in self._revisions:
            with self.store.read() as conn:
                row = self.store.definition_source(conn, workflow_id, revision)
            if row is None:
                raise NotFound("workflow revision", f"{workflow_id}@{revision}")
            wf = load_text(row.source, row.file)
            wf.revision = revision
            self._revisions[key] = wf
        return self._revisions[key]

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = self._load_directory()
        return self._directory

    def _load_directory(self) -> Directory:
        from gridflow.domain.org_loader import load_org_file, load_org_text

        with self.store.read() as conn:
            row = self.store.latest_org(conn)
        if row is not None:
            return load_org_text(row.source, row.file)
        if BUILTIN_ORG.is_file():
            return load_org_file(BUILTIN_ORG)
        return Directory()

    def load_org(self, path: str | Path) -> Directory:
        """Validate an org file and store it as the directory in force."""
        from gridflow.domain.loader import content_hash
        from gridflow.domain.org_loader import load_org_text

        text = Path(path).read_text(encoding="utf-8")
        directory = load_org_text(text, str(path))
        with self.store.write() as conn:
            self.store.save_org(conn, content_hash(text), text, str(path), self.now())
        self._directory = directory
        return directory

    def reload(self, calendar=None) -> None:
        """Re-read workflows and the stored directory (daemon: on change or SIGHUP); with a
        new ``calendar``, recompute provisional deadlines with it."""
        self.load_workflows()
        if self._explicit_directory is None:
            self._directory = self._load_directory()
        if calendar is not None:
            self.calendar = calendar
            self.recompute_provisional()

    def now(self) -> datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def actor(self, who: str | Actor) -> Actor:
        """An ``Actor`` as given, or the person of that id in the directory."""
        if isinstance(who, Actor):
            return who
        if who == SYSTEM.id:  # system-only transitions are for timers and fan-in, not callers
            raise RoleRefused(
                "'system' is the engine itself: it fires timers and fan-in triggers; act as a "
                "person of the org directory",
                actor=who,
                needed=[],
            )
        person = self.directory.people.get(who)
        if person is None:
            raise NotFound("person", who, self.directory.people)
        return person

    def close(self) -> None:
        self.store.dispose()

    # ---- start ------------------------------------------------------------------------
    def start(
        self,
        workflow: str,
        *,
        actor: str | Actor,
        data: Mapping[str, Any] | None = None,
        unit: str | None = None,
        role: str | None = None,
        comment: str | None = None,
    ) -> Case:
        """Open a case of ``workflow`` in its initial state; returns it."""
        wf, who, now = self.workflow(workflow), self.actor(actor), self.now()
        with self.store.write() as conn:
            case_id = self._create(conn, wf, who, dict(data or {}), unit, role, comment, now)
            row = self.store.load_case(conn, case_id)  # as committed, read in the same transaction
        return self._case(row, [])

    def _create(
        self,
        conn,
        wf: CompiledWorkflow,
        actor: Actor,
        data: dict,
        unit: str | None,
        role: str | None,
        comment: str | None,
        now: datetime,
        *,
        parent: tuple[int, int, str | None] | None = None,
    ) -> int:
        d = wf.definition
        values = defaults(d.fields)
        problems = []
        for key, value in data.items():
            if key not in d.fields:
                from gridflow.domain.suggest import did_you_mean

                problems.append(f"{wf.id} has no field {key!r}{did_you_mean(key, d.fields)}")
                continue
            try:
                values[key] = coerce(key, d.fields[key], value, self.directory.units or None)
            except FieldValueError as exc:
                problems.append(str(exc))
        missing = [k for k, f in d.fields.items() if f.required and values.get(k) in (None, "", [])]
        if missing:
            problems.append(f"required: {', '.join(missing)}")
        if not problems:
            unit = self._start_unit(wf, actor, unit, role, values, trusted=parent is not None)
        if problems:
            raise MissingFields(
                f"cannot start {wf.id}: " + "; ".join(problems), fields=missing, trigger="start"
            )
        title = str(values.get(d.title_field) or "") if d.title_field else ""
        parent_id, group, parent_trigger = parent or (None, None, None)
        initial = d.initial_for(values)
        facets = wf.facet_columns(values)
        case_id = self.store.insert_case(
            conn,
            dict(
                **facets,
                workflow_id=wf.id,
                revision=wf.revision,
                state=initial,
                version=1,
                title=title,
                data=values,
                unit=unit,
                unit_path=self.directory.path(unit) if unit else None,
                created_by=actor.id,
                parent_id=parent_id,
                spawn_group=group,
                parent_trigger=parent_trigger,
                created_at=now,
                updated_at=now,
                entered_at=now,
            ),
        )
        self.store.append_history(
            conn,
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
        )
        view = CaseView(case_id, initial, 1, values, unit, now, parent_id)
        self._enter(
            conn,
            wf,
            view,
            sla.NO_CLOCK,
            None,
            actor,
            actor.id,
            now,
            seq=1,
            trigger="start",
            comment=comment,
            notify=(),
        )
        return case_id

    def _start_unit(self, wf, actor: Actor, unit, role, values, *, trusted: bool) -> str | None:
        """The case's unit, after checking ``actor`` may start it there: a start role held
        in that role's scope, judged as for any transition (``unit``, ``under``, ``field:``)."""
        units = self.directory.units
        if unit is not None and units and unit not in units:
            raise NotFound("unit", unit, units)
        starters = wf.definition.start_roles
        if trusted or actor.system or not starters:
            return unit if unit is not None else (actor.units()[0] if actor.units() else None)
        for name in starters:
            if role is not None and role != name:
                continue
            if unit is None:  # default: where the actor holds the role
                org_role = (
                    (wf.definition.roles[name].org_role or name)
                    if name in wf.definition.roles
                    else name
                )
                held = [g.unit for g in actor.grants if g.role == org_role]
                candidates = held[:1]
            else:
                candidates = [unit]
            for where in candidates:
                view = CaseView(None, wf.definition.initial_for(values), 0, values, where)
                if wf.grant_as(name, view, actor, self.directory) is not None:
                    return where
        where = f" for unit {unit}" if unit else ""
        holds = ", ".join(f"{g.role}@{g.unit}" for g in actor.grants) or "no roles"
        raise RoleRefused(
            f"{actor.name or actor.id} ({actor.id}: {holds}) cannot start "
            f"{wf.id}{where}: needs {' or '.join(starters)}",
            actor=actor.id,
            needed=starters,
            trigger="start",
        )

    # ---- fire -------------------------------------------------------------------------
    def fire(
        self,
        case_id: int,
        trigger: str,
        *,
        actor: str | Actor,
        data: Mapping[str, Any] | None = None,
        comment: str | None = None,
        role: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case, or raise ``Refused`` / ``Conflict`` / ``NotFound``.

        With ``expected_version`` a case that moved on is a ``Conflict``; without, the event
        is re-checked against the newer case (and may then be refused on its merits).
        """
        who, payload = self.actor(actor), dict(data or {})
        for _attempt in range(RETRIES):
            try:
                with self.store.write() as conn:
                    row = self._fire_in(
                        conn,
                        case_id,
                        trigger,
                        who,
                        payload,
                        comment,
                        role,
                        self.now(),
                        expected_version=expected_version,
                    )
                    # the case as this transaction leaves it: known from the UPDATE, or read
                    # in the same transaction (no second transaction to read it)
                    if row is None:
                        row = self.store.load_case(conn, case_id)
                break
            except CaseMoved:
                if expected_version is not None:
                    raise Conflict(case_id, expected_version, expected_version + 1) from None
        else:
            raise GridflowError(f"case {case_id} kept changing; gave up after {RETRIES} tries")
        return self._case(row, [])

    def _fire_in(
        self,
        conn,
        case_id: int,
        trigger: str,
        actor: Actor,
        payload: dict,
        comment: str | None,
        role: str | None,
        now: datetime,
        *,
        expected_version: int | None = None,
        late_by: float | None = None,
    ) -> Any:
        """Decide and write one event; returns the case row as the event left it, or None
        when spawned cases may have changed it since (read it again to know)."""
        # lock the row (PostgreSQL): concurrent events on one case queue up instead of
        # all failing the version check but one and retrying until they give up
        row = self.store.load_case(conn, case_id, for_update=True)
        if row is None:
            raise NotFound("case", case_id)
        if expected_version is not None and row.version != expected_version:
            raise Conflict(case_id, expected_version, row.version)
        wf = self.workflow(row.workflow_id, row.revision)
        view = view_of(row)
        extra: dict[str, Any] = {}
        if wf.needs_children:
            extra["children"] = [child_context(c, self) for c in self.store.children(conn, case_id)]
        if wf.needs_sla:
            extra["sla"] = sla_context(sla.view(clock_of(row), now, self.calendar))
        decision = wf.decide(
            view,
            trigger,
            actor,
            self.directory,
            payload=payload,
            comment=comment,
            role=role,
            now=now,
            extra_context=extra,
        )
        return self._apply(conn, wf, row, decision, actor, comment, now, late_by=late_by)

    def _apply(
        self,
        conn,
        wf: CompiledWorkflow,
        row,
        decision: Decision,
        actor: Actor,
        comment: str | None,
        now: datetime,
        *,
        late_by: float | None = None,
    ) -> Any:
        """Write ``decision`` (case, history, timers, notices, spawns). Returns the case row
        as written, or None when spawned cases may have changed it since."""
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
            values["work_seconds"] = self.calendar.working_seconds(row.created_at, now)
        if wf.definition.title_field:
            values["title"] = str(data.get(wf.definition.title_field) or row.title)
        view = CaseView(row.id, decision.dest, seq, data, row.unit, row.created_at, row.parent_id)
        if row.due_at is not None:  # leaving a state with a clock: its timers are void
            conn.execute(CANCEL_TIMERS, {"b_case_id": row.id, "b_done_at": now})
        dest_state = wf.definition.states[decision.dest]
        clock, timers = sla.enter(
            decision.dest,
            dest_state,
            clock_of(row),
            data,
            now,
            self.calendar,
            decision.extend_by,
            wf.due_expressions.get(decision.dest),
        )
        values.update(clock_columns(clock))
        if not self.store.update_case(conn, row.id, row.version, values):
            raise CaseMoved(row.id)
        self.store.append_history(
            conn,
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
                elapsed_s=self.calendar.working_seconds(row.entered_at or row.created_at, now),
                due_at=row.due_at,
                late_s=late_seconds(row, now, self.calendar),
                **step_columns(row.workflow_id, row.unit, facets),
            ),
        )
        self._insert_timers(conn, row.id, seq, timers)
        notices = (*decision.transition.spec.notify, *dest_state.notify)
        if notices:  # their context (and its calendar work) only when there are any
            event = {
                "trigger": decision.transition.trigger,
                "actor": actor,
                "comment": comment,
                "from_state": decision.source,
                "at": now,
            }
            extra = {"sla": sla_context(sla.view(clock, now, self.calendar))}  # the clock just set
            for n in notices:
                self._notify(
                    conn, wf, view, n.to, n.template, actor, row.created_by, event, now, seq, extra
                )
        spec = decision.transition.spec.spawn
        if spec is not None:
            child_wf = self.workflow(spec.workflow)
            for child in decision.spawns:
                child_id = self._create(
                    conn,
                    child_wf,
                    actor,
                    child["data"],
                    child["unit"],
                    None,
                    f"spawned by case {row.id}",
                    now,
                    parent=(row.id, seq, spec.on_all_final),
                )
                if spec.then:
                    self._fire_in(
                        conn,
                        child_id,
                        spec.then,
                        SYSTEM,
                        {},
                        f"spawned by case {row.id}",
                        None,
                        now,
                    )
        if decision.final and row.parent_id is not None and row.parent_trigger:
            self._fan_in(conn, row, now)
        # the case as the UPDATE left it, unless spawned children may have changed it since
        # (each fires its own trigger; closing the last of them fires this case: fan-in)
        return None if decision.spawns else self.store.as_updated(row, values)

    def _enter(
        self,
        conn,
        wf,
        view: CaseView,
        clock,
        extend_by,
        actor,
        creator,
        now,
        *,
        seq: int,
        trigger: str,
        comment,
        notify,
    ) -> None:
        """Entering the initial state: its clock, timers and notices."""
        state = wf.definition.states[view.state]
        new_clock, timers = sla.enter(
            view.state,
            state,
            clock,
            view.data,
            now,
            self.calendar,
            extend_by,
            wf.due_expressions.get(view.state),
        )
        if new_clock != clock:
            conn.execute(
                t.case_t.update().where(t.case_t.c.id == view.id).values(**clock_columns(new_clock))
            )
        self._insert_timers(conn, view.id, seq, timers)
        event = {
            "trigger": trigger,
            "actor": actor,
            "comment": comment,
            "from_state": None,
            "at": now,
        }
        extra = {"sla": sla_context(sla.view(new_clock, now, self.calendar))}
        for n in state.notify:
            self._notify(conn, wf, view, n.to, n.template, actor, creator, event, now, seq, extra)

    def _insert_timers(self, conn, case_id: int, seq: int, timers: list[sla.TimerSpec]) -> None:
        if timers:
            conn.execute(
                INSERT_TIMERS,
                [
                    dict(
                        case_id=case_id,
                        entry_seq=seq,
                        name=tm.name,
                        kind=tm.kind,
                        due_at=tm.due_at,
                        provisional=tm.provisional,
                        status="pending",
                        attempts=0,
                        spec=tm.action,
                    )
                    for tm in timers
                ],
            )

    def _fan_in(self, conn, child, now: datetime) -> None:
        """The last child of a spawn group closed: fire the parent's trigger (exactly once:
        the parent row is locked, and the trigger moves the parent on)."""
        parent = self.store.load_case(conn, child.parent_id, for_update=True)
        if parent is None or self.store.open_siblings(conn, parent.id, child.spawn_group):
            return
        try:
            self._fire_in(
                conn,
                parent.id,
                child.parent_trigger,
                SYSTEM,
                {},
                f"all children of step {child.spawn_group} closed",
                None,
                now,
            )
        except Refused as exc:
            self._note(conn, parent, f"note:{child.parent_trigger}", str(exc), now)

    def _note(
        self, conn, row, trigger: str, comment: str, now: datetime, late_by: float | None = None
    ) -> int:
        """A system note in a case's history (no state change; still a new version)."""
        seq = row.version + 1
        if not self.store.update_case(
            conn, row.id, row.version, {"version": seq, "updated_at": now}
        ):
            raise CaseMoved(row.id)
        self.store.append_history(
            conn,
            dict(
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
            ),
        )
        return seq

    # ---- queries ------------------------------------------------------------------------
    def get(self, case_id: int, *, with_children: bool = False) -> Case:
        with self.store.read() as conn:
            row = self.store.load_case(conn, case_id)
            if row is None:
                raise NotFound("case", case_id)
            kids = self.store.children(conn, case_id) if with_children else []
        return self._case(row, [self._case(k) for k in kids])

    def history(self, case_id: int) -> list[Step]:
        with self.store.read() as conn:
            if self.store.load_case(conn, case_id) is None:
                raise NotFound("case", case_id)
            rows = self.store.history(conn, case_id)
        return [
            Step(
                r.case_id,
                r.seq,
                r.trigger,
                r.from_state,
                r.to_state,
                r.actor,
                r.role,
                r.comment,
                r.payload,
                r.at,
                r.late_by,
            )
            for r in rows
        ]

    def children(self, case_id: int) -> list[Case]:
        with self.store.read() as conn:
            return [self._case(r) for r in self.store.children(conn, case_id)]

    def find(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        unit: str | None = None,
        text: str | None = None,
        open_only: bool = False,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """Cases by workflow, state, unit (and its subtree), text in title/data; newest first."""
        unit_path = self.directory.path(unit) if unit else None
        with self.store.read() as conn:
            rows = self.store.find(
                conn,
                workflow=workflow,
                state=state,
                unit_path=unit_path,
                text=text,
                open_only=open_only,
                overdue_at=self.now() if overdue else None,
                limit=limit,
                offset=offset,
            )
        return [self._case(r) for r in rows]

    def available_triggers(self, case_id: int, actor: str | Actor) -> list[str]:
        """Triggers ``actor`` holds a role for in the case's current state."""
        who = self.actor(actor)
        with self.store.read() as conn:
            row = self.store.load_case(conn, case_id)
        if row is None:
            raise NotFound("case", case_id)
        wf = self.workflow(row.workflow_id, row.revision)
        return wf.allowed_for(view_of(row), who, self.directory)

    def _case(self, row, children: list[Case] | None = None) -> Case:
        wf = self.workflow(row.workflow_id, row.revision)
        state = wf.definition.states.get(row.state)
        label = state.label.get("zh-CN") if state and state.label else row.state
        now = self.now()
        return Case(
            row.id,
            row.workflow_id,
            row.revision,
            row.state,
            row.version,
            row.title or title_of(wf.definition, view_of(row)),
            dict(row.data or {}),
            row.unit,
            row.created_by,
            row.created_at,
            row.updated_at,
            row.closed_at,
            row.parent_id,
            label,
            # no clock or no deadline: no view (as sla.view answers), without building the Clock
            sla.view(clock_of(row), now, self.calendar)
            if row.clock is not None and row.due_at is not None
            else None,
            children or [],
        )
