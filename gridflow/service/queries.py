"""Reading cases: one case, its history and children, searches, what an actor may do."""

from __future__ import annotations

from dataclasses import astuple

from gridflow.domain import sla
from gridflow.domain.cases import Case, Origin, Step
from gridflow.domain.org import Actor
from gridflow.errors import NotFound
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_of, title_of, view_of
from gridflow.storage.records import CaseRecord, OriginRecord, StepRecord


class CaseReader:
    """Read transactions over cases, answered as the public shapes ``Case`` and ``Step``."""

    def __init__(self, rt: Runtime, defs: Definitions):
        self.rt, self.defs = rt, defs

    def get(self, case_id: int, *, with_children: bool = False) -> Case:
        store = self.rt.store
        with store.read() as tx:
            row = store.cases.load(tx, case_id)
            if row is None:
                raise NotFound("case", case_id)
            kids = store.cases.children(tx, case_id) if with_children else []
        return self.case(row, [self.case(k) for k in kids])

    def history(self, case_id: int) -> list[Step]:
        store = self.rt.store
        with store.read() as tx:
            if store.cases.load(tx, case_id) is None:
                raise NotFound("case", case_id)
            rows = store.cases.history(tx, case_id)
            origins = store.cases.origins(tx, case_id)
        return [step(r, origins.get(r.seq)) for r in rows]

    def children(self, case_id: int) -> list[Case]:
        with self.rt.store.read() as tx:
            return [self.case(r) for r in self.rt.store.cases.children(tx, case_id)]

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
        unit_path = self.defs.directory.path(unit) if unit else None
        with self.rt.store.read() as tx:
            rows = self.rt.store.cases.find(
                tx,
                workflow=workflow,
                state=state,
                unit_path=unit_path,
                text=text,
                open_only=open_only,
                overdue_at=self.rt.now() if overdue else None,
                limit=limit,
                offset=offset,
            )
        return [self.case(r) for r in rows]

    def available_triggers(self, case_id: int, actor: Actor) -> list[str]:
        """Triggers ``actor`` holds a role for in the case's current state — never one only
        the system fires (timers, fan-in), nor one whose ``max`` the case has reached."""
        store = self.rt.store
        with store.read() as tx:
            row = store.cases.load(tx, case_id)
            if row is None:
                raise NotFound("case", case_id)
            wf = self.defs.workflow(row.workflow_id, row.revision)
            limited = [t for t in wf.triggers_from(row.state) if t in wf.limited]
            taken = store.cases.step_counts(tx, case_id, limited) if limited else None
        return wf.allowed_for(view_of(row), actor, self.defs.directory, taken)

    def case(self, row: CaseRecord, children: list[Case] | None = None) -> Case:
        """The public shape of a case record, its SLA seen as of now."""
        wf = self.defs.workflow(row.workflow_id, row.revision)
        state = wf.definition.states.get(row.state)
        label = state.label.get("zh-CN") if state and state.label else row.state
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
            sla.view(clock_of(row), self.rt.now(), self.rt.calendar)
            if row.clock is not None and row.due_at is not None
            else None,
            children or [],
        )


def step(r: StepRecord, origin: OriginRecord | None = None) -> Step:
    """The public shape of a history record (and where it came from)."""
    return Step(
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
        None if origin is None else Origin(*astuple(origin)[2:]),
    )
