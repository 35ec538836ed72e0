"""Pages from Jinja templates (driver ring): a normal autoescaping environment — every value
a template prints is HTML-escaped unless it is ``Markup`` made here (SVG charts built with
escaped texts) — never the notice sandbox, which renders text for e-mails.

Every page carries a strict Content-Security-Policy: scripts and styles only from this
server's ``/static/`` (no inline script, no ``eval``: htmx runs with ``allowEval`` off),
images from here and ``data:``, forms posting only here, no framing. An injected
``<script>`` or ``onerror=`` would not run even if escaping ever failed.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from gridflow.drivers.web.context import Viewer, current, lang_of, web_of
from gridflow.drivers.web.i18n import t
from gridflow.drivers.web.present import Present

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def environment() -> jinja2.Environment:
    """The workbench's template environment (autoescaping every template)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    env.globals["static"] = static_url
    return env


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """``/static/NAME?v=HASH``: a new file is a new URL (caches can keep it long)."""
    return f"/static/{name}?v={_fingerprint(name)}"


def context(request: Request, who: Viewer | None, **values: Any) -> dict[str, Any]:
    """What every template sees: the viewer, its language and words, names and times
    (``p``), the CSRF token, the page's path, and the feed position to follow from."""
    web = web_of(request)
    lang = who.lang if who else lang_of(request)
    out: dict[str, Any] = {
        "viewer": who,
        "lang": lang,
        "t": lambda key, **kw: t(key, lang, **kw),
        "p": Present(web.engine, lang),
        "csrf": who.csrf if who else "",
        "path": request.url.path,
        "query": request.url.query,
        "feed_after": None,
        "nav": "",
    }
    out.update(values)
    return out


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Render ``template`` for the current viewer (if any) as a full page or a fragment."""
    web = web_of(request)
    html = web.env.get_template(template).render(context(request, current(request), **values))
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})
