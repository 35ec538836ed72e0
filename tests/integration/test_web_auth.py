"""Signing in to the workbench: argon2 passwords, sessions in an HttpOnly/SameSite cookie
(Secure over https), idle and absolute expiry, logout, CSRF on every form, the login rate
limit per address, and the ``gridflow user set-password`` command."""

from __future__ import annotations

import pytest
from web_fixtures import form_csrf
from web_world import PASSWORD

from gridflow.errors import NotFound, PasswordRefused


def _cookie(response, name: str) -> str:
    headers = [v for k, v in response.headers.multi_items() if k.lower() == "set-cookie"]
    found = [h for h in headers if h.startswith(name + "=")]
    assert found, headers
    return found[0]


def test_passwords_are_argon2id_hashes_and_checked(web):
    accounts = web.engine.accounts
    row = {a.person: a for a in accounts.listed()}["wannan.chief"]
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert accounts.verify("wannan.chief", PASSWORD)
    assert not accounts.verify("wannan.chief", PASSWORD + "x")
    assert not accounts.verify("no.such.person", PASSWORD)
    with pytest.raises(PasswordRefused) as short:
        accounts.set_password("wannan.chief", "short")
    assert short.value.reason == "too_short"
    with pytest.raises(PasswordRefused):
        accounts.set_password("wannan.chief", "wannan.chief")
    with pytest.raises(NotFound):
        accounts.set_password("nobody.here", "a long enough password")


def test_login_sets_a_hardened_cookie_and_logout_deletes_the_session(web):
    c = web.client()
    page = c.get("/login")
    r = c.post(
        "/login",
        data={
            "person": "wannan.chief",
            "password": PASSWORD,
            "csrf": form_csrf(page.text),
            "next": "/board",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/board"
    cookie = _cookie(r, "gf_session")
    flags = {p.strip().split("=")[0].lower() for p in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in flags  # plain http here: a Secure cookie would never come back
    secret = cookie.split(";")[0].split("=", 1)[1]
    assert len(secret) >= 43
    # only the hash is stored
    assert web.engine.sessions.resolve(secret) is not None
    assert c.get("/my").status_code == 200
    token = web.csrf(c)
    out = c.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    assert web.engine.sessions.resolve(secret) is None
    c.cookies.set("gf_session", secret)  # the old cookie replayed: ended on the server
    again = c.get("/my", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


def test_cookie_is_secure_over_https(make_web):
    web = make_web(base_url="https://testserver")
    c = web.client()
    page = c.get("/login")
    assert "secure" in _cookie(page, "gf_login_csrf").lower()
    r = c.post(
        "/login",
        data={"person": "wannan.chief", "password": PASSWORD, "csrf": form_csrf(page.text)},
        follow_redirects=False,
    )
    cookie = _cookie(r, "gf_session").lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_wrong_password_unknown_person_and_missing_login_csrf_are_refused(web):
    c = web.client()
    page = c.get("/login")
    token = form_csrf(page.text)
    bad = c.post(
        "/login",
        data={"person": "wannan.chief", "password": "wrong password!", "csrf": token},
        follow_redirects=False,
    )
    assert bad.status_code == 401 and "账号或密码不正确" in bad.text
    unknown = c.post(
        "/login",
        data={"person": "ghost", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert unknown.status_code == 401 and "账号或密码不正确" in unknown.text  # the same answer
    other = web.client()  # a form posted from elsewhere: no double-submit cookie
    forged = other.post(
        "/login",
        data={"person": "wannan.chief", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "gf_session" not in forged.headers.get("set-cookie", "")
    audit = web.engine.audit.page(limit=10)
    assert any(a.channel == "web" and "login_failed" in a.reason for a in audit)


def test_login_is_rate_limited_per_address(make_web):
    web = make_web(login_failures_burst=3, login_failures_per_minute=0.01)
    c = web.client()
    token = form_csrf(c.get("/login").text)
    codes = [
        c.post(
            "/login",
            data={"person": "wannan.chief", "password": f"guess number {i}", "csrf": token},
            follow_redirects=False,
        ).status_code
        for i in range(3)
    ]
    assert codes == [401, 401, 401]
    limited = c.post(
        "/login",
        data={"person": "wannan.chief", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "gf_session" not in limited.headers.get("set-cookie", "")  # even the right password


def test_a_post_without_the_csrf_token_is_refused(web):
    c = web.login("wannan.chief")
    case_id = web.world.cases["stairs"]
    before = web.engine.get(case_id).version
    for headers, data in (({}, {}), ({}, {"csrf": "forged"}), ({"X-CSRF-Token": "forged"}, {})):
        r = c.post(f"/cases/{case_id}/act/accept", data=data, headers=headers)
        assert r.status_code == 403, r.text
    assert web.engine.get(case_id).version == before
    for path in ("/logout", "/admin/tokens"):
        assert c.post(path, data={}).status_code == 403
    token = web.csrf(c)
    ok = c.post(f"/cases/{case_id}/act/accept", data={"csrf": token}, follow_redirects=False)
    assert ok.status_code == 303 and web.engine.get(case_id).state == "coordinating"
    ok2 = c.post(
        f"/cases/{web.world.cases['bikes']}/act/accept",
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert ok2.status_code == 303  # htmx sends the header instead of the field


def test_sessions_end_when_idle_or_too_old(make_web):
    web = make_web(idle_minutes=30, absolute_hours=2)
    clock = web.world.clock
    c = web.login("wannan.chief")
    clock.advance(minutes=29)
    assert c.get("/my").status_code == 200  # used: idle counts again from here (touched)
    clock.advance(minutes=29)
    assert c.get("/my").status_code == 200
    clock.advance(minutes=31)
    assert c.get("/my", follow_redirects=False).status_code == 303  # idle too long
    c = web.login("wannan.chief")
    for _ in range(5):
        clock.advance(minutes=25)
        c.get("/my")
    assert c.get("/my", follow_redirects=False).status_code == 303  # past the absolute 2 h


def test_a_new_password_or_leaving_the_directory_ends_sessions(web):
    c = web.login("wannan.chief")
    web.engine.accounts.set_password("wannan.chief", "another long password")
    assert c.get("/my", follow_redirects=False).status_code == 303
    c = web.login("wannan.chief", "another long password")
    directory = web.engine.directory
    del directory.people["wannan.chief"]
    web.engine.principals._scopes.clear()
    assert c.get("/my", follow_redirects=False).status_code == 303


def test_next_after_login_stays_on_this_site(web):
    c = web.client()
    for evil in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        page = c.get("/login", params={"next": evil})
        r = c.post(
            "/login",
            data={
                "person": "wannan.chief",
                "password": PASSWORD,
                "csrf": form_csrf(page.text),
                "next": evil,
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == "/", evil
        c.cookies.clear()


def test_cli_set_password_prompts_twice_or_reads_stdin(tmp_path):
    from click.testing import CliRunner

    from gridflow.drivers.cli.main import cli
    from gridflow.service.engine import Engine

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner()
    r = run.invoke(
        cli,
        ["--db", db, "user", "set-password", "wannan.chief"],
        input="a good password\na good password\n",
    )
    assert r.exit_code == 0, r.output
    r = run.invoke(
        cli,
        ["--db", db, "user", "set-password", "wannan.chief"],
        input="first password!\nsecond password\n",
    )
    assert r.exit_code == 1 and "do not match" in r.output
    r = run.invoke(
        cli,
        ["--db", db, "user", "set-password", "--stdin", "fenglin.head"],
        input="from a script 123\n",
    )
    assert r.exit_code == 0, r.output
    r = run.invoke(
        cli, ["--db", db, "user", "set-password", "--stdin", "fenglin.head"], input="short\n"
    )
    assert r.exit_code == 1 and "at least 10" in r.output and "Traceback" not in r.output
    r = run.invoke(
        cli,
        ["--db", db, "user", "set-password", "--stdin", "nobody.at.all"],
        input="long enough pw\n",
    )
    assert r.exit_code == 1 and "no person" in r.output
    engine = Engine(db)
    try:
        assert engine.accounts.verify("wannan.chief", "a good password")
        assert engine.accounts.verify("fenglin.head", "from a script 123")
    finally:
        engine.close()
    r = run.invoke(cli, ["--db", db, "user", "list"])
    assert "wannan.chief" in r.output and "fenglin.head" in r.output
    r = run.invoke(cli, ["--db", db, "user", "remove", "fenglin.head"])
    assert r.exit_code == 0
