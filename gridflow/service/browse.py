"""Lists of cases and the inbox (service ring), under a principal's visibility scope.

``page`` is a keyset page, newest first: the cursor is the last id shown, and the next page
holds the cases with smaller ids — cases started meanwhile (larger ids) never shift it.
``inbox`` is the open cases a principal can act on now (a role reaching the case for a
trigger of its state), overdue first, then by deadline, then the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gridflow.domain.access import CaseScope
from gridflow.domain.actions import Action, actions_for, needed_for
from gridflow.domain.cases import Case
from gridflow.domain.machine import CaseView
from gridflow.domain.org import Actor
from gridflow.service.definitions import Definitions
from gridflow.service.queries import CaseReader
from gridflow.service.runtime import Runtime
from gridflow.service.views import view_of
from gridflow.storage.browse import CaseFilter

MAX_PAGE = 200
INBOX_SCAN = 2000  # open visible cases looked at for one inbox
FACETS = ("workflow_id", "state", "tag", "party", "grade")


@dataclass(frozen=True)
class Page:
    cases: list[Case]
    next_cursor: int | None  # the id to ask ``before`` with; None: this was the last page
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class InboxItem:
    case: Case
    actions: list[Action]


class Browse:
    """Pages of cases; facet counts; the inbox."""

    def __init__(self, rt: Runtime, defs: Definitions, reader: CaseReader):
        self.rt, self.defs, self.reader = rt, defs, reader

    def filter(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        unit: str | None = None,
        text: str | None = None,
        closed: bool | None = None,
        overdue: bool = False,
        due_before: datetime | None = None,
        tag: str | None = None,
        party: str | None = None,
        grade: str | None = None,
    ) -> CaseFilter:
        return CaseFilter(
            workflow=workflow,
            state=state,
            unit_path=self.defs.directory.path(unit) if unit else None,
            text=text,
            closed=closed,
            overdue_at=self.rt.now() if overdue else None,
            due_before=due_before,
            tag=tag,
            party=party,
            grade=grade,
        )

    def page(
        self,
        scope: CaseScope,
        f: CaseFilter,
        *,
        before: int | None = None,
        limit: int = 50,
        counts: bool = False,
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        store = self.rt.store
        with store.read() as tx:
            rows = store.browse.page(tx, f, scope, before_id=before, limit=limit + 1)
            by = store.browse.counts(tx, f, scope, FACETS) if counts else {}
        more = len(rows) > limit
        rows = rows[:limit]
        cases = [self.reader.case(r) for r in rows]
        return Page(cases, rows[-1].id if more and rows else None, by)

    def actions_on(self, case: Case, actor: Actor) -> list[Action]:
        """What ``actor`` may do on ``case`` (as just read or written), without a read."""
        wf = self.defs.workflow(case.workflow, case.revision)
        view = CaseView(
            case.id, case.state, case.version, case.data, case.unit, case.created_at, case.parent_id
        )
        return actions_for(wf, view, actor, self.defs.directory)

    def actions(self, case_id: int, actor: Actor) -> list[Action]:
        """What ``actor`` may do on the case now, with the fields each action needs."""
        with self.rt.store.read() as tx:
            row = self.rt.store.cases.load(tx, case_id)
        if row is None:
            return []
        wf = self.defs.workflow(row.workflow_id, row.revision)
        return actions_for(wf, view_of(row), actor, self.defs.directory)

    def needed(self, case_id: int | None, roles: list[str]) -> list[dict[str, str | None]]:
        """The roles a refusal names, each with its org role, scope and the unit it must be
        held at for case ``case_id`` (without a case: no unit)."""
        row = None
        if case_id is not None:
            with self.rt.store.read() as tx:
                row = self.rt.store.cases.load(tx, case_id)
        if row is None:
            return [{"role": r, "org_role": r, "scope": "unit", "unit": None} for r in roles]
        wf = self.defs.workflow(row.workflow_id, row.revision)
        return [
            {"role": n.role, "org_role": n.org_role, "scope": n.scope, "unit": n.unit}
            for n in needed_for(wf, view_of(row), roles, self.defs.directory)
        ]

    def inbox(self, scope: CaseScope, actor: Actor, limit: int = 50) -> list[InboxItem]:
        """Open cases ``actor`` may act on now: overdue first (most overdue first), then by
        deadline, then those without one (oldest first)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self.rt.store.read() as tx:
            rows = self.rt.store.browse.open_visible(tx, scope, INBOX_SCAN)
        directory = self.defs.directory
        items = []
        for row in rows:
            wf = self.defs.workflow(row.workflow_id, row.revision)
            actions = actions_for(wf, view_of(row), actor, directory)
            if actions:
                items.append(InboxItem(self.reader.case(row), actions))
                if len(items) >= limit:
                    break
        return items
