"""Reading case rows into domain values (storage → domain), shared by the engine's parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridflow.domain import sla
from gridflow.domain.definition import Facets
from gridflow.domain.machine import CaseView


def late_seconds(row, now: datetime, calendar) -> float | None:
    """Working seconds the case is past its running clock's deadline at ``now``."""
    if row.due_at is None or row.paused_at is not None or now <= row.due_at:
        return None
    return calendar.working_seconds(row.due_at, now) or 1.0


def step_columns(workflow_id: str, unit: str | None, facets: dict[str, Any]) -> dict[str, Any]:
    """What a history row records of its case: the workflow, the unit, and the facets
    (``tag``, ``party``, ``grade``) as the step left them."""
    return {
        "workflow_id": workflow_id,
        "case_unit": unit,
        **{f"case_{name}": value for name, value in facets.items()},
    }


def facets_of(row) -> dict[str, Any]:
    """The facet columns of a case row."""
    return {name: getattr(row, name) for name in Facets.model_fields}


def view_of(row) -> CaseView:
    """The case a row holds, for deciding and notifying. The data is not copied: readers only
    look at it, and ``decide`` copies it before changing anything."""
    return CaseView(
        row.id,
        row.state,
        row.version,
        row.data or {},
        row.unit,
        row.created_at,
        row.parent_id,
    )


def clock_of(row) -> sla.Clock:
    return sla.Clock(
        row.clock,
        row.clock_started_at,
        row.due_at,
        bool(row.due_provisional),
        row.paused_at,
        row.paused_remaining,
    )


def clock_columns(clock: sla.Clock) -> dict[str, Any]:
    return dict(
        clock=clock.name,
        clock_started_at=clock.started_at,
        due_at=clock.due_at,
        due_provisional=clock.provisional,
        paused_at=clock.paused_at,
        paused_remaining=clock.paused_remaining,
    )


def sla_context(view) -> dict[str, Any]:
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
        "due": view.due,
        "remaining": view.remaining,
        "overdue": view.overdue,
        "overdue_by": view.overdue_by,
        "paused": view.paused,
        "provisional": view.provisional,
        "started": None,
    }


def child_context(row, engine) -> dict[str, Any]:
    wf = engine.workflow(row.workflow_id, row.revision)
    return {
        "id": row.id,
        "workflow": row.workflow_id,
        "state": row.state,
        "final": row.state in wf.finals,
        "data": dict(row.data or {}),
    }


def title_of(d, view: CaseView) -> str:
    if d.title_field and view.data.get(d.title_field):
        return str(view.data[d.title_field])
    return f"{d.title.zh} #{view.id}"
