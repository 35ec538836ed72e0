"""Errors on workbench pages as pages (driver ring); the API keeps its problem+json.

The app's exception handlers are wrapped: a request under ``/api/`` (or ``/livez``,
``/readyz``, ``/metrics``) is answered by the API's handler as before; any other gets an
HTML page in the viewer's language — the sign-in page for a missing or ended session (303
to ``/login?next=…``; ``HX-Redirect`` for htmx), 403 for what the viewer may not see or do
(written to the audit table, channel ``web``), 404, 422, 429 with ``Retry-After``, and the
engine's own sentence for any other refusal. Never a trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridflow.drivers.http.context import client_address
from gridflow.drivers.web.context import is_htmx, lang_of, web_of
from gridflow.drivers.web.i18n import t
from gridflow.drivers.web.render import page
from gridflow.errors import (
    GridflowError,
    NotFound,
    PermissionRefused,
    RateLimited,
    RoleRefused,
    Unauthenticated,
)
from gridflow.service.audit import Attempt

log = logging.getLogger("gridflow.web")
API_PREFIXES = ("/api/", "/livez", "/readyz", "/metrics")


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _audit_forbidden(request: Request, exc: GridflowError) -> None:
    principal = getattr(request.state, "principal", None)
    try:
        web_of(request).engine.audit.refused(
            Attempt(
                outcome="forbidden",
                status=403,
                action=f"{request.method} {request.url.path}"[:300],
                reason=str(exc),
                principal=getattr(principal, "id", None),
                channel="web",
                address=client_address(request),
                request_id=getattr(request.state, "request_id", None),
            )
        )
    except Exception:  # the audit must not turn a refusal into a server error
        log.exception("could not write the audit row")


def error_page(request: Request, exc: Exception) -> Response:
    """The page for ``exc`` (see the module docstring)."""
    lang = lang_of(request)
    if isinstance(exc, Unauthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = "/login?next=" + quote(target if request.method == "GET" else "/", safe="/")
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": login})
        return RedirectResponse(login, status_code=303)
    status, title, message, headers = 409, t("refused", lang), str(exc), {}
    if isinstance(exc, (PermissionRefused, RoleRefused)):
        status, title = 403, t("forbidden", lang)
        _audit_forbidden(request, exc)
    elif isinstance(exc, NotFound):
        status, title = 404, t("not_found", lang)
    elif isinstance(exc, RateLimited):
        seconds = max(1, round(exc.retry_after))
        status, title, headers = 429, t("refused", lang), {"Retry-After": str(seconds)}
    elif isinstance(exc, RequestValidationError):
        status, title = 422, t("error", lang)
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        )
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        title = t("not_found", lang) if status == 404 else t("error", lang)
        message = str(exc.detail)
    elif not isinstance(exc, GridflowError):
        status, title, message = 500, t("error", lang), ""
    return page(request, "error.html", status=status, headers=headers, title=title, message=message)


def install(app: FastAPI) -> None:
    """Route errors outside the API to :func:`error_page`."""
    for kind in (GridflowError, RequestValidationError, StarletteHTTPException):
        original: Callable[..., Any] | None = app.exception_handlers.get(kind)

        def handler(request: Request, exc: Exception, original: Any = original) -> Any:
            if is_api(request.url.path) and original is not None:
                return original(request, exc)
            return error_page(request, exc)

        app.add_exception_handler(kind, handler)
