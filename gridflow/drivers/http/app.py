"""``create_app``: the FastAPI application over an ``Engine`` (driver ring).

::

    from gridflow import Engine
    from gridflow.drivers.http.app import create_app
    app = create_app(Engine("sqlite:///gridflow.db"))      # serve with uvicorn

The app owns no engine state: several apps (servers) may share one database. While it runs,
a background thread sweeps idempotency keys older than 24 h every ``SWEEP_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI

from gridflow import __version__
from gridflow.drivers.http import (
    admin,
    cases,
    events,
    files,
    inbox,
    openapi,
    ops,
    org,
    problems,
    reports,
    workflows,
)
from gridflow.drivers.http.context import Api
from gridflow.drivers.http.metrics import Metrics
from gridflow.drivers.http.middleware import RequestContext
from gridflow.drivers.http.oidc import OidcVerifier
from gridflow.drivers.http.ratelimit import FailureLimiter
from gridflow.drivers.http.settings import HttpSettings

if TYPE_CHECKING:
    from gridflow.drivers.web.settings import WebSettings
    from gridflow.service.engine import Engine

log = logging.getLogger("gridflow.http")
SWEEP_EVERY = 600.0


def _sweeper(api: Api) -> None:
    while not api.stopping.wait(SWEEP_EVERY):
        try:
            n = api.engine.idempotency.sweep()
            if n:
                log.info("swept %d idempotency keys older than 24 h", n)
            n = api.engine.sessions.sweep()
            if n:
                log.info("swept %d ended web sessions", n)
        except Exception:  # the next sweep tries again
            log.exception("idempotency sweep failed")


def create_app(
    engine: Engine,
    settings: HttpSettings | None = None,
    *,
    oidc: OidcVerifier | None = None,
    sweep: bool = True,
    web: WebSettings | None = None,
) -> FastAPI:
    """The API over ``engine`` with ``settings`` (default: ``[http]`` defaults). ``oidc``:
    a verifier to use instead of the one ``settings.oidc`` describes. ``web``: also serve
    the workbench (:mod:`gridflow.drivers.web`) with these settings, when enabled."""
    settings = settings or HttpSettings()
    if oidc is None and settings.oidc is not None:
        o = settings.oidc
        oidc = OidcVerifier(
            o.issuer,
            o.audience,
            jwks_url=o.jwks_url,
            algorithms=o.algorithms,
            leeway=o.leeway_seconds,
        )
    engine.files.configure(
        settings.files_dir, max_bytes=settings.max_upload_bytes, types=settings.upload_types
    )
    metrics = Metrics(engine)
    api = Api(
        engine=engine,
        settings=settings,
        limiter=FailureLimiter(settings.auth_failures_burst, settings.auth_failures_per_minute),
        metrics=metrics,
        tz=engine.calendar.tz,
        oidc=oidc,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # handlers run in a thread pool of this size: more threads than this only fight
        # for the GIL (and, on SQLite, for the one writer) while the event loop starves
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        api.stopping.clear()
        if sweep:
            threading.Thread(target=_sweeper, args=(api,), name="gf-sweep", daemon=True).start()
        yield
        api.stopping.set()

    app = FastAPI(
        title="gridflow",
        version=__version__,
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.api = api
    for module in (workflows, cases, inbox, files, org, reports, admin, events, ops):
        app.include_router(module.router)
    problems.install(app)
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    if web is not None and web.enabled:
        from gridflow.drivers.web import install

        install(app, api, web)
    app.add_middleware(
        RequestContext,
        metrics=metrics,
        max_body=settings.max_body_kb * 1024,
        max_upload=settings.max_upload_bytes + 64 * 1024,
        max_form=(web.max_photos if web else 1) * settings.max_upload_bytes + 256 * 1024,
    )
    return app
