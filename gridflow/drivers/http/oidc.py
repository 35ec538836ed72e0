"""OIDC bearer tokens: JWTs validated against the issuer's keys (driver ring).

``OidcVerifier.verify`` checks, with joserfc: the algorithm is one allowed (never ``none``,
never an HMAC the client could forge with a public key), the signature against the issuer's
JWKS — fetched over HTTP(S) from ``jwks_url`` or the issuer's discovery document, cached,
and fetched again when a token names a key id the cache lacks (key rotation), at most once
per ``refetch_every`` seconds — then ``iss``, ``aud`` and ``exp`` (required), ``nbf`` and
``iat`` when present, with ``leeway`` seconds of clock skew. Any failure is
``Unauthenticated`` with the reason; the claims of a valid token are returned.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gridflow.errors import Unauthenticated

log = logging.getLogger("gridflow.http.oidc")
MAX_DOCUMENT = 1024 * 1024
ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
ASYMMETRIC |= {"EdDSA"}


def fetch_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET ``url`` as JSON (at most 1 MiB)."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = resp.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ValueError(f"{url}: document larger than {MAX_DOCUMENT} bytes")
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"{url}: not a JSON object")
    return value


def _header(token: str) -> dict[str, Any]:
    head = token.split(".", 1)[0]
    raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JOSE header")
    return value


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


class OidcVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str = "",
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway: int = 60,
        refetch_every: float = 30.0,
        max_age: float = 3600.0,
        fetch: Callable[[str], dict[str, Any]] = fetch_json,
        clock: Callable[[], float] = time.time,
    ):
        bad = sorted(set(algorithms) - ASYMMETRIC)
        if bad:
            raise ValueError(f"algorithms not allowed for OIDC bearer tokens: {', '.join(bad)}")
        self.issuer, self.audience = issuer, audience
        self.jwks_url, self.algorithms = jwks_url, list(algorithms)
        self.leeway, self.refetch_every, self.max_age = leeway, refetch_every, max_age
        self.fetch, self.clock = fetch, clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # how often the JWKS was fetched (tests, metrics)

    # ---- keys ----------------------------------------------------------------------------
    def _jwks_url(self) -> str:
        if not self.jwks_url:
            doc = self.fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            url = doc.get("jwks_uri")
            if not isinstance(url, str) or not url:
                raise ValueError("the discovery document names no jwks_uri")
            self.jwks_url = url
        return self.jwks_url

    def _refresh(self) -> None:
        self.fetches += 1
        self._fetched_at = self.clock()
        self._keys = KeySet.import_key_set(self.fetch(self._jwks_url()))  # type: ignore[arg-type]

    def keys(self, kid: str | None) -> KeySet:
        """The issuer's keys, fetched again when stale or when ``kid`` is not among them."""
        with self._lock:
            now = self.clock()
            stale = self._keys is None or now - self._fetched_at > self.max_age
            unknown = self._keys is not None and kid is not None and not self._has(kid)
            if stale or (unknown and now - self._fetched_at >= self.refetch_every):
                try:
                    self._refresh()
                except Exception as exc:  # the issuer unreachable or answering nonsense
                    log.error("cannot fetch the OIDC issuer's keys: %s", exc)
                    if self._keys is None:
                        raise Unauthenticated(
                            "the SSO issuer's keys cannot be fetched", reason="jwks_unavailable"
                        ) from None
            assert self._keys is not None
            return self._keys

    def _has(self, kid: str) -> bool:
        assert self._keys is not None
        return any(k.kid == kid for k in self._keys.keys)

    # ---- tokens --------------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, or ``Unauthenticated``."""
        try:
            header = _header(token)
        except (ValueError, UnicodeDecodeError):
            raise Unauthenticated("malformed bearer token", reason="malformed_jwt") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise Unauthenticated(f"JWT algorithm {alg!r} is not accepted", reason="jwt_alg")
        keys = self.keys(kid if isinstance(kid, str) else None)
        if isinstance(kid, str) and not self._has(kid):
            raise Unauthenticated(f"JWT key id {kid!r} is not the issuer's", reason="jwt_kid")
        try:
            decoded = jwt.decode(token, keys, algorithms=self.algorithms)
            registry = jwt.JWTClaimsRegistry(
                now=int(self.clock()),
                leeway=self.leeway,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            )
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise Unauthenticated(
                f"the SSO token does not hold: {exc.description or exc.error}",
                reason=f"jwt_{exc.error}",
            ) from None
        except (ValueError, TypeError) as exc:
            raise Unauthenticated(
                f"malformed bearer token: {exc}", reason="malformed_jwt"
            ) from None
        return dict(decoded.claims)
