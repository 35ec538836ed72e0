"""Admin pages of the workbench (driver ring; the ``admin`` permission only): dead notices
with retry, the workflows in force with their diagrams, the people of the org directory with
their local accounts and sessions, and API tokens (create — the secret shown once — list,
revoke). Every change is a POST carrying the session's CSRF token.

Diagrams are Graphviz's: the workflow's dot source (the same as ``gridflow graph --format
dot``) laid out by the ``dot`` program as SVG, served as an image (an SVG loaded by ``<img>``
runs no script) and kept per workflow revision. Without Graphviz installed the page shows
the Mermaid source instead.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from gridflow.domain.diagram import draw
from gridflow.drivers.web.context import Viewer, check_csrf, viewer, web_of
from gridflow.drivers.web.i18n import t
from gridflow.drivers.web.render import page
from gridflow.errors import GridflowError, NotFound

router = APIRouter(include_in_schema=False)
NoticeId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
TokenId = Annotated[str, Path(max_length=40, pattern=r"^t_[0-9a-f]+$")]
PersonId = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
Workflow = Annotated[str, Path(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")]
Csrf = Annotated[str, Form(max_length=200)]
DOT_SECONDS = 20
_svgs: dict[tuple[str, int, str], bytes] = {}
_svg_lock = threading.Lock()


def admin(request: Request) -> Viewer:
    who = viewer(request)
    web_of(request).engine.principals.require(who.principal, "admin")
    return who


def _back(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


@router.get("/admin")
def admin_home(request: Request) -> Response:
    admin(request)
    return _back("/admin/notices")


@router.get("/admin/notices")
def notices(request: Request) -> Response:
    admin(request)
    engine = web_of(request).engine
    dead = engine.outbox.notices("dead", 200)
    return page(
        request,
        "admin_notices.html",
        nav="admin",
        tab="notices",
        dead=dead,
        counts=engine.outbox.counts(),
    )


@router.post("/admin/notices/{notice_id}/retry")
def retry(request: Request, notice_id: NoticeId, csrf: Csrf = "") -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    web_of(request).engine.outbox.retry(notice_id)
    return _back("/admin/notices")


@router.post("/admin/notices/retry-dead")
def retry_dead(request: Request, csrf: Csrf = "") -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    web_of(request).engine.outbox.retry(all_dead=True)
    return _back("/admin/notices")


@router.get("/admin/workflows")
def workflows(request: Request) -> Response:
    admin(request)
    engine = web_of(request).engine
    return page(
        request,
        "admin_workflows.html",
        nav="admin",
        tab="workflows",
        workflows=sorted(engine.workflows.values(), key=lambda w: w.id),
        graphviz=shutil.which("dot") is not None,
    )


@router.get("/admin/workflows/{workflow}.svg")
def diagram(request: Request, workflow: Workflow) -> Response:
    who = admin(request)
    engine = web_of(request).engine
    wf = engine.workflows.get(workflow)
    if wf is None:
        raise NotFound("workflow", workflow, engine.workflows)
    key = (wf.id, wf.revision or 0, who.lang)
    with _svg_lock:
        svg = _svgs.get(key)
    if svg is None:
        dot = shutil.which("dot")
        if dot is None:
            raise GridflowError("Graphviz (dot) is not installed on the server")
        source = draw(wf, "dot", lang=who.lang)
        done = subprocess.run(
            [dot, "-Tsvg"], input=source.encode(), capture_output=True, timeout=DOT_SECONDS
        )
        if done.returncode != 0:
            raise GridflowError(f"dot failed: {done.stderr.decode(errors='replace')[:300]}")
        svg = done.stdout
        with _svg_lock:
            _svgs[key] = svg
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=600",
        },
    )


@router.get("/admin/workflows/{workflow}.mmd")
def mermaid(request: Request, workflow: Workflow) -> Response:
    who = admin(request)
    engine = web_of(request).engine
    wf = engine.workflows.get(workflow)
    if wf is None:
        raise NotFound("workflow", workflow, engine.workflows)
    return Response(draw(wf, "mermaid", lang=who.lang), media_type="text/plain; charset=utf-8")


@router.get("/admin/people")
def people(request: Request) -> Response:
    admin(request)
    engine = web_of(request).engine
    accounts = {a.person: a for a in engine.accounts.listed()}
    return page(
        request,
        "admin_people.html",
        nav="admin",
        tab="people",
        people=sorted(engine.directory.people.values(), key=lambda p: p.id),
        accounts=accounts,
        sessions=engine.sessions.live_counts(),
        message="",
        error="",
    )


@router.post("/admin/people/{person}/password")
def set_password(
    request: Request,
    person: PersonId,
    csrf: Csrf = "",
    password: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    engine = web_of(request).engine
    message, error = "", ""
    try:
        engine.accounts.set_password(person, password, by=who.principal.id)
        message = t("password_set", who.lang, p=person)
    except GridflowError as exc:
        error = str(exc)
    accounts = {a.person: a for a in engine.accounts.listed()}
    return page(
        request,
        "admin_people.html",
        status=200 if not error else 422,
        nav="admin",
        tab="people",
        people=sorted(engine.directory.people.values(), key=lambda p: p.id),
        accounts=accounts,
        sessions=engine.sessions.live_counts(),
        message=message,
        error=error,
    )


@router.post("/admin/people/{person}/sessions/end")
def end_sessions(request: Request, person: PersonId, csrf: Csrf = "") -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    web_of(request).engine.sessions.close_person(person)
    return _back("/admin/people")


def _tokens_page(
    request: Request, created: object = None, status: int = 200, error: str = ""
) -> Response:
    engine = web_of(request).engine
    return page(
        request,
        "admin_tokens.html",
        status=status,
        nav="admin",
        tab="tokens",
        tokens=engine.tokens.listed(include_revoked=True),
        created=created,
        error=error,
        principals=sorted([*engine.directory.people, *engine.directory.service_accounts]),
    )


@router.get("/admin/tokens")
def tokens(request: Request) -> Response:
    admin(request)
    return _tokens_page(request)


@router.post("/admin/tokens")
def create_token(
    request: Request,
    csrf: Csrf = "",
    principal: Annotated[str, Form(max_length=200)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    engine = web_of(request).engine
    expires = (
        engine.now() + timedelta(days=int(days))
        if days.strip().isdigit() and int(days) > 0
        else None
    )
    try:
        issued = engine.tokens.create(
            principal, expires_at=expires, label=label, created_by=who.principal.id
        )
    except GridflowError as exc:
        return _tokens_page(request, status=422, error=str(exc))
    response = _tokens_page(request, created=issued)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: TokenId, csrf: Csrf = "") -> Response:
    who = admin(request)
    check_csrf(request, who, csrf)
    web_of(request).engine.tokens.revoke(token_id, by=who.principal.id)
    return _back("/admin/tokens")
