"""Single sign-on for the workbench (driver ring): OIDC authorization code, and WeCom OAuth.

**OIDC** (a district SSO): the browser is sent to the issuer's authorization endpoint with
a ``state`` (kept hashed, good once, 10 minutes), a ``nonce`` and a PKCE S256 challenge —
built by Authlib's OAuth 2 client; the callback's code is exchanged at the token endpoint
with the PKCE verifier (Authlib again), and the ID token is checked by the same joserfc
verifier the API uses for bearer tokens (signature against the issuer's JWKS, ``iss``,
``aud`` = our client id, ``exp``), then its ``nonce`` against the one sent. The person is
whoever ``identities:`` in org.yaml maps the configured claim to.

**WeCom** (企业微信): the browser is sent to WeCom's OAuth page with a ``state``; the
callback's code becomes a WeCom user id through WeCom's API (``/cgi-bin/gettoken`` with the
corp id and the app secret — the access token is cached until shortly before it expires and
fetched again when WeCom says it is no longer good — then ``/cgi-bin/auth/getuserinfo``),
and the user id a person through ``identities:`` (claim ``wecom_userid``). The API's base
URL is a setting, so tests run a WeCom of their own on loopback.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session

from gridflow.drivers.http.oidc import OidcVerifier, fetch_json
from gridflow.drivers.web.settings import WebOidcSettings, WecomSettings
from gridflow.errors import Unauthenticated
from gridflow.service.sessions import LoginStart

TIMEOUT = 10.0
WECOM_TOKEN_INVALID = {40014, 42001, 40001}  # invalid / expired access token: fetch again


class OidcLogin:
    """The authorization-code flow against one issuer."""

    def __init__(self, settings: WebOidcSettings):
        self.settings = settings
        self.verifier = OidcVerifier(
            settings.issuer,
            settings.client_id,
            algorithms=settings.algorithms,
            leeway=settings.leeway_seconds,
        )
        self._doc: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def discovery(self) -> dict[str, Any]:
        """The issuer's discovery document (fetched once)."""
        with self._lock:
            if self._doc is None:
                try:
                    doc = fetch_json(
                        self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
                    )
                except Exception as exc:
                    raise Unauthenticated(
                        f"the SSO issuer cannot be reached: {exc}", reason="oidc_unavailable"
                    ) from None
                for key in ("authorization_endpoint", "token_endpoint"):
                    if not isinstance(doc.get(key), str):
                        raise Unauthenticated(
                            f"the SSO issuer's discovery document names no {key}",
                            reason="oidc_discovery",
                        )
                self._doc = doc
            return self._doc

    def _client(self, redirect_uri: str) -> OAuth2Session:
        s = self.settings
        return OAuth2Session(
            s.client_id,
            s.client_secret or None,
            scope=s.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def authorize_url(self, redirect_uri: str, start: LoginStart) -> str:
        """Where to send the browser: the issuer's login, with state, nonce and PKCE."""
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                self.discovery()["authorization_endpoint"],
                state=start.state,
                code_verifier=start.verifier,
                nonce=start.nonce,
            )
        return str(url)

    def claims(self, code: str, redirect_uri: str, verifier: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims for the callback's ``code``: exchanged with the PKCE
        verifier, the token checked (signature, issuer, audience, expiry) and its nonce."""
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    self.discovery()["token_endpoint"],
                    code=code,
                    code_verifier=verifier,
                    timeout=TIMEOUT,
                )
        except Unauthenticated:
            raise
        except Exception as exc:  # the issuer said no, or could not be reached
            raise Unauthenticated(
                f"the SSO issuer refused the code: {exc}", reason="oidc_token"
            ) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthenticated("the SSO issuer sent no ID token", reason="oidc_no_id_token")
        claims = self.verifier.verify(id_token)
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise Unauthenticated("the ID token's nonce is not this login's", reason="oidc_nonce")
        return claims


class WecomLogin:
    """WeCom OAuth: code → user id through WeCom's API."""

    def __init__(self, settings: WecomSettings, session: requests.Session | None = None):
        self.settings = settings
        self.http = session or requests.Session()
        self._token: tuple[str, float] | None = None  # access token, good until (monotonic)
        self._lock = threading.Lock()
        self.token_fetches = 0

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        s = self.settings
        query = urlencode(
            {
                "appid": s.corp_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "snsapi_base",
                "state": state,
                "agentid": s.agent_id,
            }
        )
        return f"{s.authorize_url}?{query}#wechat_redirect"

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.settings.api_base.rstrip("/") + path
        try:
            resp = self.http.get(url, params=params, timeout=self.settings.timeout_seconds)
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise Unauthenticated(
                f"WeCom cannot be reached: {type(exc).__name__}", reason="wecom_unavailable"
            ) from None
        if not isinstance(body, dict):
            raise Unauthenticated("WeCom answered nonsense", reason="wecom_unavailable")
        return body

    def access_token(self, *, fresh: bool = False) -> str:
        """The app's access token (cached until 5 minutes before WeCom's expiry)."""
        with self._lock:
            if not fresh and self._token and time.monotonic() < self._token[1]:
                return self._token[0]
            self.token_fetches += 1
            body = self._get(
                "/cgi-bin/gettoken",
                {"corpid": self.settings.corp_id, "corpsecret": self.settings.secret},
            )
            token = body.get("access_token")
            if body.get("errcode", 0) != 0 or not isinstance(token, str):
                raise Unauthenticated(
                    f"WeCom refused the app's credentials (errcode {body.get('errcode')})",
                    reason="wecom_credentials",
                )
            life = float(body.get("expires_in", 7200))
            self._token = (token, time.monotonic() + max(60.0, life - 300.0))
            return token

    def userid(self, code: str) -> str:
        """The WeCom user id behind an OAuth ``code`` (members only; not an outsider's
        openid)."""
        if not code or len(code) > 512:
            raise Unauthenticated("no WeCom code", reason="wecom_code")
        for attempt in range(2):
            body = self._get(
                "/cgi-bin/auth/getuserinfo",
                {"access_token": self.access_token(fresh=attempt > 0), "code": code},
            )
            err = body.get("errcode", 0)
            if err in WECOM_TOKEN_INVALID and attempt == 0:
                continue
            if err != 0:
                raise Unauthenticated(
                    f"WeCom refused the code (errcode {err})", reason="wecom_code"
                )
            userid = body.get("userid") or body.get("UserId")
            if not isinstance(userid, str) or not userid:
                raise Unauthenticated(
                    "the WeCom user is not a member of this organisation", reason="wecom_outsider"
                )
            return userid
        raise Unauthenticated("WeCom refused the access token", reason="wecom_credentials")
