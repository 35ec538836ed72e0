"""Stored records read as domain values, and the columns a domain value is written as.

The service's parts share these: a case record becomes the ``CaseView`` the machine decides
on and the ``Clock`` the SLA maths runs; a clock and a case's facets become the columns the
store writes; an SLA view becomes what expressions and templates see as ``sla``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from gridflow.domain import sla
from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.cases import SlaView
from gridflow.domain.definition import Facets, Workflow
from gridflow.domain.machine import CaseView, CompiledWorkflow, local_time
from gridflow.storage.records import CaseRecord


def late_seconds(row: CaseRecord, now: datetime, calendar: BusinessCalendar) -> float | None:
    """Working seconds the case is past its running clock's deadline at ``now``."""
    if row.due_at is None or row.paused_at is not None or now <= row.due_at:
        return None
    return calendar.working_seconds(row.due_at, now) or 1.0


def step_columns(workflow_id: str, unit: str | None, facets: Mapping[str, Any]) -> dict[str, Any]:
    """What a history row records of its case: the workflow, the unit, and the facets
    (``tag``, ``party``, ``grade``) as the step left them."""
    return {
        "workflow_id": workflow_id,
        "case_unit": unit,
        **{f"case_{name}": value for name, value in facets.items()},
    }


def facets_of(row: CaseRecord) -> dict[str, Any]:
    """The facet columns of a case record."""
    return {name: getattr(row, name) for name in Facets.model_fields}


def view_of(row: CaseRecord) -> CaseView:
    """The case a record holds, for deciding and notifying. The data is not copied: readers
    only look at it, and ``decide`` copies it before changing anything."""
    return CaseView(
        row.id,
        row.state,
        row.version,
        row.data or {},
        row.unit,
        row.created_at,
        row.parent_id,
    )


def clock_of(row: CaseRecord) -> sla.Clock:
    """The SLA clock of the case's current state."""
    return sla.Clock(
        row.clock,
        row.clock_started_at,
        row.due_at,
        bool(row.due_provisional),
        row.paused_at,
        row.paused_remaining,
    )


def clock_columns(clock: sla.Clock) -> dict[str, Any]:
    """The case columns a clock is stored in."""
    return dict(
        clock=clock.name,
        clock_started_at=clock.started_at,
        due_at=clock.due_at,
        due_provisional=clock.provisional,
        paused_at=clock.paused_at,
        paused_remaining=clock.paused_remaining,
    )


def sla_context(view: SlaView | None, *, tz: tzinfo | None) -> dict[str, Any]:
    """What guards, checks and templates see as ``sla`` (all empty without a clock).

    ``tz``: the zone people read times in (the business calendar's, ``calendar.tz``):
    ``due`` is then a ``LocalTime`` in it — an aware datetime (guards compare it with
    ``now``) whose text is the local ``YYYY-MM-DD HH:MM``. None leaves ``due`` as stored
    (aware UTC)."""
    if view is None:
        return {
            "clock": None,
            "due": None,
            "remaining": None,
            "overdue": False,
            "overdue_by": None,
            "paused": False,
            "provisional": False,
            "started": None,
        }
    return {
        "clock": view.clock,
        "due": local_time(view.due, tz),
        "remaining": view.remaining,
        "overdue": view.overdue,
        "overdue_by": view.overdue_by,
        "paused": view.paused,
        "provisional": view.provisional,
        "started": None,
    }


def child_context(
    row: CaseRecord, workflow: Callable[[str, int], CompiledWorkflow]
) -> dict[str, Any]:
    """A child case as its parent's expressions see it (``children``)."""
    wf = workflow(row.workflow_id, row.revision)
    return {
        "id": row.id,
        "workflow": row.workflow_id,
        "state": row.state,
        "final": row.state in wf.finals,
        "data": dict(row.data or {}),
    }


def title_of(d: Workflow, view: CaseView) -> str:
    """The case's title: its title field, else the workflow's name and the case id."""
    if d.title_field and view.data.get(d.title_field):
        return str(view.data[d.title_field])
    return f"{d.title.zh} #{view.id}"
