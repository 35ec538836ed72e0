"""Who may call the API: credentials, tokens (hashed, revocable, expiring), service accounts,
acting on another's behalf, permissions, the refusal audit and the failed-auth rate limit."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest

from gridflow.service.tokens import digest

SAMPLE = {"case_id": "1", "workflow_id": "ticket", "file_id": "f_abcdefghijkl", "token_id": "t_00"}
SAMPLE["notice_id"] = "n1"


def operations(app) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document under /api/v1, its path filled in."""
    out = []
    for template, ops in app.openapi()["paths"].items():
        if template.startswith("/api/v1"):
            path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m[1]], template)
            out += [(method.upper(), path) for method in ops]
    return sorted(out)


def test_every_operation_without_credentials_is_401_problem(api) -> None:
    ops = operations(api.app)
    assert len(ops) >= 28
    for method, path in ops:
        r = api.client.request(method, path)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        body = r.json()
        assert body["status"] == 401 and body["type"].endswith(":unauthenticated")
        assert body["request_id"] == r.headers["x-request-id"]


def test_unknown_and_malformed_tokens_are_refused_and_audited(api) -> None:
    for bad in ("gf_" + "x" * 43, "not-a-token", "eyJhbGciOiJub25lIn0.e30.x"):
        r = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, r.text
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    rows = api.engine.audit.page(outcome="unauthenticated")
    assert len(rows) == 3
    assert {r.action for r in rows} == {"GET /api/v1/me"}
    assert all(r.address == "testclient" and r.request_id for r in rows)


def test_tokens_are_stored_as_sha256_only(api) -> None:
    issued = api.engine.tokens.create("li.clerk", label="hotline")
    row = api.engine.tokens.get(issued.id)
    assert row.hash == hashlib.sha256(issued.token.encode()).hexdigest() == digest(issued.token)
    assert issued.token not in repr(row)
    assert issued.token.startswith("gf_") and len(issued.token) >= 43
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.token}"}).json()
    assert me["id"] == "li.clerk" and me["via"] == "token" and me["token_id"] == issued.id


def test_a_token_revoked_mid_session_stops_working_at_once(api, make_api) -> None:
    other = make_api(engine=None, url=str(api.engine.store.url).replace("+pysqlite", ""))
    headers = api.auth("li.clerk")
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    assert other.client.get("/api/v1/me", headers=headers).status_code == 200
    token_id = api.engine.tokens.listed("li.clerk")[0].id
    r = api.client.delete(f"/api/v1/admin/tokens/{token_id}", headers=api.auth("ops.admin"))
    assert r.status_code == 200 and r.json()["revoked_by"] == "ops.admin"
    for client in (api.client, other.client):  # this server and another on the same database
        r = client.get("/api/v1/me", headers=headers)
        assert r.status_code == 401
        assert "revoked" in r.json()["detail"]


def test_expired_token_is_refused(api, clock) -> None:
    issued = api.engine.tokens.create("li.clerk", expires_at=clock.now + timedelta(days=1))
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(days=1, seconds=1)
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_last_use_is_recorded(api) -> None:
    api.client.get("/api/v1/me", headers=api.auth("li.clerk"))
    row = api.engine.tokens.listed("li.clerk")[0]
    assert row.last_used_at is not None and row.last_used_from == "testclient"


def test_a_person_removed_from_the_directory_cannot_use_their_token(api) -> None:
    headers = api.auth("nobody")
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    del api.engine.directory.people["nobody"]
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401


def test_the_actor_is_the_principal_and_the_origin_is_recorded(api) -> None:
    case = api.start("li.clerk")
    steps = api.client.get(f"/api/v1/cases/{case['id']}/history", headers=api.auth("li.clerk"))
    first = steps.json()[0]
    assert first["actor"] == "li.clerk"
    o = first["origin"]
    assert o["channel"] == "api" and o["principal"] == "li.clerk" and o["address"] == "testclient"
    assert o["token_id"] == api.engine.tokens.listed("li.clerk")[0].id
    assert o["request_id"] and o["on_behalf_of"] is None
    # an "actor" field in the body is no way to be someone else
    r = api.client.post(
        "/api/v1/cases",
        headers=api.auth("li.clerk"),
        json={"workflow": "ticket", "data": {"title": "x"}, "actor": "wang.chief"},
    )
    assert r.status_code == 422


def test_a_person_without_the_role_gets_403_naming_role_and_unit(api) -> None:
    case = api.start("li.clerk")
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("chen.grid"),
        json={"trigger": "assign", "data": {"department": "police"}},
    )
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["type"].endswith(":role-refused")
    assert body["needed"] == [
        {"role": "clerk", "org_role": "clerk", "scope": "unit", "unit": "fenglin"}
    ]
    assert "clerk" in body["detail"]
    audit = api.engine.audit.page(outcome="forbidden")
    assert audit[0].principal == "chen.grid" and audit[0].case_id == case["id"]
    assert audit[0].trigger == "assign" and "clerk" in audit[0].reason


def test_acting_on_behalf_needs_a_grant_and_is_recorded(api) -> None:
    case = api.start("li.clerk")
    # zhou.secretary may act for wang.chief (acts_for in org.yaml)
    r = api.client.get(
        f"/api/v1/cases/{case['id']}",
        headers=api.auth("zhou.secretary", **{"On-Behalf-Of": "wang.chief"}),
    )
    assert r.status_code == 200
    # but not for li.clerk
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("zhou.secretary", **{"On-Behalf-Of": "li.clerk"}),
        json={"trigger": "assign", "data": {"department": "police"}},
    )
    assert r.status_code == 403 and r.json()["permission"] == "acts_for:li.clerk"
    # the service account acts for people of wannan (and below), recorded as such
    hotline = api.auth("hotline.app", **{"On-Behalf-Of": "zhao.area"})
    r = api.client.post(
        "/api/v1/cases", headers=hotline, json={"workflow": "ticket", "data": {"title": "噪音"}}
    )
    assert r.status_code == 201, r.text
    step = api.engine.history(r.json()["id"])[0]
    assert step.actor == "zhao.area"
    assert step.origin.principal == "hotline.app" and step.origin.on_behalf_of == "zhao.area"
    r = api.client.get(
        "/api/v1/me", headers=api.auth("hotline.app", **{"On-Behalf-Of": "qian.north"})
    )
    assert r.status_code == 403


def test_a_service_account_acts_with_its_own_grants(api) -> None:
    r = api.client.post(
        "/api/v1/cases",
        headers=api.auth("hotline.app"),
        json={"workflow": "ticket", "data": {"title": "12345 工单"}},
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = api.client.post(
        f"/api/v1/cases/{case_id}/events",
        headers=api.auth("hotline.app"),
        json={"trigger": "assign", "data": {"department": "police"}},
    )
    assert r.status_code == 200, r.text
    steps = api.engine.history(case_id)
    assert [s.actor for s in steps] == ["hotline.app", "hotline.app"]
    me = api.client.get("/api/v1/me", headers=api.auth("hotline.app")).json()
    assert me["kind"] == "service" and me["roles"] == [{"role": "clerk", "unit": "fenglin"}]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/api/v1/admin/outbox"),
        ("GET", "/api/v1/admin/tokens"),
        ("GET", "/api/v1/admin/audit"),
        ("GET", "/api/v1/admin/endpoints"),
        ("POST", "/api/v1/admin/outbox/retry-dead"),
        ("DELETE", "/api/v1/admin/tokens/t_00"),
    ],
)
def test_admin_operations_need_the_admin_permission(api, method, path) -> None:
    r = api.client.request(method, path, headers=api.auth("wang.chief"))
    assert r.status_code == 403
    assert r.json()["permission"] == "admin"
    assert api.client.request(method, path, headers=api.auth("ops.admin")).status_code in (200, 404)


def test_admin_lists_the_refusals_with_who_what_why_when_where(api) -> None:
    case = api.start("li.clerk")
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("li.clerk", **{"X-Request-ID": "req-42"}),
        json={"trigger": "close"},
    )
    assert r.status_code == 409
    page = api.client.get("/api/v1/admin/audit", headers=api.auth("ops.admin")).json()
    row = page["items"][0]
    assert row["principal"] == "li.clerk" and row["outcome"] == "refused" and row["status"] == 409
    assert row["action"] == "POST /api/v1/cases/{case_id}/events" and row["trigger"] == "close"
    assert row["request_id"] == "req-42" and row["address"] == "testclient"
    assert "allowed here" in row["reason"] and row["at"]


def test_failed_authentications_are_rate_limited_per_address(make_api) -> None:
    api = make_api(auth_failures_burst=3, auth_failures_per_minute=1)
    bad = {"Authorization": "Bearer gf_wrong"}
    assert [api.client.get("/api/v1/me", headers=bad).status_code for _ in range(3)] == [401] * 3
    r = api.client.get("/api/v1/me", headers=bad)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["retry_after"] >= 1
    # while limited, even a good token from that address is held off (no oracle for guesses)
    assert api.client.get("/api/v1/me", headers=api.auth("li.clerk")).status_code == 429
    # no credentials at all costs nothing and is still a plain 401
    assert api.client.get("/api/v1/me").status_code == 401
    assert api.engine.audit.page(outcome="rate_limited")


def test_read_all_sees_every_case_others_only_theirs(api) -> None:
    north = api.start("qian.north")  # unit wanbei
    south = api.start("zhao.area")  # unit wannan
    mine = [
        c["id"]
        for c in api.client.get("/api/v1/cases", headers=api.auth("zhao.area")).json()["items"]
    ]
    assert south["id"] in mine and north["id"] not in mine
    r = api.client.get(f"/api/v1/cases/{north['id']}", headers=api.auth("zhao.area"))
    assert r.status_code == 404  # a case one may not see is not confirmed to exist
    everything = api.client.get("/api/v1/cases", headers=api.auth("bi.app")).json()["items"]
    assert {c["id"] for c in everything} == {north["id"], south["id"]}
