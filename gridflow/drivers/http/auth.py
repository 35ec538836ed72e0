"""Authentication: a principal from the ``Authorization: Bearer`` header (driver ring).

``gf_…`` is an API token (checked against its stored hash, on every request, so a revoked
token fails at once); a JWT (``eyJ…``) is an OIDC bearer token, validated against the
configured issuer (:mod:`gridflow.drivers.http.oidc`) and mapped to a person through the org
directory's ``identities:``. Failures are counted per client address
(:mod:`gridflow.drivers.http.ratelimit`); a principal a session already established (the
web workbench) is taken as it is.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from gridflow.drivers.http.context import api_of, client_address
from gridflow.drivers.http.oidc import looks_like_jwt
from gridflow.errors import Unauthenticated
from gridflow.service.principals import Principal
from gridflow.service.tokens import PREFIX


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The caller's principal, or ``Unauthenticated`` / ``RateLimited``."""
    ready = getattr(request.state, "principal", None)
    if isinstance(ready, Principal):  # a session (the web workbench) set it
        return ready
    api = api_of(request)
    if credentials is None or not credentials.credentials:
        request.state.auth_attempted = False
        raise Unauthenticated(
            "credentials required: send Authorization: Bearer <API token or SSO token>",
            reason="missing_credentials",
        )
    request.state.auth_attempted = True
    address = client_address(request)
    api.limiter.check(address)
    secret = credentials.credentials
    engine = api.engine
    try:
        if secret.startswith(PREFIX):
            token = engine.tokens.check(secret, address=address)
            principal = engine.principals.of(token.principal, via="token", token_id=token.id)
        elif api.oidc is not None and looks_like_jwt(secret):
            claims = api.oidc.verify(secret)
            claim = api.settings.oidc.claim if api.settings.oidc else "sub"
            principal = engine.principals.from_claims(
                claims, issuer=str(claims.get("iss")), claim=claim
            )
        else:
            raise Unauthenticated("unknown kind of bearer token", reason="unknown_credentials")
    except Unauthenticated as exc:
        api.limiter.failed(address)
        api.metrics.auth_failures.labels(exc.reason).inc()
        raise
    request.state.principal = principal
    return principal
