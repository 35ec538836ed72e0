"""``/livez``, ``/readyz``, ``/metrics``: for the orchestrator and Prometheus.

``/livez`` answers while the process serves. ``/readyz`` is 200 when the database answers,
its schema is the version this code writes, and workflows are loaded; 503 otherwise. Both
need no credentials, nor does ``/metrics`` unless ``[http] metrics_public = false`` (then an
``admin`` principal's bearer token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST

from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import api_of, bearer

router = APIRouter(tags=["ops"])


@router.get("/livez", response_model=s.Health)
def livez() -> s.Health:
    """The process is up."""
    return s.Health(status="ok")


@router.get(
    "/readyz",
    response_model=s.Health,
    responses={503: {"model": s.Health, "description": "not ready (the checks say why)"}},
)
def readyz(request: Request) -> JSONResponse:
    """Database reachable, schema version, definitions loaded."""
    ready = api_of(request).engine.ops.readiness()
    body = s.Health(status="ok" if ready.ready else "not ready", checks=ready.checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        401: {"model": s.Problem, "description": "metrics need an admin's token here"},
        403: {"model": s.Problem, "description": "not an admin"},
    },
)
def metrics(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Prometheus metrics (the text exposition format)."""
    api = api_of(request)
    if not api.settings.metrics_public:
        from gridflow.drivers.http.auth import authenticate

        principal = authenticate(request, credentials)
        api.engine.principals.require(principal, "admin")
    return Response(api.metrics.render(), media_type=CONTENT_TYPE_LATEST)
