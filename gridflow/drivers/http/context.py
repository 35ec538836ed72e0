"""What every handler shares: the app's state, the caller, the client's address (driver ring).

``Api`` (``app.state.api``) holds the engine and the server's parts. ``caller`` is the
dependency of every ``/api/v1`` operation: it authenticates (``auth.authenticate``), applies
``On-Behalf-Of`` (only with a grant in the org directory), and builds the ``Origin`` each
step records (channel ``api``, principal, token id, address, request id, on-behalf-of).
The web workbench (#14) can put a session principal in ``request.state.principal`` before
``caller`` runs, and reuse everything from there on.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridflow.domain.cases import Origin
from gridflow.domain.org import Actor
from gridflow.service.principals import Principal

if TYPE_CHECKING:
    from gridflow.drivers.http.metrics import Metrics
    from gridflow.drivers.http.oidc import OidcVerifier
    from gridflow.drivers.http.ratelimit import FailureLimiter
    from gridflow.drivers.http.settings import HttpSettings
    from gridflow.service.engine import Engine

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`gridflow token create`) or an OIDC access token of the "
    "district's SSO",
)


class Generation:
    """A counter bumped by every write this server makes (SSE streams wake on it)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


@dataclass
class Api:
    engine: Engine
    settings: HttpSettings
    limiter: FailureLimiter
    metrics: Metrics
    tz: tzinfo
    oidc: OidcVerifier | None = None
    writes: Generation = field(default_factory=Generation)
    stopping: threading.Event = field(default_factory=threading.Event)


def api_of(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy, the last untrusted hop of
    ``X-Forwarded-For``."""
    peer = request.client.host if request.client else "unknown"
    trusted = api_of(request).settings.trusted_proxies
    if not trusted or peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


@dataclass(frozen=True)
class Caller:
    """The authenticated principal, the actor its steps are taken as, and their origin."""

    principal: Principal
    actor: Actor
    on_behalf_of: str | None
    origin: Origin
    address: str


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    on_behalf_of: Annotated[
        str | None,
        Header(
            alias="On-Behalf-Of",
            max_length=200,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$",
            description="act for this person (needs an acts_for grant in the org directory)",
        ),
    ] = None,
) -> Caller:
    """Who calls (one dependency, one trip to the thread pool: authentication, then
    ``On-Behalf-Of``, then the origin)."""
    from gridflow.drivers.http.auth import authenticate

    principal = authenticate(request, credentials)
    engine = api_of(request).engine
    actor, behalf = engine.principals.acting(principal, on_behalf_of)
    request.state.on_behalf_of = behalf
    request.state.actor = actor
    address = client_address(request)
    origin = Origin(
        channel="api",
        principal=principal.id,
        on_behalf_of=behalf,
        token_id=principal.token_id,
        address=address,
        request_id=getattr(request.state, "request_id", None),
    )
    return Caller(principal, actor, behalf, origin, address)


CallerDep = Annotated[Caller, Depends(caller)]
