"""Signing in and out (driver ring): local passwords, OIDC, WeCom; the language switch.

``POST /login`` is rate-limited per client address like the API's failed authentications
(a token bucket: ``login_failures_burst`` failures, refilled at ``login_failures_per_minute``;
while an address has none left, every attempt from it is refused — also a right one), and
carries a double-submit CSRF token (a cookie set with the form) so no other site can sign a
browser into an account of its choosing. A successful sign-in always opens a *new* session
(its id never existed before the login); failures are written to the audit table
(channel ``web``). SSO callbacks check the state they began with (good once) before
anything else.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gridflow.drivers.http.context import client_address
from gridflow.drivers.web.context import (
    LANG_COOKIE,
    PRE_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    current,
    safe_next,
    secure_cookies,
    viewer,
    web_of,
)
from gridflow.drivers.web.i18n import norm, t
from gridflow.drivers.web.render import page
from gridflow.errors import RateLimited, Unauthenticated
from gridflow.service.audit import Attempt
from gridflow.service.principals import Principal

router = APIRouter(include_in_schema=False)
Next = Annotated[str | None, Query(alias="next", max_length=500)]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _login_page(request: Request, next_url: str, *, error: str = "", status: int = 200) -> Response:
    web = web_of(request)
    token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        status=status,
        next_url=next_url,
        error=error,
        login_csrf=token,
        oidc_label=web.settings.oidc.label if web.settings.oidc else None,
        wecom=web.settings.wecom is not None,
    )
    response.set_cookie(
        PRE_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/login",
        max_age=3600,
    )
    return response


def open_session(request: Request, principal: Principal, via: str, next_url: str) -> Response:
    """A new session for ``principal``: the cookie, and on to ``next_url``."""
    web = web_of(request)
    new = web.engine.sessions.open(
        principal.id,
        via=via,
        address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    response = _redirect(safe_next(next_url))
    response.set_cookie(
        SESSION_COOKIE,
        new.secret,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
        max_age=int(web.engine.sessions.absolute.total_seconds()),
    )
    response.delete_cookie(PRE_CSRF_COOKIE, path="/login")
    return response


def _refused(request: Request, reason: str, principal: str | None = None) -> None:
    """A failed sign-in: counted against the address and audited."""
    web = web_of(request)
    address = client_address(request)
    web.limiter.failed(address)
    try:
        web.engine.audit.refused(
            Attempt(
                outcome="unauthenticated",
                status=401,
                action=f"{request.method} {request.url.path}",
                reason=reason,
                principal=principal,
                channel="web",
                address=address,
                request_id=getattr(request.state, "request_id", None),
            )
        )
    except Exception:  # the audit must not turn a refusal into a server error
        import logging

        logging.getLogger("gridflow.web").exception("could not write the audit row")


def _limited(request: Request, exc: RateLimited, next_url: str) -> Response:
    lang = norm(request.cookies.get(LANG_COOKIE))
    seconds = max(1, round(exc.retry_after))
    response = _login_page(request, next_url, error=t("login_limited", lang, s=seconds), status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


@router.get("/login")
def login_form(request: Request, next_url: Next = None) -> Response:
    if current(request) is not None:
        return _redirect(safe_next(next_url))
    return _login_page(request, safe_next(next_url))


@router.post("/login")
def login(
    request: Request,
    person: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/",
) -> Response:
    """Check a local password; a new session on success."""
    web = web_of(request)
    lang = norm(request.cookies.get(LANG_COOKIE))
    next_url = safe_next(next_url)
    cookie = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not cookie or not csrf or not hmac.compare_digest(cookie.encode(), csrf.encode()):
        return _login_page(request, next_url, error=t("session_ended", lang), status=403)
    address = client_address(request)
    try:
        web.limiter.check(address)
    except RateLimited as exc:
        return _limited(request, exc, next_url)
    person = person.strip()
    engine = web.engine
    if not engine.accounts.verify(person, password):
        _refused(request, f"login_failed: wrong password or no account for {person[:80]!r}")
        return _login_page(request, next_url, error=t("login_failed", lang), status=401)
    try:
        principal = engine.principals.of(person, via="session")
    except Unauthenticated as exc:
        _refused(request, f"{exc.reason}: {exc}", person)
        return _login_page(request, next_url, error=t("login_failed", lang), status=401)
    return open_session(request, principal, "password", next_url)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End the session (deleted on the server, the cookie cleared)."""
    who = viewer(request)
    check_csrf(request, who, csrf)
    web_of(request).engine.sessions.close(request.cookies.get(SESSION_COOKIE, ""))
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    if request.headers.get("hx-request") == "true":
        response.headers["HX-Redirect"] = "/login"
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next_url: Next = None) -> Response:
    response = _redirect(safe_next(next_url))
    response.set_cookie(LANG_COOKIE, norm(lang), samesite="lax", path="/", max_age=365 * 86400)
    return response


# ---- single sign-on ---------------------------------------------------------------------
def redirect_uri(request: Request, provider: str) -> str:
    base = web_of(request).settings.redirect_base or str(request.base_url)
    return base.rstrip("/") + f"/login/{provider}/callback"


def _sso_failed(request: Request, next_url: str, exc: Unauthenticated) -> Response:
    lang = norm(request.cookies.get(LANG_COOKIE))
    _refused(request, f"{exc.reason}: {exc}")
    why = t("sso_unmapped", lang) if exc.reason == "unmapped_identity" else str(exc)
    return _login_page(request, next_url, error=t("sso_failed", lang, why=why), status=401)


@router.get("/login/oidc")
def oidc_begin(request: Request, next_url: Next = None) -> Response:
    web = web_of(request)
    if web.oidc is None:
        return _redirect("/login")
    start = web.engine.sessions.begin_login("oidc", safe_next(next_url))
    try:
        return _redirect(web.oidc.authorize_url(redirect_uri(request, "oidc"), start))
    except Unauthenticated as exc:
        return _sso_failed(request, safe_next(next_url), exc)


@router.get("/login/oidc/callback")
async def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    web = web_of(request)
    if web.oidc is None:
        return _redirect("/login")
    oidc = web.oidc

    def finish() -> Response:
        address = client_address(request)
        try:
            web.limiter.check(address)
        except RateLimited as exc:
            return _limited(request, exc, "/")
        engine = web.engine
        try:
            pending = engine.sessions.finish_login("oidc", state)
        except Unauthenticated as exc:
            return _sso_failed(request, "/", exc)
        try:
            if error:
                raise Unauthenticated(f"the SSO issuer said {error!r}", reason="oidc_error")
            claims = oidc.claims(
                code, redirect_uri(request, "oidc"), pending.verifier, pending.nonce
            )
            principal = engine.principals.from_claims(
                claims, issuer=str(claims.get("iss")), claim=oidc.settings.claim
            )
        except Unauthenticated as exc:
            return _sso_failed(request, pending.next_url, exc)
        return open_session(request, principal, "oidc", pending.next_url)

    return await run_in_threadpool(finish)


@router.get("/login/wecom")
def wecom_begin(request: Request, next_url: Next = None) -> Response:
    web = web_of(request)
    if web.wecom is None:
        return _redirect("/login")
    start = web.engine.sessions.begin_login("wecom", safe_next(next_url))
    return _redirect(web.wecom.authorize_url(redirect_uri(request, "wecom"), start.state))


@router.get("/login/wecom/callback")
def wecom_callback(
    request: Request,
    code: Annotated[str, Query(max_length=512)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    web = web_of(request)
    if web.wecom is None:
        return _redirect("/login")
    address = client_address(request)
    try:
        web.limiter.check(address)
    except RateLimited as exc:
        return _limited(request, exc, "/")
    engine = web.engine
    try:
        pending = engine.sessions.finish_login("wecom", state)
    except Unauthenticated as exc:
        return _sso_failed(request, "/", exc)
    try:
        userid = web.wecom.userid(code)
        claim = web.wecom.settings.claim
        principal = engine.principals.from_claims({claim: userid}, issuer=None, claim=claim)
    except Unauthenticated as exc:
        return _sso_failed(request, pending.next_url, exc)
    return open_session(request, principal, "wecom", pending.next_url)
