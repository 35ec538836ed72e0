"""What every workbench page shares: the app's web state, the signed-in viewer, CSRF, the
language, and the origin steps record (driver ring).

The viewer is whoever the session cookie names: the session resolves (hashed lookup, idle
and absolute expiry) and its person becomes a ``Principal`` through the same
``engine.principals.of`` an API token goes through — so a person removed from the org
directory is signed out at their next request, and scope, grants and permissions are the
API's. The principal is also put in ``request.state.principal`` (what the API's
authentication takes as given) so logs and metrics name it.

Every state-changing request (POST) must carry the session's CSRF token: in the form field
``csrf`` or, for htmx requests, the ``X-CSRF-Token`` header. The session cookie is HttpOnly,
SameSite=Lax, Secure over https (``cookie_secure``), path ``/``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from gridflow.domain.cases import Origin
from gridflow.domain.org import Actor
from gridflow.drivers.http.context import Api, client_address
from gridflow.drivers.web.i18n import norm
from gridflow.errors import PermissionRefused, Unauthenticated
from gridflow.service.principals import Principal
from gridflow.service.sessions import SessionRecord

if TYPE_CHECKING:
    import jinja2

    from gridflow.drivers.http.ratelimit import FailureLimiter
    from gridflow.drivers.web.settings import WebSettings
    from gridflow.drivers.web.sso import OidcLogin, WecomLogin

SESSION_COOKIE = "gf_session"
LANG_COOKIE = "gf_lang"
PRE_CSRF_COOKIE = "gf_login_csrf"  # the login form's double-submit token (no session yet)


@dataclass
class Web:
    """The workbench's state (``app.state.web``)."""

    api: Api
    settings: WebSettings
    env: jinja2.Environment
    limiter: FailureLimiter
    oidc: OidcLogin | None = None
    wecom: WecomLogin | None = None

    @property
    def engine(self) -> Any:
        return self.api.engine


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at a page."""

    principal: Principal
    session: SessionRecord
    lang: str

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def admin(self) -> bool:
        return self.principal.admin


def lang_of(request: Request) -> str:
    """The page language: the switch's cookie, else zh-CN."""
    return norm(request.cookies.get(LANG_COOKIE))


def current(request: Request) -> Viewer | None:
    """The viewer the session cookie names, or None (no cookie, ended, or the person is no
    longer in the directory)."""
    cached = getattr(request.state, "viewer", None)
    if isinstance(cached, Viewer):
        return cached
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret:
        return None
    engine = web_of(request).engine
    session = engine.sessions.resolve(secret)
    if session is None:
        return None
    try:
        principal = engine.principals.of(session.person, via="session")
    except Unauthenticated:
        return None
    viewer = Viewer(principal, session, lang_of(request))
    request.state.viewer = viewer
    request.state.principal = principal
    request.state.actor = principal.actor
    return viewer


def viewer(request: Request) -> Viewer:
    """The viewer, or ``Unauthenticated`` (pages answer it with the login page)."""
    found = current(request)
    if found is None:
        raise Unauthenticated("sign in first", reason="no_session")
    return found


def check_csrf(request: Request, who: Viewer, form_token: str | None) -> None:
    """``PermissionRefused`` unless the request carries the session's CSRF token (the form
    field, or the ``X-CSRF-Token`` header htmx sends)."""
    given = request.headers.get("x-csrf-token") or form_token or ""
    if not given or not hmac.compare_digest(given.encode(), who.csrf.encode()):
        raise PermissionRefused(
            "the form's CSRF token is missing or wrong: reload the page and try again",
            principal=who.principal.id,
            needed="csrf",
        )


def origin(request: Request, who: Viewer) -> Origin:
    """Where a step taken from the workbench came from."""
    return Origin(
        channel="web",
        principal=who.principal.id,
        address=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )


def secure_cookies(request: Request) -> bool:
    """Whether cookies get the Secure flag (``cookie_secure``: auto → over https)."""
    mode = web_of(request).settings.cookie_secure
    if mode == "always":
        return True
    if mode == "never":
        return False
    proto = request.url.scheme
    forwarded = request.headers.get("x-forwarded-proto", "")
    peer = request.client.host if request.client else ""
    if forwarded and peer in web_of(request).api.settings.trusted_proxies:
        proto = forwarded.split(",")[0].strip()
    return proto == "https"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in (never another site: ``//evil``, ``\\``,
    schemes and control characters are refused)."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
        or len(value) > 500
    ):
        return "/"
    return value
