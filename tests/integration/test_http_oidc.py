"""OIDC bearer tokens against a real issuer on loopback: discovery document and JWKS served
over HTTP, real RSA and EC keys, tokens signed by them. The validation code is the server's
own (joserfc), not mocked: issuer, audience, expiry with skew, signature, algorithm, key
rotation (an unknown ``kid`` fetches the keys again), and the claim → person mapping."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from gridflow.drivers.http.oidc import OidcVerifier
from gridflow.errors import Unauthenticated

AUDIENCE = "gridflow"


class Issuer(ThreadingHTTPServer):
    """A minimal OpenID provider: discovery and JWKS, with keys the test can rotate."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), IssuerHandler)
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})]
        self.jwks_hits = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/realms/xuhui"

    def token(self, key=None, *, alg: str = "RS256", **claims) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.url, "aud": AUDIENCE, "sub": "u-1001", "iat": now, "exp": now + 300}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": alg, "kid": key.kid}, body, key, algorithms=[alg])


class IssuerHandler(BaseHTTPRequestHandler):
    server: Issuer

    def do_GET(self) -> None:
        if self.path.endswith("/.well-known/openid-configuration"):
            body = {"issuer": self.server.url, "jwks_uri": self.server.url + "/certs"}
        elif self.path.endswith("/certs"):
            self.server.jwks_hits += 1
            body = KeySet(self.server.keys).as_dict(private=False)
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = Issuer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sso(issuer, make_api):
    verifier = OidcVerifier(issuer.url, AUDIENCE, leeway=60, refetch_every=0)
    return make_api(oidc=verifier)


def me(api, token: str):
    return api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_names_a_person_through_identities(sso, issuer) -> None:
    r = me(sso, issuer.token())
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "zhao.area" and r.json()["via"] == "oidc"
    # another claim the directory maps (WeCom user id) works too
    r = me(sso, issuer.token(sub="unknown", wecom_userid="ZhaoPian"))
    assert r.status_code == 200 and r.json()["id"] == "zhao.area"
    case = sso.client.post(
        "/api/v1/cases",
        headers={"Authorization": f"Bearer {issuer.token()}"},
        json={"workflow": "errand", "unit": "wannan", "data": {"title": "x"}},
    )
    assert case.status_code == 403  # judged as zhao.area, who holds no clerk role
    assert "zhao.area" in case.json()["detail"]


@pytest.mark.parametrize(
    "claims,reason",
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"aud": "someone-else"}, "aud"),
        ({"iss": "https://evil.example/realms/xuhui"}, "iss"),
        ({"exp": None}, "exp"),
        ({"nbf": int(time.time()) + 600}, "nbf"),
        ({"sub": "u-9999"}, "no person"),
        ({"sub": "u-2002"}, "issuer-bound identity from another issuer"),
    ],
)
def test_tokens_that_do_not_hold_are_401(sso, issuer, claims, reason) -> None:
    r = me(sso, issuer.token(**claims))
    assert r.status_code == 401, (reason, r.text)


def test_clock_skew_within_leeway_is_accepted(sso, issuer) -> None:
    assert me(sso, issuer.token(exp=int(time.time()) - 30)).status_code == 200
    assert me(sso, issuer.token(nbf=int(time.time()) + 30)).status_code == 200


def test_a_forged_signature_and_algorithm_tricks_are_refused(sso, issuer) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, other key
    assert me(sso, issuer.token(impostor)).status_code == 401
    good = issuer.token()
    head, _body, sig = good.split(".")
    tampered = issuer.token(sub="u-1001", wecom_userid="x").split(".")[1]
    assert me(sso, f"{head}.{tampered}.{sig}").status_code == 401
    # HS256 signed with the public key's bytes, and alg none: never accepted
    public = json.dumps(issuer.keys[0].as_dict(private=False)).encode()
    hs = OctKey.import_key(public, parameters={"kid": "rsa-1"})
    forged = jwt.encode(
        {"alg": "HS256", "kid": "rsa-1"},
        {"iss": issuer.url, "aud": AUDIENCE, "sub": "u-1001", "exp": int(time.time()) + 60},
        hs,
        algorithms=["HS256"],
    )
    assert me(sso, forged).status_code == 401
    import base64

    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    none = f"{b64({'alg': 'none'})}.{b64({'iss': issuer.url, 'aud': AUDIENCE, 'sub': 'u-1001'})}."
    assert me(sso, none).status_code == 401


def test_key_rotation_fetches_the_keys_again_on_an_unknown_kid(sso, issuer) -> None:
    assert me(sso, issuer.token()).status_code == 200
    hits = issuer.jwks_hits
    assert me(sso, issuer.token()).status_code == 200
    assert issuer.jwks_hits == hits  # cached
    new = ECKey.generate_key("P-256", parameters={"kid": "ec-2"})
    issuer.keys.append(new)
    r = me(sso, issuer.token(new, alg="ES256"))
    assert r.status_code == 200, r.text
    assert issuer.jwks_hits == hits + 1
    # a kid the issuer does not have: refused (after looking once more)
    stranger = RSAKey.generate_key(2048, parameters={"kid": "nope"})
    assert me(sso, issuer.token(stranger)).status_code == 401


def test_refetching_is_bounded(issuer) -> None:
    verifier = OidcVerifier(issuer.url, AUDIENCE, refetch_every=3600)
    verifier.verify(issuer.token())
    stranger = RSAKey.generate_key(2048, parameters={"kid": "nope"})
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            verifier.verify(issuer.token(stranger))
    assert verifier.fetches == 1  # unknown kids cannot make us hammer the issuer


def test_an_unreachable_issuer_is_401_not_500(make_api) -> None:
    verifier = OidcVerifier("http://127.0.0.1:9/realms/none", AUDIENCE)
    api = make_api(oidc=verifier)
    key = RSAKey.generate_key(2048, parameters={"kid": "k"})
    token = jwt.encode({"alg": "RS256", "kid": "k"}, {"sub": "u-1001"}, key)
    assert me(api, token).status_code == 401


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError):
        OidcVerifier("https://sso.example", AUDIENCE, algorithms=["HS256"])
