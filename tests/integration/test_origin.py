"""Where a step came from is recorded beside it: the channel, and for the CLI the OS user
and host behind the typed ``--actor``; system steps (timers) record none."""

from __future__ import annotations

import getpass
import json
import socket

from click.testing import CliRunner
from conftest import DATA

from gridflow.domain.cases import Origin
from gridflow.drivers.cli.main import cli


def test_an_embedding_app_records_its_origin(engine, clock) -> None:
    origin = Origin("api", principal="li.clerk", token_id="t1", address="10.0.0.7", request_id="r9")
    case = engine.start("ticket", actor="li.clerk", data={"title": "x"}, origin=origin)
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    steps = engine.history(case.id)
    assert steps[0].origin == origin
    assert steps[1].origin is None  # no origin given: nothing recorded


def test_a_cli_step_records_the_os_user_and_host(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'o.db'}"
    env = {"GRIDFLOW_DATABASE_URL": db, "GRIDFLOW_WORKFLOWS": str(DATA)}
    run = CliRunner(env=env)
    assert run.invoke(cli, ["org", "load", str(DATA / "org.yaml")]).exit_code == 0
    started = run.invoke(cli, ["start", "ticket", "--actor", "li.clerk", "--set", "title=x"])
    assert started.exit_code == 0, started.output
    shown = run.invoke(cli, ["history", started.output.strip(), "--json"])
    first = json.loads(shown.output)[0]
    assert first["origin"]["channel"] == "cli"
    assert first["origin"]["os_user"] == getpass.getuser()
    assert first["origin"]["host"] == socket.gethostname()
