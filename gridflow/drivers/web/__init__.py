"""The web workbench (driver ring): pages for the people who run the processes — grid
chiefs, department liaisons, dispatchers, street heads — on their phones.

Mounted into the API's FastAPI app by :func:`install` (``gridflow serve`` does it when
``[web] enabled``): same process, same engine, same identities. Server-rendered Jinja pages
(autoescaped), htmx (vendored in ``static/``, no CDN, no build step), hand-written
mobile-first CSS, zh-CN first with an English switch.

========================  =================================================================
``login``                 sign in (password, OIDC, WeCom), sign out, the language switch
``work``                  我的待办 My work; 举手 boards (必答题, 抢答题 with one-tap hands)
``board``                 片区看板 the area board: the four lists as columns, filters
``case``                  the case page, action forms generated from the YAML, start, files
``reports``               a unit's KPIs with charts, xlsx, the yearly page
``admin``                 dead notices, workflows and diagrams, people and accounts, tokens
``live``                  the change feed as SSE for open pages
``context`` ``render``    the viewer (session → principal), CSRF; templates, CSP
``forms`` ``present``     forms from the workflow YAML; values as people read them
``sso`` ``settings``      OIDC and WeCom sign-in; ``[web]``
``failures`` ``i18n``     errors as pages; the pages' own words
========================  =================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gridflow.drivers.http.context import Api
    from gridflow.drivers.web.settings import WebSettings

__all__ = ["install"]


def install(app: FastAPI, api: Api, settings: WebSettings) -> None:
    """Add the workbench to ``app`` (the API's): routes, static files, error pages."""
    from datetime import timedelta

    from fastapi.staticfiles import StaticFiles

    from gridflow.drivers.http.ratelimit import FailureLimiter
    from gridflow.drivers.web import admin, board, case, failures, live, login, reports, work
    from gridflow.drivers.web.context import Web
    from gridflow.drivers.web.render import STATIC, environment
    from gridflow.drivers.web.sso import OidcLogin, WecomLogin

    api.engine.sessions.configure(
        idle=timedelta(minutes=settings.idle_minutes),
        absolute=timedelta(hours=settings.absolute_hours),
    )
    app.state.web = Web(
        api=api,
        settings=settings,
        env=environment(),
        limiter=FailureLimiter(settings.login_failures_burst, settings.login_failures_per_minute),
        oidc=OidcLogin(settings.oidc) if settings.oidc else None,
        wecom=WecomLogin(settings.wecom) if settings.wecom else None,
    )
    for module in (login, work, board, case, reports, admin, live):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    failures.install(app)
