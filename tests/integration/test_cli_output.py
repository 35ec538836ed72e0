"""What the ``gridflow`` commands print for people.

- Every time shown is in the configured business timezone (``[calendar] timezone`` in
  gridflow.toml, or ``GRIDFLOW_TIMEZONE``), not only the environment variable's.
- ``history`` has no empty, nameless column.
- ``graph`` marks a state as active only for ``--case``, in Mermaid and in dot.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

from gridflow.drivers.cli.main import cli

# a small workflow with a clock and a notice, in the site's own folder
WORKFLOW = """\
id: clocked
version: 1
title: {zh: 计时, en: Clocked}
roles:
  anyone: {scope: any}
fields:
  title: {type: string}
  seen_at: {type: datetime}
title_field: title
start_roles: [anyone]
initial: open
states:
  open:
    label: {zh: 办理中, en: Open}
    sla: {due: 1wd}
    notify:
      - {template: opened, to: [creator]}
  done: {label: {zh: 完成, en: Done}, final: true}
transitions:
  - {trigger: finish, source: open, dest: done, roles: [anyone]}
"""
TEMPLATE = """\
{% block subject %}opened {{ case.title }}{% endblock %}
{% block body %}due {{ sla.due }}{% endblock %}
"""
PINNED = "2025-03-03T10:00"  # GRIDFLOW_NOW: Monday 10:00 in Berlin (09:00 UTC)


def site_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str) -> None:
    """A site folder as the cwd: gridflow.toml, the ``clocked`` workflow, the test org; no
    GRIDFLOW_* variable but the pinned clock."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("GRIDFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDFLOW_NOW", PINNED)
    (tmp_path / "gridflow.toml").write_text(toml, encoding="utf-8")
    templates = tmp_path / "workflows" / "templates" / "clocked"
    templates.mkdir(parents=True)
    (tmp_path / "workflows" / "clocked.yaml").write_text(WORKFLOW, encoding="utf-8")
    (templates / "opened.zh-CN.txt").write_text(TEMPLATE, encoding="utf-8")
    ok("org", "load", str(DATA / "org.yaml"))


BERLIN_TOML = """\
database_url = "sqlite:///site.db"
workflows = "workflows"

[calendar]
timezone = "Europe/Berlin"
"""


@pytest.fixture
def berlin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A site whose gridflow.toml says Europe/Berlin, with one case started (and its
    ``opened`` notice written) at Monday 2025-03-03 10:00 Berlin time."""
    site_with(tmp_path, monkeypatch, BERLIN_TOML)
    assert ok("start", "clocked", "--actor", "sun.worker", "--set", "title=水管").strip() == "1"


def ok(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


# ---- 1. times in the configured timezone ------------------------------------------------------
def test_show_prints_times_in_the_configured_timezone(berlin):
    shown = ok("show", "1")
    # created 10:00 Berlin (not 17:00, Shanghai); due at the end of the next working day,
    # 17:30 Berlin (not 00:30 the day after, Shanghai)
    assert "created   2025-03-03 10:00 by sun.worker" in shown
    assert "sla       open: due 2025-03-04 17:30, 13.5 wh left" in shown
    ok("fire", "1", "finish", "--actor", "sun.worker")
    assert "[closed 2025-03-03 10:00]" in ok("show", "1")


def test_show_prints_datetime_fields_in_the_configured_timezone(tmp_path, monkeypatch):
    site_with(tmp_path, monkeypatch, BERLIN_TOML)
    sets = ["--set", "title=水管", "--set", "seen_at=2025-03-03T07:15:00+00:00"]
    assert ok("start", "clocked", "--actor", "sun.worker", *sets).strip() == "1"
    shown = ok("show", "1")
    assert re.search(r"\n    seen_at\s+2025-03-03 08:15\n", shown), shown


def test_history_and_list_print_times_in_the_configured_timezone(berlin):
    ok("fire", "1", "finish", "--actor", "sun.worker")
    history = ok("history", "1")
    assert re.search(r"\n\s*1\s+2025-03-03 10:00\s+start", history), history
    assert re.search(r"\n\s*2\s+2025-03-03 10:00\s+finish", history), history
    assert "17:00" not in history
    listed = ok("list")
    assert "2025-03-03 10:00" in listed and "17:00" not in listed


def test_outbox_lists_print_times_in_the_configured_timezone(berlin):
    from gridflow.service.engine import Engine

    listed = ok("outbox", "list")
    assert "opened 水管" in listed
    assert listed.rstrip().endswith("2025-03-03 10:00"), listed
    engine = Engine("sqlite:///site.db", "workflows")
    try:
        with engine.store.write() as tx:  # a webhook answered 410 Gone at 09:00 UTC
            when = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
            engine.store.outbox.disable(tx, "hook", "", "410 Gone", when)
    finally:
        engine.close()
    endpoints = ok("outbox", "endpoints")
    assert "hook" in endpoints and "2025-03-03 10:00" in endpoints, endpoints


def test_daemon_log_lines_are_stamped_in_the_configured_timezone(berlin):
    """The host's zone (TZ, here Tokyo) is not the business one (Berlin, from the file)."""
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    env = {**os.environ, "TZ": "Asia/Tokyo"}
    before = datetime.now(ZoneInfo("Europe/Berlin")).replace(tzinfo=None, microsecond=0)
    res = subprocess.run(
        [sys.executable, "-m", "gridflow.drivers.cli.main", "daemon", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    after = datetime.now(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
    assert res.returncode == 0, res.stderr
    stamps = re.findall(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),\d{3} INFO ", res.stderr, re.M)
    assert stamps, res.stderr  # the pass sent the case's notice, and said so
    for stamp in stamps:
        assert before <= datetime.fromisoformat(stamp) <= after, (stamp, before, after)


def test_the_environment_variable_still_wins_over_the_file(berlin, monkeypatch):
    monkeypatch.setenv("GRIDFLOW_TIMEZONE", "Asia/Shanghai")
    # the case was created at 09:00 UTC: 17:00 in Shanghai
    assert "created   2025-03-03 17:00 by sun.worker" in ok("show", "1")


def test_now_is_read_in_the_configured_timezone(berlin, monkeypatch):
    """GRIDFLOW_NOW is read in the file's zone too (no ``GRIDFLOW_TIMEZONE``)."""
    import json

    created = json.loads(ok("show", "1", "--json"))["created_at"]
    assert datetime.fromisoformat(created) == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    # the deadline is 2025-03-04 17:30 Berlin (16:30 UTC)
    monkeypatch.setenv("GRIDFLOW_NOW", "2025-03-04T17:29")
    assert "OVERDUE" not in ok("show", "1")
    monkeypatch.setenv("GRIDFLOW_NOW", "2025-03-04T17:31")
    assert "due 2025-03-04 17:30, OVERDUE" in ok("show", "1")


# ---- 3. history has no empty column ----------------------------------------------------------
def test_history_has_no_empty_trailing_column(berlin):
    ok("fire", "1", "finish", "--actor", "sun.worker")
    lines = ok("history", "1").splitlines()
    header, rule = lines[0], lines[1]
    names = header.split()
    assert names == ["#", "at", "trigger", "move", "actor", "comment", "data"]
    # one rule segment per named column, none for a nameless one
    assert len(rule.split()) == len(names), rule
    assert not rule.rstrip().endswith("  --")
    assert all(line == line.rstrip() for line in lines)


def test_history_shows_lateness_under_a_named_column():
    from gridflow.drivers.cli.render import history_table

    class Step:
        def __init__(self, seq: int, late_by: float | None):
            self.seq, self.late_by = seq, late_by
            self.at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
            self.trigger, self.from_state, self.to_state = "sla:overdue", "open", "open"
            self.actor, self.role, self.comment, self.payload = "system", None, None, None

    from zoneinfo import ZoneInfo

    table = history_table([Step(1, None), Step(2, 600.0)], ZoneInfo("Europe/Berlin"))
    header, rule = table.splitlines()[:2]
    assert header.split()[-1] == "late"
    assert len(rule.split()) == len(header.split())
    assert "late 10 min" in table and "2025-03-03 10:00" in table


# ---- 4. graph: an active state only for a case -------------------------------------------------
@pytest.fixture
def builtin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in workflows and sample org, a fresh database, the pinned clock."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("GRIDFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDFLOW_NOW", PINNED)
    monkeypatch.setenv("GRIDFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'graph.db'}")


def _active(source: str, fmt: str) -> list[str]:
    """The states a diagram styles as active."""
    if fmt == "mermaid":
        return re.findall(r"^\s*Class (\w+) s_active$", source, re.M)
    return re.findall(r"^\t(\w+) \[[^\]]*color=red", source, re.M)


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
@pytest.mark.parametrize("workflow", ["four_list", "raise_hand"])
def test_graph_without_a_case_marks_no_state_active(builtin_site, workflow, fmt):
    source = ok("graph", workflow, "--format", fmt)
    assert _active(source, fmt) == []
    if fmt == "mermaid":  # the start arrow still points at the initial state
        first = "listed" if workflow == "four_list" else "raised"
        assert f"[*] --> {first}" in source


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_with_a_case_marks_exactly_its_state(builtin_site, fmt):
    started = ok(
        "start", "raise_hand", "--actor", "police.liaison",
        "--set", "direction=dept_asks", "--set", "title=t", "--set", "department=police",
    )  # fmt: skip
    assert started.strip() == "1"
    source = ok("graph", "raise_hand", "--case", "1", "--format", fmt)
    assert _active(source, fmt) == ["open"]  # a department's question: the claim window
    if fmt == "mermaid":  # the start arrow is the workflow's, not the case's state
        assert "[*] --> raised" in source and "[*] --> open" not in source
