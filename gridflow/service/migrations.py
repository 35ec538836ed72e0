"""Moving open cases onto another revision of their workflow (service ring; issue #16).

``run`` plans first, in one read transaction: every open case of the workflow on another
revision, filtered by ``where`` (an expression of the budgeted sandbox, seeing ``data``,
``case``, ``now``, ``sla`` as guards do, and ``state`` and ``unit``), each planned by
:func:`gridflow.domain.migration.plan_case`. Any case that cannot be moved refuses the whole
run — :class:`~gridflow.errors.MigrationRefused` listing every reason with its case count —
before anything changes. A dry run returns the plan.

Applying goes in batches of ``batch`` cases, one write transaction each: the batch's rows
are loaded again (locked, PostgreSQL) and each case is planned again *as it is now* — a case
fired meanwhile is moved as the fire left it, or, if it no longer fits (closed, moved to an
unmapped state, no longer matching ``where``), left alone and reported as skipped. Each case
moved: its row updated at the version read (revision, state, data, facets, clock, version +
1), one history row (trigger ``migrate``, the actor, ``revision a → b`` in its comment and
payload) with its change-feed event and origin, its pending timers cancelled and the new
ladder inserted. A batch commits whole or not at all, and a moved case is on the target
revision — so a run killed midway resumes cleanly when run again, and running a finished
migration again finds nothing to move and changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridflow.domain import migration, sla
from gridflow.domain.cases import Origin
from gridflow.domain.expressions import Expression, compile_expression, evaluation_budget
from gridflow.domain.fields import coerce
from gridflow.domain.machine import CompiledWorkflow, local_time
from gridflow.domain.migration import CasePlan, CaseSnapshot, Refusal, check_map, plan_case
from gridflow.domain.org import Actor
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import (
    CaseMoved,
    ExpressionError,
    FieldValueError,
    GridflowError,
    InvalidArgument,
    MigrationRefused,
)
from gridflow.service.cases import RETRIES, origin_columns
from gridflow.service.definitions import Definitions
from gridflow.service.limits import MAX_PAGE
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_columns, clock_of, sla_context, step_columns, view_of
from gridflow.storage.records import CaseRecord, TimerRecord
from gridflow.storage.store import Tx

PAGE = 1000  # candidates read per statement while planning
SAMPLE = 5  # case ids named per refusal


@dataclass(frozen=True)
class Request:
    """What to move: ``workflow`` onto revision ``to``; ``mapping`` old state → new;
    ``where`` (compiled) selects cases; ``values`` (coerced for the target) are set on every
    case moved; ``keep_deadline`` keeps running clocks' due times."""

    workflow: str
    to: int
    mapping: Mapping[str, str]
    where: Expression | None
    values: Mapping[str, Any]
    keep_deadline: bool


@dataclass
class MigrationPlan:
    """What a migration does (a dry run) or did (``applied``). ``cases``: one plan per case
    to move (as planned before applying); ``considered``: open cases on other revisions;
    ``not_matching``: those ``where`` left out; ``migrated``: cases moved by this run;
    ``skipped``: cases left alone at apply time, with why; ``seconds``: the run's time."""

    workflow: str
    to_revision: int
    keep_deadline: bool
    applied: bool = False
    cases: list[CasePlan] = field(default_factory=list)
    considered: int = 0
    not_matching: int = 0
    migrated: int = 0
    batches: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts: cases per (from → to state), per deadline handling, timers."""
        moves = Counter(f"{c.from_state} → {c.to_state}" for c in self.cases)
        return {
            "workflow": self.workflow,
            "to_revision": self.to_revision,
            "applied": self.applied,
            "considered": self.considered,
            "not_matching": self.not_matching,
            "to_migrate": len(self.cases),
            "migrated": self.migrated,
            "skipped": len(self.skipped),
            "from_revisions": dict(Counter(str(c.from_revision) for c in self.cases)),
            "states": dict(moves),
            "deadlines": dict(Counter(c.deadline for c in self.cases)),
            "timers_cancelled": sum(len(c.cancelled) for c in self.cases),
            "timers_created": sum(len(c.created) for c in self.cases),
            "seconds": round(self.seconds, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "cases": [c.to_dict() for c in self.cases],
            "skipped_cases": self.skipped,
        }


class Migrations:
    """Plans and applies moves of open cases onto another workflow revision."""

    def __init__(self, rt: Runtime, defs: Definitions):
        self.rt, self.defs = rt, defs

    def run(
        self,
        workflow: str,
        to: int,
        actor: Actor,
        *,
        mapping: Mapping[str, str] | None = None,
        where: str | None = None,
        values: Mapping[str, Any] | None = None,
        keep_deadline: bool = False,
        apply: bool = False,
        batch: int = 200,
        comment: str | None = None,
        origin: Origin | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> MigrationPlan:
        """Plan moving the open cases of ``workflow`` onto revision ``to`` and, with
        ``apply``, do it (see the module docstring). ``NotFound`` for an unknown workflow
        or revision; ``MigrationRefused`` (nothing changed) when any case cannot be moved;
        ``ExpressionError`` for a ``where`` that does not compile. ``progress(done, total)``
        is called after each batch committed."""
        started = time.perf_counter()
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_PAGE:
            raise InvalidArgument("batch", batch, f"a whole number from 1 to {MAX_PAGE}")
        new = self.defs.workflow(workflow, to)
        request, refusals = self._request(new, mapping or {}, where, values or {}, keep_deadline)
        plan = MigrationPlan(workflow, to, keep_deadline)
        found = self._plan(request, new, plan)
        problems = _problems([*((r, None) for r in refusals), *found])
        if problems:
            raise MigrationRefused(workflow, to, problems)
        if apply:
            plan.applied = True
            ids = [c.case_id for c in plan.cases]
            for i in range(0, len(ids), batch):
                self._batch(request, new, ids[i : i + batch], actor, comment, origin, plan)
                plan.batches += 1
                if progress is not None:
                    progress(min(i + batch, len(ids)), len(ids))
        plan.seconds = time.perf_counter() - started
        return plan

    def revisions(self, workflow: str | None = None) -> list[dict[str, Any]]:
        """Stored revisions (of ``workflow``, or all), oldest first: ``workflow``,
        ``revision``, ``version`` (its label), ``loaded_at``, ``open`` (open cases on it),
        ``current`` (the one the workflow files hold now)."""
        store = self.rt.store
        with store.read() as tx:
            rows = store.definitions.revisions(tx)
            counts = store.case_migration.open_by_revision(tx, workflow)
        current = {w.id: w.revision for w in self.defs.current.values()}
        return [
            {
                "workflow": r.workflow_id,
                "revision": r.revision,
                "version": r.label_version,
                "loaded_at": r.loaded_at,
                "open": counts.get((r.workflow_id, r.revision), 0),
                "current": current.get(r.workflow_id) == r.revision,
            }
            for r in rows
            if workflow is None or r.workflow_id == workflow
        ]

    # ---- planning ------------------------------------------------------------------------
    def _request(
        self,
        new: CompiledWorkflow,
        mapping: Mapping[str, str],
        where: str | None,
        values: Mapping[str, Any],
        keep_deadline: bool,
    ) -> tuple[Request, list[Refusal]]:
        """The request compiled: the map checked, ``values`` coerced, ``where`` compiled."""
        refusals = check_map(mapping, new)
        fields, units = new.definition.fields, self.defs.directory.units or None
        coerced: dict[str, Any] = {}
        for key, value in values.items():
            if key not in fields:
                hint = did_you_mean(key, fields)
                msg = f"--set {key}: revision {new.revision} of {new.id} has no such field{hint}"
                refusals.append(Refusal("unknown-field", key, msg))
                continue
            try:
                coerced[key] = coerce(key, fields[key], value, units)
            except FieldValueError as exc:
                refusals.append(Refusal("invalid-value", key, f"--set {exc}"))
        try:
            expr = compile_expression(where) if where else None
        except ExpressionError as exc:
            raise ExpressionError(
                f"where {where!r}: {exc}", str(where), offset=exc.offset
            ) from None
        assert new.revision is not None
        request = Request(new.id, new.revision, dict(mapping), expr, coerced, keep_deadline)
        return request, refusals

    def _plan(
        self, request: Request, new: CompiledWorkflow, plan: MigrationPlan
    ) -> list[tuple[Refusal, int]]:
        """Fill ``plan`` with the cases to move; every refusal with its case."""
        store, now = self.rt.store, self.rt.now()
        refused: list[tuple[Refusal, int]] = []
        after = 0
        with store.read() as tx:
            while page := store.case_migration.open_cases(
                tx, request.workflow, request.to, after_id=after, limit=PAGE
            ):
                after = page[-1].id
                timers = store.case_migration.timers_of(tx, [r.id for r in page])
                for row in page:
                    plan.considered += 1
                    one = self._plan_one(request, new, row, timers.get(row.id, []), now)
                    if one is None:
                        plan.not_matching += 1
                    elif isinstance(one, CasePlan):
                        plan.cases.append(one)
                    else:
                        refused += [(r, row.id) for r in one]
        return refused

    def _plan_one(
        self,
        request: Request,
        new: CompiledWorkflow,
        row: CaseRecord,
        timers: list[TimerRecord],
        now: datetime,
    ) -> CasePlan | list[Refusal] | None:
        """One case's plan, its refusals, or None when ``where`` leaves it out."""
        if request.where is not None:
            try:
                if not self._matches(request.where, row, now):
                    return None
            except ExpressionError as exc:
                return [Refusal("where-failed", request.where.source, f"--where: {exc}")]
        clock = clock_of(row)
        start = clock.started_at
        fired = {
            t.name
            for t in timers
            if t.status == "done" and start is not None and t.done_at and t.done_at > start
        }
        snapshot = CaseSnapshot(
            row.id,
            row.revision,
            row.state,
            row.version,
            row.data or {},
            row.unit,
            row.entered_at or row.created_at,
            clock,
            row.title,
        )
        return plan_case(
            snapshot,
            new,
            self.defs.workflow(row.workflow_id, row.revision),
            mapping=request.mapping,
            values=request.values,
            keep_deadline=request.keep_deadline,
            calendar=self.rt.calendar,
            now=now,
            pending=[t.name for t in timers if t.status == "pending"],
            fired=fired,
            units=self.defs.directory.units or None,
        )

    def _matches(self, where: Expression, row: CaseRecord, now: datetime) -> bool:
        """Whether ``where`` holds for the case, seen as guards see it."""
        cal = self.rt.calendar
        view = view_of(row)
        context: dict[str, Any] = {
            "data": dict(view.data),
            "case": view.as_context(cal.tz),
            "now": local_time(now, cal.tz),
            "state": row.state,
            "unit": row.unit,
        }
        if "sla" in where.names:
            context["sla"] = sla_context(sla.view(clock_of(row), now, cal), tz=cal.tz)
        with evaluation_budget():
            return bool(where(context))

    # ---- applying ------------------------------------------------------------------------
    def _batch(
        self,
        request: Request,
        new: CompiledWorkflow,
        ids: list[int],
        actor: Actor,
        comment: str | None,
        origin: Origin | None,
        plan: MigrationPlan,
    ) -> None:
        """Move the cases of ``ids`` in one transaction (again from the top when a case
        changed under it, PostgreSQL)."""
        for _attempt in range(RETRIES):
            try:
                with self.rt.store.write() as tx:
                    moved, skipped = self._write(tx, request, new, ids, actor, comment, origin)
            except CaseMoved:
                continue
            plan.migrated += moved
            plan.skipped += skipped
            return
        raise GridflowError(f"a migration batch kept conflicting; gave up after {RETRIES} tries")

    def _write(
        self,
        tx: Tx,
        request: Request,
        new: CompiledWorkflow,
        ids: list[int],
        actor: Actor,
        comment: str | None,
        origin: Origin | None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Plan each case of ``ids`` as it is now and write the moves; (moved, skipped)."""
        store, now = self.rt.store, self.rt.now()
        rows = store.case_migration.lock_cases(tx, ids)
        timers = store.case_migration.timers_of(tx, ids)
        updates: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        origins: list[dict[str, Any]] = []
        new_timers: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for row in rows:
            if row.revision == request.to:
                continue  # moved by an earlier run (a rerun): nothing to do
            if row.closed_at is not None:
                skipped.append({"case_id": row.id, "reason": "closed since the plan"})
                continue
            one = self._plan_one(request, new, row, timers.get(row.id, []), now)
            if not isinstance(one, CasePlan):
                why = "no longer matches --where" if one is None else one[0].message
                skipped.append({"case_id": row.id, "reason": why})
                continue
            seq = row.version + 1
            facets = new.facet_columns(one.data)
            title_field = new.definition.title_field
            updates.append(
                {
                    "b_id": row.id,
                    "b_version": row.version,
                    "revision": request.to,
                    "state": one.to_state,
                    "version": seq,
                    "data": one.data,
                    "title": str(one.data.get(title_field) or row.title)
                    if title_field
                    else row.title,
                    "updated_at": now,
                    **facets,
                    **clock_columns(one.clock),
                }
            )
            note = f"revision {row.revision} → {request.to}" + (f": {comment}" if comment else "")
            steps.append(
                {
                    "case_id": row.id,
                    "seq": seq,
                    "trigger": migration.TRIGGER,
                    "from_state": row.state,
                    "to_state": one.to_state,
                    "actor": actor.id,
                    "role": None,
                    "comment": note,
                    "payload": _payload(one),
                    "at": now,
                    "late_by": None,
                    "actor_unit": None,
                    "elapsed_s": None,
                    "due_at": row.due_at,
                    "late_s": None,
                    **step_columns(row.workflow_id, row.unit, facets),
                }
            )
            if origin is not None:
                origins.append({**(origin_columns(origin) or {}), "case_id": row.id, "seq": seq})
            new_timers += [
                {
                    "case_id": row.id,
                    "entry_seq": seq,
                    "name": tm.name,
                    "kind": tm.kind,
                    "due_at": tm.due_at,
                    "provisional": tm.provisional,
                    "spec": tm.action,
                }
                for tm in one.created
            ]
        if not updates:
            return 0, skipped
        count = store.case_migration.update_cases(tx, updates)
        if count not in (len(updates), -1):
            raise CaseMoved(None)  # a case changed after it was read (PostgreSQL): again
        store.case_migration.cancel_pending(tx, [u["b_id"] for u in updates], now)
        store.cases.append_steps(tx, steps)
        store.case_migration.insert_origins(tx, origins)
        store.timers.insert(tx, new_timers)
        return len(updates), skipped


def _payload(plan: CasePlan) -> dict[str, Any]:
    """What the history row of a move records (JSON-native)."""
    out = plan.to_dict()
    del out["case_id"]
    return out


def _problems(found: list[tuple[Refusal, int | None]]) -> list[dict[str, Any]]:
    """Refusals grouped by (kind, subject): one entry each with its case count and ids."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for refusal, case_id in found:
        entry = grouped.setdefault(
            (refusal.kind, refusal.subject),
            {
                "kind": refusal.kind,
                "subject": refusal.subject,
                "message": refusal.message,
                "count": 0,
                "cases": [],
            },
        )
        if case_id is not None:
            entry["count"] += 1
            if len(entry["cases"]) < SAMPLE:
                entry["cases"].append(case_id)
    return list(grouped.values())
