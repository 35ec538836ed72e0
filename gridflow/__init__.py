"""gridflow — a workflow engine for grassroots governance.

YAML-declared state machines (on ``transitions``), durable cases in SQL (SQLite or
PostgreSQL), SLA clocks in working days, and notices from Jinja templates::

    from gridflow import Engine
    engine = Engine("sqlite:///gridflow.db")
    case = engine.start("four_list", actor="wannan.chief", data={"title": "楼道堆物"})
    engine.fire(case.id, "accept", actor="wannan.chief")

Names are imported lazily so that ``import gridflow`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Engine": "gridflow.service.engine",
    "TickResult": "gridflow.service.engine",
    "Case": "gridflow.domain.cases",
    "Step": "gridflow.domain.cases",
    "SlaView": "gridflow.domain.cases",
    "Actor": "gridflow.domain.org",
    "Grant": "gridflow.domain.org",
    "Directory": "gridflow.domain.org",
    "SYSTEM": "gridflow.domain.org",
    "BusinessCalendar": "gridflow.domain.calendar",
    "Duration": "gridflow.domain.duration",
    "GridflowError": "gridflow.errors",
    "DefinitionError": "gridflow.errors",
    "Problem": "gridflow.errors",
    "NotFound": "gridflow.errors",
    "Refused": "gridflow.errors",
    "InvalidTrigger": "gridflow.errors",
    "RoleRefused": "gridflow.errors",
    "GuardRefused": "gridflow.errors",
    "MissingFields": "gridflow.errors",
    "Conflict": "gridflow.errors",
    "CalendarNotCovered": "gridflow.errors",
    "DeliveryError": "gridflow.errors",
    "load_workflow": "gridflow.domain.loader",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gridflow' has no attribute {name!r}")
    attr = "load_file" if name == "load_workflow" else name
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
