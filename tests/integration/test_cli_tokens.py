"""``gridflow token create | list | revoke`` and ``gridflow serve --print-openapi``."""

from __future__ import annotations

import json

from click.testing import CliRunner
from http_fixtures import DATA_HTTP, HTTP_ORG

from gridflow.drivers.cli.main import cli


def test_token_create_list_revoke(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "GRIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "GRIDFLOW_WORKFLOWS": str(DATA_HTTP),
    }
    run = CliRunner(env=env)
    assert run.invoke(cli, ["org", "load", str(HTTP_ORG)]).exit_code == 0
    made = run.invoke(
        cli, ["token", "create", "--person", "li.clerk", "--expires", "90d", "--label", "热线"]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[0]
    assert secret.startswith("gf_")
    service = run.invoke(cli, ["token", "create", "--service", "hotline.app", "--json"])
    assert json.loads(service.stdout)["kind"] == "service"
    listed = json.loads(run.invoke(cli, ["token", "list", "--json"]).stdout)
    assert {t["principal"] for t in listed} == {"li.clerk", "hotline.app"}
    assert all("hash" not in t and secret not in json.dumps(t) for t in listed)
    mine = next(t for t in listed if t["principal"] == "li.clerk")
    assert mine["label"] == "热线" and mine["expires_at"]
    assert run.invoke(cli, ["token", "revoke", mine["id"]]).exit_code == 0
    again = run.invoke(cli, ["token", "revoke", mine["id"]])
    assert again.exit_code == 1 and "already revoked" in again.output
    assert len(json.loads(run.invoke(cli, ["token", "list", "--json"]).stdout)) == 1
    assert len(json.loads(run.invoke(cli, ["token", "list", "--all", "--json"]).stdout)) == 2
    table = run.invoke(cli, ["token", "list"])
    assert "hotline.app" in table.output and secret not in table.output


def test_token_create_refuses_unknown_people_and_bad_spans(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "GRIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "GRIDFLOW_WORKFLOWS": str(DATA_HTTP),
    }
    run = CliRunner(env=env)
    run.invoke(cli, ["org", "load", str(HTTP_ORG)])
    r = run.invoke(cli, ["token", "create", "--person", "li.clerc"])
    assert r.exit_code == 1 and "did you mean 'li.clerk'" in r.output
    r = run.invoke(cli, ["token", "create", "--person", "li.clerk", "--expires", "soon"])
    assert r.exit_code == 2
    r = run.invoke(cli, ["token", "create"])
    assert r.exit_code == 2 and "exactly one" in r.output


def test_print_openapi(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"GRIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}"}
    out = CliRunner(env=env).invoke(cli, ["serve", "--print-openapi"])
    assert out.exit_code == 0 and json.loads(out.stdout)["info"]["title"] == "gridflow"
