"""Single sign-on to the workbench against real servers on loopback.

OIDC: the #13 test issuer (discovery, JWKS, RSA keys) extended with an authorization
endpoint (it signs in whoever the test says and redirects back with a code) and a token
endpoint that checks the client's secret, the redirect URI, the code (once) and the PKCE
verifier against the S256 challenge, then issues an ID token carrying the login's nonce.
The workbench's side is Authlib's client and the API's joserfc verifier — nothing mocked.

WeCom: a fake WeCom API on loopback (``/cgi-bin/gettoken``, ``/cgi-bin/auth/getuserinfo``,
and the OAuth page that redirects back with a code), its base URL configured.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from test_http_oidc import Issuer, IssuerHandler

CLIENT_ID, CLIENT_SECRET = "gridflow-web", "s3cret-of-the-client"


class LoginIssuer(Issuer):
    """The test issuer, with the authorization-code flow."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = LoginHandler
        self.user = {"sub": "u-1001"}
        self.codes: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.nonce_override: str | None = None

    def doc(self) -> dict:
        return {
            "issuer": self.url,
            "jwks_uri": self.url + "/certs",
            "authorization_endpoint": self.url + "/auth",
            "token_endpoint": self.url + "/token",
        }


class LoginHandler(IssuerHandler):
    server: LoginIssuer

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.endswith("/.well-known/openid-configuration"):
            return self._json(200, self.server.doc())
        if url.path.endswith("/auth"):
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.server.requests.append(q)
            code = secrets.token_urlsafe(16)
            self.server.codes[code] = q
            self.send_response(302)
            self.send_header(
                "Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
            )
            self.end_headers()
            return None
        return super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != expected:
            return self._json(401, {"error": "invalid_client"})
        q = self.server.codes.pop(form.get("code", ""), None)
        if q is None or form.get("redirect_uri") != q["redirect_uri"]:
            return self._json(400, {"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .decode()
            .rstrip("=")
        )
        if q.get("code_challenge_method") != "S256" or challenge != q.get("code_challenge"):
            return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
        nonce = self.server.nonce_override or q.get("nonce")
        id_token = self.server.token(aud=CLIENT_ID, nonce=nonce, **self.server.user)
        return self._json(
            200,
            {
                "access_token": "at-" + secrets.token_hex(8),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
        )


@pytest.fixture
def login_issuer():
    server = LoginIssuer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def oidc_web(make_web, login_issuer):
    from gridflow.drivers.web.settings import WebOidcSettings

    settings = WebOidcSettings(
        issuer=login_issuer.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        label="徐汇统一认证",
    )
    return make_web(oidc=settings)


def _sso(web, provider: str, next_url: str = "/board"):
    """Begin at the workbench, follow the provider (real HTTP), come back; the callback."""
    c = web.client()
    begin = c.get(f"/login/{provider}", params={"next": next_url}, follow_redirects=False)
    assert begin.status_code == 303, begin.text
    at_provider = requests.get(begin.headers["location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["location"])
    assert back.path == f"/login/{provider}/callback"
    return c, back.path + "?" + back.query


def test_oidc_login_with_state_nonce_and_pkce(oidc_web, login_issuer):
    assert "徐汇统一认证" in oidc_web.client().get("/login").text
    c, callback = _sso(oidc_web, "oidc")
    sent = login_issuer.requests[-1]
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["nonce"] and sent["state"] and sent["client_id"] == CLIENT_ID
    assert "openid" in sent["scope"].split()
    r = c.get(callback, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/board", r.text[:300]
    assert "httponly" in r.headers["set-cookie"].lower()
    me = c.get("/my")
    assert me.status_code == 200 and "胡军秀" in me.text  # wannan.chief through identities:
    # the same callback again: its state was good once
    again = oidc_web.client().get(callback, follow_redirects=False)
    assert again.status_code == 401 and "gf_session" not in again.headers.get("set-cookie", "")


def test_oidc_refusals(oidc_web, login_issuer):
    # a state the workbench never handed out
    forged = oidc_web.client().get(
        "/login/oidc/callback", params={"code": "x", "state": "made-up"}, follow_redirects=False
    )
    assert forged.status_code == 401
    # an ID token with another nonce (a replayed token)
    login_issuer.nonce_override = "someone-elses-nonce"
    c, callback = _sso(oidc_web, "oidc")
    r = c.get(callback, follow_redirects=False)
    assert r.status_code == 401 and "nonce" in r.text
    login_issuer.nonce_override = None
    # a person the org directory does not know
    login_issuer.user = {"sub": "u-404"}
    c, callback = _sso(oidc_web, "oidc")
    r = c.get(callback, follow_redirects=False)
    assert r.status_code == 401 and "未在组织架构中登记" in r.text
    # an expired ID token
    import time

    login_issuer.user = {"sub": "u-1001", "exp": int(time.time()) - 600}
    c, callback = _sso(oidc_web, "oidc")
    assert c.get(callback, follow_redirects=False).status_code == 401
    # a state begun for WeCom is no OIDC state
    start = oidc_web.engine.sessions.begin_login("wecom", "/")
    r = oidc_web.client().get(
        "/login/oidc/callback", params={"code": "x", "state": start.state}, follow_redirects=False
    )
    assert r.status_code == 401
    reasons = [a.reason for a in oidc_web.engine.audit.page(limit=20)]
    assert any(r.startswith("oidc_nonce") for r in reasons)
    assert any(r.startswith("unmapped_identity") for r in reasons)


# ---- WeCom ------------------------------------------------------------------------------------
class FakeWecom(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), WecomHandler)
        self.corp_id, self.secret = "ww-test-corp", "wecom-app-secret"
        self.tokens: set[str] = set()
        self.codes: dict[str, dict] = {}
        self.user: dict = {"userid": "HuJunXiu"}
        self.gettoken_calls = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class WecomHandler(BaseHTTPRequestHandler):
    server: FakeWecom

    def _json(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)  # WeCom answers 200 with an errcode
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/connect/oauth2/authorize":
            assert q["appid"] == self.server.corp_id and q["scope"] == "snsapi_base"
            code = secrets.token_hex(8)
            self.server.codes[code] = dict(self.server.user)
            self.send_response(302)
            self.send_header(
                "Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
            )
            self.end_headers()
        elif url.path == "/cgi-bin/gettoken":
            self.server.gettoken_calls += 1
            if q.get("corpid") != self.server.corp_id or q.get("corpsecret") != self.server.secret:
                return self._json({"errcode": 40001, "errmsg": "invalid credential"})
            token = secrets.token_hex(8)
            self.server.tokens.add(token)
            self._json({"errcode": 0, "access_token": token, "expires_in": 7200})
        elif url.path == "/cgi-bin/auth/getuserinfo":
            if q.get("access_token") not in self.server.tokens:
                return self._json({"errcode": 42001, "errmsg": "access_token expired"})
            user = self.server.codes.pop(q.get("code", ""), None)
            if user is None:
                return self._json({"errcode": 40029, "errmsg": "invalid code"})
            self._json({"errcode": 0, "errmsg": "ok", **user})
        else:
            self.send_response(404)
            self.end_headers()
        return None

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def wecom():
    server = FakeWecom()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def wecom_web(make_web, wecom):
    from gridflow.drivers.web.settings import WecomSettings

    return make_web(
        wecom=WecomSettings(
            corp_id=wecom.corp_id,
            agent_id="1000002",
            secret=wecom.secret,
            authorize_url=wecom.url + "/connect/oauth2/authorize",
            api_base=wecom.url,
        )
    )


def test_wecom_login_maps_the_userid_through_identities(wecom_web, wecom):
    assert "企业微信登录" in wecom_web.client().get("/login").text
    c, callback = _sso(wecom_web, "wecom", "/hands")
    r = c.get(callback, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/hands", r.text[:300]
    assert "胡军秀" in c.get("/my").text
    # a second login reuses the cached access token
    wecom.user = {"userid": "LiangYingPing"}
    c2, callback2 = _sso(wecom_web, "wecom")
    assert c2.get(callback2, follow_redirects=False).status_code == 303
    assert "梁英萍" in c2.get("/my").text and wecom.gettoken_calls == 1
    # WeCom expired the token: fetched again, once, and the login goes through
    wecom.tokens.clear()
    c3, callback3 = _sso(wecom_web, "wecom")
    assert c3.get(callback3, follow_redirects=False).status_code == 303
    assert wecom.gettoken_calls == 2


def test_wecom_refusals(wecom_web, wecom):
    wecom.user = {"openid": "o-outsider"}  # not a member of the organisation
    c, callback = _sso(wecom_web, "wecom")
    assert c.get(callback, follow_redirects=False).status_code == 401
    wecom.user = {"userid": "SomeoneElse"}  # a member, but not in org.yaml's identities
    c, callback = _sso(wecom_web, "wecom")
    r = c.get(callback, follow_redirects=False)
    assert r.status_code == 401 and "未在组织架构中登记" in r.text
    c, callback = _sso(wecom_web, "wecom")
    stolen = urlparse(callback)
    code = parse_qs(stolen.query)["code"][0]
    r = wecom_web.client().get(
        "/login/wecom/callback", params={"code": code, "state": "guessed"}, follow_redirects=False
    )
    assert r.status_code == 401  # a code without this login's state goes nowhere
    wecom.secret = "rotated"  # the app's secret no longer holds
    wecom.tokens.clear()
    c, callback = _sso(wecom_web, "wecom")
    assert c.get(callback, follow_redirects=False).status_code == 401
