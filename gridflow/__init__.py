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
    "Engine": "gridflow.engine.engine",
    "TickResult": "gridflow.engine.engine",
    "Case": "gridflow.engine.cases",
    "Step": "gridflow.engine.cases",
    "SlaView": "gridflow.engine.cases",
    "Actor": "gridflow.engine.org",
    "Grant": "gridflow.engine.org",
    "Directory": "gridflow.engine.org",
    "SYSTEM": "gridflow.engine.org",
    "BusinessCalendar": "gridflow.engine.calendar",
    "Duration": "gridflow.engine.duration",
    "GridflowError": "gridflow.engine.errors",
    "DefinitionError": "gridflow.engine.errors",
    "Problem": "gridflow.engine.errors",
    "NotFound": "gridflow.engine.errors",
    "Refused": "gridflow.engine.errors",
    "InvalidTrigger": "gridflow.engine.errors",
    "RoleRefused": "gridflow.engine.errors",
    "GuardRefused": "gridflow.engine.errors",
    "MissingFields": "gridflow.engine.errors",
    "Conflict": "gridflow.engine.errors",
    "CalendarNotCovered": "gridflow.engine.errors",
    "DeliveryError": "gridflow.engine.errors",
    "load_workflow": "gridflow.engine.loader",
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
