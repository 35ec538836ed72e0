"""The exception tree. Every error gridflow raises on purpose is a ``GridflowError``.

    GridflowError
    ├── DefinitionError        a workflow / org / template file is wrong (carries every Problem)
    ├── NotFound               no such case, workflow, person, unit, notice
    │   └── TemplateNotFound   no notice template in any fallback language
    ├── Refused                the engine will not do what was asked
    │   ├── InvalidTrigger     the trigger does not exist or is not allowed in this state
    │   ├── RoleRefused        the actor lacks the role (or the unit scope) the transition needs
    │   ├── GuardRefused       a ``when`` guard or a ``check`` said no
    │   ├── MissingFields      the event did not supply what ``requires`` names / bad field values
    │   ├── Backdated          the step's time is before the case's last step
    │   └── MigrationRefused   open cases cannot be moved to a revision (every reason listed)
    ├── Conflict               optimistic concurrency: the case moved on since it was read
    ├── CalendarNotCovered     a working-time computation reached a year with no holiday data
    ├── TimeRangeError         a time computation left the years gridflow handles (1–9999)
    ├── DurationError          a duration that cannot be read or is too long (also a ``ValueError``)
    ├── InvalidArgument        an argument out of its range: a limit, an id (also a ``ValueError``)
    ├── StorageError           the database cannot be used: unreachable, read-only, damaged, full
    ├── DeliveryError          a notice channel failed (``permanent`` tells retry from dead letter)
    ├── ExpressionError        a guard / value expression does not compile or failed to evaluate
    ├── FieldValueError        a value does not fit its field's type (also a ``ValueError``)
    ├── TemplateError          rendering a notice template failed (``file``, ``line``)
    │   ├── TemplateSecurityError   the sandbox refused an operation
    │   └── TemplateLimitError      a resource cap was hit
    ├── PeriodError            a report period that cannot be read (also a ``ValueError``)
    ├── ReportError            a report could not be produced
    ├── Unauthenticated        no credentials, or credentials that do not hold (HTTP 401)
    ├── PermissionRefused      the principal lacks a permission, or may not see that (403)
    ├── RateLimited            too many failed authentications from one address (429)
    ├── IdempotencyError       an Idempotency-Key reused with another request, or in flight
    ├── FileRefused            an upload too large, of a refused type, or with an unsafe name
    ├── PasswordRefused        a new local password that fails the policy (too short …)
    └── CaseMoved              internal: the case changed between read and write; the engine
                               re-checks the event (never escapes ``Engine``)

Each carries its context as attributes, so callers (the CLI, an embedding app, the HTTP API)
never parse text. This module imports nothing of gridflow at import time: every ring may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class GridflowError(Exception):
    """Root of every gridflow error. ``str(err)`` is a complete sentence for a person."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One located mistake in a source file: ``FILE:LINE:COL: yaml.path: message``."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    path: str  # dotted YAML path, e.g. ``states.triage.sla.due``
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        path = f" {self.path}:" if self.path else ""
        tag = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}:{tag}{path} {self.message}"


class DefinitionError(GridflowError):
    """A definition file has one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{len(errors)} error(s)" if errors else "no errors"
        super().__init__(head + ":\n" + "\n".join(str(p) for p in self.problems))


class NotFound(GridflowError):
    """``kind`` (case, workflow, person, unit …) with ``key`` does not exist."""

    def __init__(self, kind: str, key: object, known: Iterable[str] = ()):
        self.kind, self.key = kind, key
        from gridflow.domain.suggest import did_you_mean

        hint = did_you_mean(str(key), known)
        super().__init__(f"no {kind} {key!r}{hint}")


class TemplateNotFound(NotFound):
    """No template for the notice in any fallback language; ``looked_for`` lists the names."""

    def __init__(self, key: str, looked_for: list[str], known: Iterable[str] = ()):
        self.looked_for = list(looked_for)
        super().__init__("notice template", key, known)
        if looked_for:
            self.args = (f"{self.args[0]}; looked for {', '.join(looked_for)}",)


class Refused(GridflowError):
    """The engine refused an event. ``case_id``, ``trigger`` and ``state`` say which."""

    def __init__(
        self,
        message: str,
        *,
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ):
        self.case_id, self.trigger, self.state = case_id, trigger, state
        super().__init__(message)


class InvalidTrigger(Refused):
    """``allowed``: the triggers the actor may fire in this state; ``defined``: every
    trigger people may fire in it (for other roles too); both empty in a final state, or in
    one only the system moves on (``final=False``)."""

    def __init__(
        self,
        *,
        case_id: int | None,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        defined: Sequence[str] | None = None,
        actor: str | None = None,
        final: bool = True,
    ):
        self.allowed = list(allowed)
        self.defined = list(self.allowed if defined is None else defined)
        if self.allowed:
            allowed_txt = ", ".join(self.allowed)
        elif self.defined:
            allowed_txt = (
                f"nothing for {actor or 'this actor'} (other roles may: {', '.join(self.defined)})"
            )
        elif final:
            allowed_txt = "nothing (final state)"
        else:
            allowed_txt = "nothing by hand (the system moves it on)"
        super().__init__(
            f"cannot {trigger!r} case {case_id} in state {state!r}; allowed here: {allowed_txt}",
            case_id=case_id,
            trigger=trigger,
            state=state,
        )


class RoleRefused(Refused):
    """``actor`` holds none of the roles in ``needed`` (in the scope the case asks for)."""

    def __init__(
        self,
        message: str,
        *,
        actor: str,
        needed: Sequence[str],
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ):
        self.actor, self.needed = actor, list(needed)
        super().__init__(message, case_id=case_id, trigger=trigger, state=state)


class GuardRefused(Refused):
    """A ``when`` guard or a ``checks`` entry (``guard``: its source) said no."""

    def __init__(
        self,
        message: str,
        *,
        guard: str | None = None,
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ):
        self.guard = guard
        super().__init__(message, case_id=case_id, trigger=trigger, state=state)


class MissingFields(Refused):
    """``fields``: the required fields the event (or the start) did not supply (or the
    payload fields it refused); ``reasons``: field → what is wrong with it, when known."""

    def __init__(
        self,
        message: str,
        *,
        fields: Sequence[str],
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
        reasons: Mapping[str, str] | None = None,
    ):
        self.fields = list(fields)
        # what is wrong with each field, when known (``{field: message}``)
        self.reasons: dict[str, str] = dict(reasons or {})
        super().__init__(message, case_id=case_id, trigger=trigger, state=state)


class Backdated(Refused):
    """A step would be recorded at ``at``, before the case's last step (``last_at``): time in a
    case's history only moves forward (a wrong clock, a backdating ``GRIDFLOW_NOW``)."""

    def __init__(
        self,
        message: str,
        *,
        at: object,
        last_at: object,
        case_id: int | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ):
        self.at, self.last_at = at, last_at
        super().__init__(message, case_id=case_id, trigger=trigger, state=state)


class Conflict(GridflowError):
    """The case changed since the caller read it (``expected`` vs ``actual`` version)."""

    def __init__(self, case_id: int, expected: int, actual: int):
        self.case_id, self.expected, self.actual = case_id, expected, actual
        super().__init__(
            f"case {case_id} is at version {actual}, not {expected}: "
            "someone else moved it first; reload and try again"
        )


class MigrationRefused(Refused):
    """Moving open cases onto another revision was refused before anything changed.

    ``workflow`` and ``revision`` (the target) say which; ``problems`` lists every reason,
    each a dict: ``kind`` (``unmapped-state``, ``unknown-target``, ``final-target``,
    ``required-field``, ``invalid-value``, ``unknown-field``, ``where-failed``), ``subject``
    (the state or field), ``count`` (cases it concerns), ``cases`` (the first few ids) and
    ``message``."""

    def __init__(self, workflow: str, revision: int, problems: Sequence[Mapping[str, Any]]):
        self.workflow, self.revision = workflow, revision
        self.problems = [dict(p) for p in problems]
        parts = []
        for p in self.problems:
            count, ids = p.get("count"), p.get("cases") or []
            cases = f" ({count} case(s): {', '.join(f'#{i}' for i in ids)})" if count else ""
            parts.append(f"{p['message']}{cases}")
        super().__init__(
            f"cannot migrate {workflow} to revision {revision}, nothing changed: "
            + "; ".join(parts)
        )


class CalendarNotCovered(GridflowError):
    """Holiday data does not cover ``year``; working-day maths there would be a guess."""

    def __init__(self, year: int, covered: tuple[int, int] | None = None):
        self.year, self.covered = year, covered
        span = f" (covered: {covered[0]}–{covered[1]})" if covered else ""
        super().__init__(
            f"the business calendar has no holiday data for {year}{span}; "
            "add the year to the calendar override file or update chinesecalendar"
        )


class TimeRangeError(GridflowError, ValueError):
    """A time computation (a deadline, working time between two instants) would leave the
    calendar years gridflow handles, 1–9999; ``start`` and ``what`` say which."""

    def __init__(self, message: str, *, start: object = None, what: str = ""):
        self.start, self.what = start, what
        super().__init__(message)


class DurationError(GridflowError, ValueError):
    """A duration that cannot be read (``5wds``, ``-1wd``, no unit) or is longer than gridflow
    accepts (``99999999wd``); the message names the limit."""


class InvalidArgument(GridflowError, ValueError):
    """An argument outside its range: ``name``, the ``value`` given, and what is ``allowed``
    (a ``limit`` of 2**70, an id past 2**63 - 1, a negative offset)."""

    def __init__(self, name: str, value: object, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:29] + "…"
        super().__init__(f"{name} {shown} is out of range: {allowed}")


class StorageError(GridflowError):
    """The database cannot be used as asked: ``url`` (password hidden) and ``reason`` — it
    cannot be reached, is read-only, damaged, full, or of a newer schema. One line; the
    driver's own exception is the ``__cause__``."""

    def __init__(self, message: str, *, url: str = "", reason: str = ""):
        self.url, self.reason = url, reason
        super().__init__(message)


class DeliveryError(GridflowError):
    """A channel could not deliver: ``permanent`` → dead letter, else retry (after
    ``retry_after`` seconds when the peer said so); ``disable_endpoint`` (HTTP 410) switches
    the endpoint off."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        disable_endpoint: bool = False,
    ):
        self.permanent, self.retry_after = permanent, retry_after
        self.disable_endpoint = disable_endpoint
        super().__init__(message)


class ExpressionError(GridflowError):
    """An expression does not compile, or failed while evaluating (over its budget, refused
    by the sandbox, a type error …); ``source`` is its text, ``offset`` (when known) where in
    it the problem starts (a character index)."""

    def __init__(self, message: str, source: str, *, offset: int | None = None):
        self.source, self.offset = source, offset
        super().__init__(message)


class FieldValueError(GridflowError, ValueError):
    """A value does not fit its field's type (the message names the field and the type)."""


class TemplateError(GridflowError):
    """Rendering a notice template failed; ``file`` and ``line`` say where (when known)."""

    def __init__(self, message: str, *, file: str | None = None, line: int = 0):
        self.file, self.line = file, line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message)


class TemplateSecurityError(TemplateError):
    """The sandbox refused an operation (an escape attempt); ``__cause__`` is the
    sandbox's own error."""


class TemplateLimitError(TemplateError):
    """A resource cap was hit (output size, value size, range, steps, recursion)."""


class PeriodError(GridflowError, ValueError):
    """A period that cannot be read (``2026Q5``, ``--from`` after ``--to``…)."""


class ReportError(GridflowError):
    """A report could not be produced (bad language, template problem, unwritable file)."""


class CaseMoved(GridflowError):
    """Internal: the case's version changed between read and write (PostgreSQL, READ
    COMMITTED); the engine re-checks the event against the newer case. Never escapes."""

    def __init__(self, case_id: int | None = None):
        self.case_id = case_id
        super().__init__(f"case {case_id} moved on while the event was written")


class Unauthenticated(GridflowError):
    """No credentials, or credentials that do not hold (unknown, revoked or expired token, a
    JWT that fails validation, a principal no longer in the directory). ``reason`` says which
    for the logs and the audit table; a client is told no more than the message."""

    def __init__(self, message: str, *, reason: str = "invalid"):
        self.reason = reason
        super().__init__(message)


class PermissionRefused(GridflowError):
    """``principal`` lacks ``needed`` (a permission such as ``admin``, a grant to act on
    another's behalf, or sight of a case or unit)."""

    def __init__(self, message: str, *, principal: str | None, needed: str):
        self.principal, self.needed = principal, needed
        super().__init__(message)


class RateLimited(GridflowError):
    """Too many failed authentications from ``address``; try again after ``retry_after``
    seconds."""

    def __init__(self, address: str, retry_after: float):
        self.address, self.retry_after = address, retry_after
        super().__init__(
            f"too many failed authentications from {address}; try again in "
            f"{max(1, round(retry_after))} s"
        )


class IdempotencyError(GridflowError):
    """An ``Idempotency-Key`` used again with a different request (``in_flight`` False), or
    while its first request is still running (``in_flight`` True)."""

    def __init__(self, message: str, *, key: str, in_flight: bool = False):
        self.key, self.in_flight = key, in_flight
        super().__init__(message)


class FileRefused(GridflowError):
    """An upload refused: ``reason`` is ``too_large`` (``limit`` bytes), ``type`` (the sniffed
    ``content_type`` is not allowed) or ``name`` (an unsafe file name)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        limit: int | None = None,
        content_type: str | None = None,
    ):
        self.reason, self.limit, self.content_type = reason, limit, content_type
        super().__init__(message)


class PasswordRefused(GridflowError):
    """A new local password refused by the policy: ``reason`` is ``too_short`` (``limit``
    characters at least), ``too_long`` or ``is_name`` (the person's id or name)."""

    def __init__(self, message: str, *, reason: str, limit: int | None = None):
        self.reason, self.limit = reason, limit
        super().__init__(message)
