"""gridflow — a workflow engine for grassroots governance.

YAML-declared state machines (on ``transitions``), durable cases in SQL (SQLite or
PostgreSQL), SLA clocks in working days, and notices from Jinja templates::

    from gridflow import Engine
    engine = Engine("sqlite:///gridflow.db")
    case = engine.start("four_list", actor="wannan.chief", data={"title": "楼道堆物"})
    engine.fire(case.id, "accept", actor="wannan.chief")

The public names are listed in ``__all__`` (a test keeps it true); they are imported lazily
so that ``import gridflow`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "Engine": ("gridflow.service.engine", "Engine"),
    "TickResult": ("gridflow.service.timers", "TickResult"),
    "Dispatcher": ("gridflow.service.outbox", "Dispatcher"),
    "DispatchResult": ("gridflow.service.outbox", "DispatchResult"),
    "Case": ("gridflow.domain.cases", "Case"),
    "Step": ("gridflow.domain.cases", "Step"),
    "SlaView": ("gridflow.domain.cases", "SlaView"),
    "Actor": ("gridflow.domain.org", "Actor"),
    "Grant": ("gridflow.domain.org", "Grant"),
    "Directory": ("gridflow.domain.org", "Directory"),
    "SYSTEM": ("gridflow.domain.org", "SYSTEM"),
    "BusinessCalendar": ("gridflow.domain.calendar", "BusinessCalendar"),
    "Duration": ("gridflow.domain.duration", "Duration"),
    "Period": ("gridflow.domain.period", "Period"),
    "OutboundNotice": ("gridflow.domain.notice", "OutboundNotice"),
    "Channel": ("gridflow.domain.notice", "Channel"),
    "load_workflow": ("gridflow.domain.loader", "load_file"),
    "load_org": ("gridflow.domain.org_loader", "load_org_file"),
    "GridflowError": ("gridflow.errors", "GridflowError"),
    "Problem": ("gridflow.errors", "Problem"),
    "DefinitionError": ("gridflow.errors", "DefinitionError"),
    "NotFound": ("gridflow.errors", "NotFound"),
    "TemplateNotFound": ("gridflow.errors", "TemplateNotFound"),
    "Refused": ("gridflow.errors", "Refused"),
    "InvalidTrigger": ("gridflow.errors", "InvalidTrigger"),
    "RoleRefused": ("gridflow.errors", "RoleRefused"),
    "GuardRefused": ("gridflow.errors", "GuardRefused"),
    "MissingFields": ("gridflow.errors", "MissingFields"),
    "Conflict": ("gridflow.errors", "Conflict"),
    "CalendarNotCovered": ("gridflow.errors", "CalendarNotCovered"),
    "DeliveryError": ("gridflow.errors", "DeliveryError"),
    "ExpressionError": ("gridflow.errors", "ExpressionError"),
    "FieldValueError": ("gridflow.errors", "FieldValueError"),
    "TemplateError": ("gridflow.errors", "TemplateError"),
    "TemplateSecurityError": ("gridflow.errors", "TemplateSecurityError"),
    "TemplateLimitError": ("gridflow.errors", "TemplateLimitError"),
    "PeriodError": ("gridflow.errors", "PeriodError"),
    "ReportError": ("gridflow.errors", "ReportError"),
    # the HTTP API's refusals (#13)
    "Unauthenticated": ("gridflow.errors", "Unauthenticated"),
    "PermissionRefused": ("gridflow.errors", "PermissionRefused"),
    "RateLimited": ("gridflow.errors", "RateLimited"),
    "IdempotencyError": ("gridflow.errors", "IdempotencyError"),
    "FileRefused": ("gridflow.errors", "FileRefused"),
    "Principal": ("gridflow.service.principals", "Principal"),
    "Backdated": ("gridflow.errors", "Backdated"),
    "TimeRangeError": ("gridflow.errors", "TimeRangeError"),
    "DurationError": ("gridflow.errors", "DurationError"),
    "InvalidArgument": ("gridflow.errors", "InvalidArgument"),
    "StorageError": ("gridflow.errors", "StorageError"),
    # the web workbench's (#14)
    "PasswordRefused": ("gridflow.errors", "PasswordRefused"),
    # moving open cases onto a new workflow revision (#16)
    "MigrationRefused": ("gridflow.errors", "MigrationRefused"),
    "MigrationPlan": ("gridflow.service.migrations", "MigrationPlan"),
}
__all__ = [
    "SYSTEM",
    "Actor",
    "Backdated",
    "BusinessCalendar",
    "CalendarNotCovered",
    "Case",
    "Channel",
    "Conflict",
    "DefinitionError",
    "DeliveryError",
    "Directory",
    "DispatchResult",
    "Dispatcher",
    "Duration",
    "DurationError",
    "Engine",
    "ExpressionError",
    "FieldValueError",
    "FileRefused",
    "Grant",
    "GridflowError",
    "GuardRefused",
    "IdempotencyError",
    "InvalidArgument",
    "InvalidTrigger",
    "MigrationPlan",
    "MigrationRefused",
    "MissingFields",
    "NotFound",
    "OutboundNotice",
    "PasswordRefused",
    "Period",
    "PeriodError",
    "PermissionRefused",
    "Principal",
    "Problem",
    "RateLimited",
    "Refused",
    "ReportError",
    "RoleRefused",
    "SlaView",
    "Step",
    "StorageError",
    "TemplateError",
    "TemplateLimitError",
    "TemplateNotFound",
    "TemplateSecurityError",
    "TickResult",
    "TimeRangeError",
    "Unauthenticated",
    "__version__",
    "load_org",
    "load_workflow",
]

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from gridflow.domain.calendar import BusinessCalendar
    from gridflow.domain.cases import Case, SlaView, Step
    from gridflow.domain.duration import Duration
    from gridflow.domain.loader import load_file as load_workflow
    from gridflow.domain.notice import Channel, OutboundNotice
    from gridflow.domain.org import SYSTEM, Actor, Directory, Grant
    from gridflow.domain.org_loader import load_org_file as load_org
    from gridflow.domain.period import Period
    from gridflow.errors import (
        Backdated,
        CalendarNotCovered,
        Conflict,
        DefinitionError,
        DeliveryError,
        DurationError,
        ExpressionError,
        FieldValueError,
        FileRefused,
        GridflowError,
        GuardRefused,
        IdempotencyError,
        InvalidArgument,
        InvalidTrigger,
        MigrationRefused,
        MissingFields,
        NotFound,
        PasswordRefused,
        PeriodError,
        PermissionRefused,
        Problem,
        RateLimited,
        Refused,
        ReportError,
        RoleRefused,
        StorageError,
        TemplateError,
        TemplateLimitError,
        TemplateNotFound,
        TemplateSecurityError,
        TimeRangeError,
        Unauthenticated,
    )
    from gridflow.service.engine import Engine
    from gridflow.service.migrations import MigrationPlan
    from gridflow.service.outbox import Dispatcher, DispatchResult
    from gridflow.service.principals import Principal
    from gridflow.service.timers import TickResult


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'gridflow' has no attribute {name!r}")
    module, attr = target
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
