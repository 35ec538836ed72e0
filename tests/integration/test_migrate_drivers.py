"""``gridflow migrate | revisions`` and ``POST /api/v1/admin/workflows/{id}/migrations``:
the plan printed per case, clean one-line refusals, problem+json with every reason (#16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA
from http_fixtures import http_directory
from migrate_site import PERMIT, RENAMED, REQUIRED, open_permits, write

from gridflow.drivers.cli.main import cli


@pytest.fixture
def cli_site(tmp_path, make_engine, monkeypatch):
    """Two permits on revision 1 (one in review), revision 2 (review renamed) stored; the
    CLI's arguments to reach them."""
    monkeypatch.chdir(tmp_path)  # no gridflow.toml of the developer's
    monkeypatch.setenv("GRIDFLOW_NOW", "2025-03-03T12:00")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url, write(tmp_path / "v1", PERMIT))
    engine.load_org(DATA / "org.yaml")
    ids = open_permits(engine, 2, submit=1)
    engine.load_workflows(write(tmp_path / "v2", RENAMED))
    return ["--db", url, "--workflows", str(tmp_path / "v2")], engine, ids


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_dry_run_prints_the_plan_per_case_and_apply_moves(cli_site) -> None:
    base, engine, (reviewed, fresh) = cli_site
    listed = run(*base, "revisions", "permit")
    assert listed.exit_code == 0, listed.output
    assert [line.split()[:2] for line in listed.output.splitlines()[2:]] == [
        ["permit", "1"],
        ["permit", "2"],
    ]

    refused = run(*base, "migrate", "permit", "--to", "2", "--actor", "li.clerk")
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1
    assert "state 'review' is not in revision 2" in refused.output

    dry = run(
        *base, "migrate", "permit", "--to", "2", "--map", "review=checking", "--actor", "li.clerk"
    )
    assert dry.exit_code == 0, dry.output
    assert f"#{reviewed}  rev 1 → 2  review → checking  deadline recomputed" in dry.output
    assert f"#{fresh}  rev 1 → 2  new → new  deadline none" in dry.output
    assert "timers: cancelled overdue:0, remind:0; created remind:0 @ 2025-03-04" in dry.output
    assert "dry run: nothing changed" in dry.output
    assert engine.get(reviewed).revision == 1

    mapfile = write(Path(base[3]).parent, "states: {review: checking}\n", "map.yaml")
    applied = run(
        *base, "migrate", "permit", "--to", "2", "--map-file", str(mapfile), "--apply",
        "--actor", "li.clerk", "--comment", "fix #16", "--json",
    )  # fmt: skip
    assert applied.exit_code == 0, applied.output
    out = json.loads(applied.output)
    assert (out["migrated"], out["applied"]) == (2, True)
    (step,) = [s for s in engine.history(reviewed) if s.trigger == "migrate"]
    assert step.comment == "revision 1 → 2: fix #16"
    assert step.origin is not None and step.origin.channel == "cli"

    bad = run(*base, "migrate", "permit", "--to", "2", "--map", "review", "--actor", "li.clerk")
    assert bad.exit_code == 2 and "OLD=NEW" in bad.output

    # a map file is read like a workflow file: bounded and safe, a bad one a located line
    deep = write(Path(base[3]).parent, "states: " + "[" * 2000 + "]" * 2000 + "\n", "deep.yaml")
    python = write(Path(base[3]).parent, "states: !!python/object:os.system x\n", "py.yaml")
    for broken in (deep, python):
        refused = run(
            *base, "migrate", "permit", "--to", "2", "--map-file", str(broken),
            "--actor", "li.clerk",
        )  # fmt: skip
        assert refused.exit_code == 1, refused.output
        first, *rest = refused.output.strip().splitlines()
        assert first.startswith(f"{broken}:1:") and rest == ["Error: 1 error(s)"], refused.output


@pytest.fixture
def http_site(tmp_path, make_engine, make_api):
    engine = make_engine(
        f"sqlite:///{tmp_path / 'api.db'}",
        write(tmp_path / "v1", PERMIT),
        directory=http_directory(),
    )
    ids = open_permits(engine, 2, submit=2)
    engine.load_workflows(write(tmp_path / "v2", REQUIRED))
    return make_api(engine=engine), ids


def test_http_dry_run_refusal_and_apply(http_site) -> None:
    api, ids = http_site
    path = "/api/v1/admin/workflows/permit/migrations"
    assert (
        api.client.post(path, headers=api.auth("li.clerk"), json={"to_revision": 2}).status_code
        == 403
    )

    refused = api.client.post(path, headers=api.auth("ops.admin"), json={"to_revision": 2})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["type"].endswith("migration-refused")
    assert [(p["kind"], p["subject"], p["count"]) for p in body["problems"]] == [
        ("required-field", "owner", 2)
    ]

    bad_where = api.client.post(
        path, headers=api.auth("ops.admin"), json={"to_revision": 2, "where": "data.("}
    )
    assert bad_where.status_code == 422 and bad_where.json()["errors"][0]["field"] == "where"
    assert (
        api.client.post(
            "/api/v1/admin/workflows/nosuch/migrations",
            headers=api.auth("ops.admin"),
            json={"to_revision": 2},
        ).status_code
        == 404
    )

    ask = {"to_revision": 2, "values": {"owner": "王"}, "keep_deadline": True}
    dry = api.client.post(path, headers=api.auth("ops.admin"), json=ask)
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert (plan["applied"], plan["to_migrate"], plan["migrated"]) == (False, 2, 0)
    case = plan["cases"][0]
    assert case["added"] == {"priority": "normal", "owner": "王"}
    assert case["deadline"] == "kept" and case["due_before"] == case["due_after"]
    assert case["due_after"].endswith("+08:00")
    assert api.engine.get(ids[0]).revision == 1

    done = api.client.post(path, headers=api.auth("ops.admin"), json={**ask, "apply": True})
    assert done.status_code == 200 and done.json()["migrated"] == 2
    (step,) = [s for s in api.engine.history(ids[0]) if s.trigger == "migrate"]
    assert step.actor == "ops.admin" and step.origin.channel == "api"
    again = api.client.post(path, headers=api.auth("ops.admin"), json={**ask, "apply": True})
    assert again.json()["to_migrate"] == 0
