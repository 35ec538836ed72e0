"""Every error as ``application/problem+json`` (RFC 9457), from the exception tree.

=====================================  ======  =============================================
error                                  status  members beside type/title/detail
=====================================  ======  =============================================
Unauthenticated                        401     (``WWW-Authenticate: Bearer``)
PermissionRefused                      403     ``permission``
RoleRefused                            403     ``needed``: role, org role, scope, unit
NotFound                               404     —
InvalidTrigger, GuardRefused           409     ``allowed``: what the caller may fire here
MigrationRefused                       409     ``problems``: every reason, with case counts
IdempotencyError (in flight)           409     —
Conflict (If-Match stale)              412     ``expected_version``, ``actual_version``
FileRefused                            413/415/422
MissingFields, FieldValueError,        422     ``errors``: one entry per field
  request validation, IdempotencyError
RateLimited                            429     ``retry_after`` (and the header)
anything else                          500     the request id only — never a trace (the
                                               middleware answers it; the log has the trace)
=====================================  ======  =============================================

Refusals are also written to the audit table (who tried what, why, from where): failed
authentications, 403s, the engine's refusals and the first 429 of an address.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridflow.drivers.http.context import api_of, client_address
from gridflow.errors import (
    CalendarNotCovered,
    Conflict,
    DefinitionError,
    FieldValueError,
    FileRefused,
    GridflowError,
    GuardRefused,
    IdempotencyError,
    InvalidTrigger,
    MigrationRefused,
    MissingFields,
    NotFound,
    PeriodError,
    PermissionRefused,
    RateLimited,
    Refused,
    ReportError,
    RoleRefused,
    TemplateError,
    Unauthenticated,
)
from gridflow.service.audit import Attempt

log = logging.getLogger("gridflow.http")
MEDIA = "application/problem+json"


def problem_type(name: str) -> str:
    return f"urn:gridflow:problem:{name}"


def response(
    request: Request,
    status: int,
    name: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(name),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update({k: v for k, v in members.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA)


def _field_errors(exc: MissingFields) -> list[dict[str, str]]:
    if exc.reasons:
        return [{"field": k, "message": v} for k, v in exc.reasons.items()]
    fields = exc.fields or ["data"]
    return [{"field": f, "message": str(exc)} for f in fields]


def _gridflow(request: Request, exc: GridflowError) -> JSONResponse:
    """The status and members an engine error maps to (see the module's table)."""
    if isinstance(exc, Unauthenticated):
        attempted = getattr(request.state, "auth_attempted", False)
        challenge = 'Bearer realm="gridflow"' + (', error="invalid_token"' if attempted else "")
        return response(request, 401, "unauthenticated", str(exc), {"WWW-Authenticate": challenge})
    if isinstance(exc, RateLimited):
        seconds = max(1, round(exc.retry_after))
        return response(
            request,
            429,
            "rate-limited",
            str(exc),
            {"Retry-After": str(seconds)},
            retry_after=seconds,
        )
    if isinstance(exc, PermissionRefused):
        return response(request, 403, "permission-refused", str(exc), permission=exc.needed)
    if isinstance(exc, RoleRefused):
        needed = api_of(request).engine.browse.needed(exc.case_id, exc.needed)
        return response(request, 403, "role-refused", str(exc), needed=needed)
    if isinstance(exc, InvalidTrigger):
        return response(request, 409, "invalid-trigger", str(exc), allowed=exc.allowed)
    if isinstance(exc, GuardRefused):
        return response(request, 409, "guard-refused", str(exc), allowed=_allowed(request, exc))
    if isinstance(exc, MissingFields):
        return response(request, 422, "invalid-fields", str(exc), errors=_field_errors(exc))
    if isinstance(exc, MigrationRefused):
        return response(request, 409, "migration-refused", str(exc), problems=exc.problems)
    if isinstance(exc, Refused):
        return response(request, 409, "refused", str(exc))
    if isinstance(exc, Conflict):
        return response(
            request,
            412,
            "stale-version",
            str(exc),
            expected_version=exc.expected,
            actual_version=exc.actual,
        )
    if isinstance(exc, NotFound):
        return response(request, 404, "not-found", str(exc))
    if isinstance(exc, IdempotencyError):
        if exc.in_flight:
            return response(request, 409, "idempotency-in-flight", str(exc))
        errors = [{"field": "Idempotency-Key", "message": str(exc)}]
        return response(request, 422, "idempotency-key-reused", str(exc), errors=errors)
    if isinstance(exc, FileRefused):
        status = {"too_large": 413, "type": 415}.get(exc.reason, 422)
        errors = [{"field": "file", "message": str(exc)}]
        return response(request, status, f"file-refused-{exc.reason}", str(exc), errors=errors)
    if isinstance(exc, (FieldValueError, PeriodError, DefinitionError, ReportError)):
        errors = [
            {"field": "data" if isinstance(exc, FieldValueError) else "query", "message": str(exc)}
        ]
        return response(request, 422, "invalid-value", str(exc), errors=errors)
    if isinstance(exc, CalendarNotCovered):
        return response(request, 409, "calendar-not-covered", str(exc))
    if isinstance(exc, TemplateError):
        log.error("template error: %s", exc)
        return response(request, 500, "internal", "a notice template failed; see the server log")
    return response(request, 409, "refused", str(exc))


def _allowed(request: Request, exc: GuardRefused) -> list[str] | None:
    caller = getattr(request.state, "actor", None)
    if exc.case_id is None or caller is None:
        return None
    try:
        return api_of(request).engine.available_triggers(exc.case_id, caller)
    except GridflowError:
        return None


def _audit(request: Request, exc: GridflowError, status: int) -> None:
    """Write a refused attempt to the audit table (never failing the answer)."""
    if isinstance(exc, Unauthenticated):
        if not getattr(request.state, "auth_attempted", False):
            return  # no credentials at all: nobody to name, nothing tried
        outcome = "unauthenticated"
    elif isinstance(exc, RateLimited):
        outcome = "rate_limited"
    elif isinstance(exc, (PermissionRefused, RoleRefused)):
        outcome = "forbidden"
    elif isinstance(exc, Refused):
        outcome = "refused"
    else:
        return
    principal = getattr(request.state, "principal", None)
    route = request.scope.get("route")
    try:
        api_of(request).engine.audit.refused(
            Attempt(
                outcome=outcome,
                status=status,
                action=f"{request.method} {getattr(route, 'path', request.url.path)}",
                reason=f"{exc.reason}: {exc}" if isinstance(exc, Unauthenticated) else str(exc),
                principal=getattr(principal, "id", None),
                token_id=getattr(principal, "token_id", None),
                on_behalf_of=getattr(request.state, "on_behalf_of", None),
                case_id=getattr(exc, "case_id", None) or request.path_params.get("case_id"),
                trigger=getattr(exc, "trigger", None),
                address=client_address(request),
                request_id=getattr(request.state, "request_id", None),
            )
        )
    except Exception:  # the audit must not turn a refusal into a server error
        log.exception("could not write the audit row")


def gridflow_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GridflowError)
    answer = _gridflow(request, exc)
    _audit(request, exc, answer.status_code)
    return answer


def validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        where = e.get("loc", ("body",))[0]
        errors.append({"field": ".".join(loc) or str(where), "message": str(e.get("msg", ""))})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return response(request, 422, "invalid-request", detail, errors=errors)


def http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    headers = dict(exc.headers or {})
    return response(request, exc.status_code, name, str(exc.detail), headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GridflowError, gridflow_handler)
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_handler)
