"""The ``gridflow`` command line: in-process through click's CliRunner, and as real
processes sharing one database file (state survives between them).

Exit codes: 0 ok, 1 refused or failed (a message on stderr, never a traceback), 2 usage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BROKEN, DATA, T0

from gridflow.drivers.cli.main import cli

ORG = DATA / "org.yaml"
PINNED = "2025-03-03T10:00"  # GRIDFLOW_NOW, Shanghai time: T0 in UTC


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """A clean environment: a fresh database, the test workflows, a pinned clock, no config
    file and no ``./workflows`` folder (the cwd is an empty temporary folder)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("GRIDFLOW_"):
            monkeypatch.delenv(name)
    values = {
        "GRIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "GRIDFLOW_WORKFLOWS": str(DATA),
        "GRIDFLOW_NOW": PINNED,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def run(env):
    def invoke(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args])

    return invoke


@pytest.fixture
def loaded(run):
    """The test org is the directory in force."""
    result = run("org", "load", ORG)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"loaded {ORG}: 9 units, 9 people"
    return run


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def refused(result, message: str) -> None:
    """Exit 1, the message on stderr as ``Error: ...``, nothing on stdout, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def usage(result, text: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert text in result.stderr
    assert "Traceback" not in result.output


# ---- cases through CliRunner ------------------------------------------------------------------
def test_start_fire_show_history_list(loaded):
    run = loaded
    assert (
        ok(
            run(
                "start",
                "ticket",
                "--actor",
                "li.clerk",
                "--set",
                "title=漏水",
                "--set",
                'tags=["水", "管"]',
                "--unit",
                "g1",
            )
        ).strip()
        == "1"
    )
    out = ok(run("fire", "1", "assign", "--actor", "li.clerk", "--set", "department=police"))
    assert out.strip() == "case 1: assigned (已派单), version 2"
    shown = json.loads(ok(run("show", "1", "--json")))
    assert (shown["id"], shown["state"], shown["version"], shown["unit"]) == (
        1,
        "assigned",
        2,
        "g1",
    )
    assert shown["data"]["tags"] == ["水", "管"] and shown["data"]["department"] == "police"
    assert shown["created_at"] == T0.isoformat()
    text = ok(run("show", "1"))
    assert "assigned" in text and "漏水" in text
    steps = json.loads(ok(run("history", "1", "--json")))
    assert [(s["seq"], s["trigger"], s["to_state"]) for s in steps] == [
        (1, "start", "new"),
        (2, "assign", "assigned"),
    ]
    assert all(s["at"] == T0.isoformat() for s in steps)
    assert "assign" in ok(run("history", "1"))
    listed = json.loads(ok(run("list", "--json", "--unit", "wannan")))
    assert [c["id"] for c in listed] == [1]
    assert json.loads(ok(run("list", "--json", "--unit", "wanbei"))) == []
    assert ok(run("list", "--state", "closed")).strip() == "no cases"
    assert ok(run("triggers", "1", "--actor", "cop")).strip() == "answer"
    assert ok(run("triggers", "1", "--actor", "li.clerk")).strip() == "none"


def test_json_outputs_parse(loaded):
    run = loaded
    case = json.loads(ok(run("start", "counter", "--actor", "sun.worker", "--json")))
    assert (case["workflow"], case["state"], case["version"]) == ("counter", "ping", 1)
    fired = json.loads(
        ok(
            run(
                "fire",
                str(case["id"]),
                "flip",
                "--actor",
                "sun.worker",
                "--expect-version",
                "1",
                "--json",
            )
        )
    )
    assert (fired["state"], fired["version"], fired["data"]) == (
        "pong",
        2,
        {"count": 1, "flips": 1},
    )
    assert isinstance(json.loads(ok(run("list", "--json"))), list)
    assert isinstance(json.loads(ok(run("history", str(case["id"]), "--json"))), list)
    assert isinstance(json.loads(ok(run("show", str(case["id"]), "--json"))), dict)
    assert "properties" in json.loads(ok(run("schema")))


def test_refusals_exit_1_with_the_reason_on_stderr(loaded):
    run = loaded
    ok(run("start", "ticket", "--actor", "li.clerk", "--set", "title=x", "--unit", "g1"))
    refused(
        run("fire", "1", "answer", "--actor", "cop", "--set", "answer=x"),
        "cannot 'answer' case 1 in state 'new'; allowed here: nothing for cop "
        "(other roles may: assign, reject)",
    )
    refused(
        run("fire", "1", "assign", "--actor", "cop", "--set", "department=police"),
        "派出所联络员 (cop: handler@police, liaison@police, helper@police) cannot 'assign' "
        "case 1 (ticket, state 'new'): needs clerk of 第一网格 (g1) or a unit above it",
    )
    refused(
        run("fire", "1", "asign", "--actor", "li.clerk"),
        "cannot 'asign' case 1 in state 'new'; allowed here: assign, reject "
        "(did you mean 'assign'?)",
    )
    refused(
        run("fire", "1", "assign", "--actor", "li.clerk"),
        "cannot 'assign' case 1: the event must supply department",
    )
    refused(
        run("fire", "1", "reject", "--actor", "li.clerk"),
        "cannot 'reject' case 1: a comment is required",
    )
    refused(run("fire", "9", "assign", "--actor", "li.clerk"), "no case 9")
    refused(run("show", "9"), "no case 9")
    refused(
        run("fire", "1", "assign", "--actor", "li.clrek", "--set", "department=police"),
        "no person 'li.clrek' (did you mean 'li.clerk'?)",
    )
    refused(
        run("start", "tickit", "--actor", "li.clerk"),
        "no workflow 'tickit' (did you mean 'ticket'?)",
    )
    refused(run("start", "ticket", "--actor", "li.clerk"), "cannot start ticket: required: title")
    refused(
        run(
            "fire",
            "1",
            "assign",
            "--actor",
            "li.clerk",
            "--set",
            "department=police",
            "--expect-version",
            "7",
        ),
        "case 1 is at version 1, not 7: someone else moved it first; reload and try again",
    )
    refused(run("graph", "nope"), "no workflow 'nope'")
    # nothing of that moved the case
    shown = json.loads(ok(run("show", "1", "--json")))
    assert (shown["state"], shown["version"]) == ("new", 1)


def test_usage_errors_exit_2(loaded):
    run = loaded
    usage(run("frobnicate"), "No such command 'frobnicate'")
    usage(run("fire", "1", "assign"), "Missing option '--actor'")
    usage(run("fire", "one", "assign", "--actor", "li.clerk"), "'one' is not a valid integer")
    usage(
        run("start", "ticket", "--actor", "li.clerk", "--set", "title"), "'title' is not key=value"
    )
    usage(run("graph", "ticket", "--format", "png"), "'png' is not one of 'mermaid', 'dot'")
    usage(run("start"), "Missing argument 'WORKFLOW'")


def test_the_workflows_option_beats_the_environment(run, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(DATA / "counter.yaml", other / "counter.yaml")
    ok(run("--workflows", other, "org", "load", ORG))
    out = json.loads(
        ok(run("--workflows", other, "start", "counter", "--actor", "sun.worker", "--json"))
    )
    assert out["workflow"] == "counter"
    refused(
        run("--workflows", other, "start", "ticket", "--actor", "li.clerk"), "no workflow 'ticket'"
    )


# ---- validate, schema, graph ------------------------------------------------------------------
def test_validate_a_clean_folder(run):
    out = ok(run("validate"))
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for wf, states, transitions in (("counter", 3, 5), ("lab", 5, 14), ("ticket", 6, 7)):
        assert (
            f"ok  {DATA / wf}.yaml: {wf} v1 — {states} states, {transitions} transitions" in lines
        )
    assert "error" not in run("validate").stderr.lower()


def test_validate_lists_every_error(run, tmp_path):
    folder = tmp_path / "wf"
    folder.mkdir()
    names = ["five_mistakes.yaml", "unknown_refs.yaml", "unreachable.yaml", "duplicate_keys.yaml"]
    for name in names:
        shutil.copy(BROKEN / name, folder / name)
    shutil.copy(DATA / "ticket.yaml", folder / "ticket.yaml")
    result = run("validate", folder)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "Error: 14 error(s) in 5 file(s)"
    located = [ln for ln in lines[:-1] if not ln.startswith("calendar:")]
    assert len(located) == 14
    for name, count in (
        ("five_mistakes", 5),
        ("unknown_refs", 6),
        ("unreachable", 1),
        ("duplicate_keys", 2),
    ):
        assert sum(ln.startswith(f"{folder / name}.yaml:") for ln in located) == count
    assert (
        f"{folder}/five_mistakes.yaml:23:5: transitions[1].dest: unknown state 'dnoe' "
        "(did you mean 'done'?)"
    ) in located
    assert f"{folder}/duplicate_keys.yaml:7:3: states.open: duplicate key 'open'" in located
    assert result.stdout == ""


def test_validate_named_files(run):
    result = run("validate", BROKEN / "dead_end.yaml", DATA / "counter.yaml")
    assert result.exit_code == 1
    assert (
        f"{BROKEN}/dead_end.yaml:6:3: states.stuck: state 'stuck' is not final and has no way out"
    ) in result.stderr
    assert ok(run("validate", DATA / "counter.yaml")).startswith(f"ok  {DATA}/counter.yaml")


def test_validate_refuses_hostile_yaml_without_running_it(run, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'id: evil\ntitle: !!python/object/apply:os.system ["touch {marker}"]\n')
    result = run("validate", evil)
    assert result.exit_code == 1
    assert (
        f"{evil}:2:1: title: tag 'tag:yaml.org,2002:python/object/apply:os.system'" in result.stderr
    )
    assert not marker.exists()


def test_schema(run):
    schema = json.loads(ok(run("schema")))
    assert {"id", "states", "transitions"} <= set(schema["properties"])
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_graph_mermaid_and_dot(loaded):
    run = loaded
    mermaid = ok(run("graph", "ticket", "--format", "mermaid"))
    assert "stateDiagram" in mermaid
    for state in ("new", "assigned", "answered", "escalated", "closed", "rejected"):
        assert state in mermaid
    assert ok(run("graph", "ticket")) == mermaid  # mermaid is the default
    dot = ok(run("graph", "ticket", "--format", "dot"))
    assert dot.lstrip().startswith("digraph") and dot.rstrip().endswith("}")
    assert "assigned" in dot and "->" in dot
    ok(run("start", "ticket", "--actor", "li.clerk", "--set", "title=x", "--unit", "g1"))
    assert "new" in ok(run("graph", "ticket", "--case", "1"))


# ---- real processes ---------------------------------------------------------------------------
def gridflow_command() -> list[str]:
    script = Path(sys.executable).parent / "gridflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gridflow.drivers.cli.main"]


@pytest.mark.slow
def test_state_survives_between_processes(env, tmp_path):
    def proc(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*gridflow_command(), *map(str, args)],
            cwd=tmp_path,
            env=os.environ | env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done

    proc("org", "load", ORG)
    case_id = proc(
        "start", "ticket", "--actor", "li.clerk", "--set", "title=楼道堆物", "--unit", "g1"
    ).stdout.strip()
    assert case_id == "1"
    fired = json.loads(
        proc(
            "fire", case_id, "assign", "--actor", "li.clerk", "--set", "department=police", "--json"
        ).stdout
    )
    assert (fired["state"], fired["version"]) == ("assigned", 2)
    shown = json.loads(proc("show", case_id, "--json").stdout)
    assert (shown["state"], shown["version"], shown["title"]) == ("assigned", 2, "楼道堆物")
    assert shown["data"]["department"] == "police"

    no = proc("fire", case_id, "answer", "--actor", "li.clerk", "--set", "answer=x", code=1)
    assert no.stdout == ""
    assert no.stderr.strip() == (
        "Error: 李受理 (li.clerk: clerk@fenglin) cannot 'answer' case 1 "
        "(ticket, state 'assigned'): needs handler of police "
        "(the case's department)"
    )
    bad = proc("fire", case_id, code=2)
    assert "Missing argument 'TRIGGER'" in bad.stderr

    steps = json.loads(proc("history", case_id, "--json").stdout)
    assert [(s["seq"], s["trigger"], s["actor"], s["at"]) for s in steps] == [
        (1, "start", "li.clerk", T0.isoformat()),
        (2, "assign", "li.clerk", T0.isoformat()),
    ]
