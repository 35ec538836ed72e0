"""``gridflow validate`` over a site (issue #15): templates checked with the workflows, the
languages the org reads, a file that spawns another validated alone, every problem in file
and line order — through the real command (CliRunner), on copies of the built-in pack and of
the hotline workflow of ``test_hotline.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

from gridflow.drivers.cli.main import cli
from gridflow.service.definitions import BUILTIN_WORKFLOWS


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    """A site like ``gridflow init`` makes, with the hotline workflow beside the built-ins."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDFLOW_WORKFLOWS", raising=False)
    monkeypatch.delenv("GRIDFLOW_CONFIG", raising=False)
    wf = tmp_path / "workflows"
    shutil.copytree(BUILTIN_WORKFLOWS, wf, ignore=shutil.ignore_patterns("org.yaml"))
    shutil.copy(BUILTIN_WORKFLOWS / "org.yaml", tmp_path / "org.yaml")
    shutil.copy(DATA / "hotline" / "hotline.yaml", wf / "hotline.yaml")
    shutil.copytree(DATA / "hotline" / "templates" / "hotline", wf / "templates" / "hotline")
    return tmp_path


def validate(*args: str):
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


def errors(result) -> list[str]:
    return [
        ln
        for ln in result.stderr.splitlines()
        if not ln.startswith(("calendar:", "Error:")) and " warning: " not in ln
    ]


def test_a_clean_site_validates(site):
    result = validate()
    assert result.exit_code == 0, result.output
    assert "ok  workflows/hotline.yaml: hotline v1" in result.stdout
    assert "ok  workflows/raise_hand.yaml: raise_hand v1" in result.stdout


def test_a_template_using_case_titel_or_an_unknown_macro_fails_validate(site):
    tpl = site / "workflows" / "templates" / "hotline" / "assignment.zh-CN.txt"
    text = tpl.read_text(encoding="utf-8")
    tpl.write_text(
        text.replace("{{ case.title }}", "{{ case.titel }}", 1).replace("zh_short", "zh_shrt"),
        encoding="utf-8",
    )
    result = validate()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert errors(result) == [
        "workflows/templates/hotline/assignment.zh-CN.txt:2:0: template: case has no 'titel' "
        "(did you mean 'title'?); case has data, id, state, state_label, title, unit, "
        "unit_name, url, workflow, workflow_title",
        "workflows/templates/hotline/assignment.zh-CN.txt:2:0: template: _layouts/helpers.txt "
        "has no macro 'zh_shrt' (did you mean 'zh_short'?)",
    ]
    assert result.stderr.splitlines()[-1] == "Error: 2 error(s) in 3 file(s)"


def test_templates_in_every_language_the_org_reads(site):
    (site / "workflows" / "templates" / "hotline" / "reminder.en.txt").unlink()
    result = validate()
    assert result.exit_code == 1
    assert errors(result) == [
        "workflows/hotline.yaml:80:16: states.handling.sla.remind[0]: notice 'reminder' has no "
        "template in en (templates/hotline/reminder.<lang>.txt); the org's people read en, "
        "zh-CN — write it, or set fallback_language"
    ]
    # an org whose people all read Chinese needs no English
    org = site / "org.yaml"
    org.write_text(org.read_text(encoding="utf-8").replace("lang: en", "lang: zh-CN"), "utf-8")
    assert validate().exit_code == 0


def test_one_file_that_spawns_another_finds_it_next_to_it(site, tmp_path):
    result = validate(site / "workflows" / "four_list.yaml")  # spawns raise_hand
    assert result.exit_code == 0, result.output
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(site / "workflows" / "four_list.yaml", alone / "four_list.yaml")
    shutil.rmtree(site / "workflows")  # no workflow folder: the built-ins are the folder
    assert validate(alone / "four_list.yaml").exit_code == 0
    (alone / "four_list.yaml").write_text(
        (alone / "four_list.yaml")
        .read_text(encoding="utf-8")
        .replace("workflow: raise_hand", "workflow: raise_hands"),
        encoding="utf-8",
    )
    result = validate(alone / "four_list.yaml")
    assert result.exit_code == 1
    assert errors(result) == [
        f"{alone}/four_list.yaml:229:7: transitions[4].spawn.workflow: unknown workflow "
        "'raise_hands' (did you mean 'raise_hand'?)"
    ]


def test_problems_come_in_file_and_line_order(site):
    wf = site / "workflows" / "hotline.yaml"
    text = wf.read_text(encoding="utf-8")
    text = text.replace("      due: 2wh\n", "      due: 2wks\n", 1).replace(
        "    dest: dispatched\n    roles: [dispatcher]\n    requires: [handler]\n    accepts",
        "    dest: dispatchd\n    roles: [dispatcher]\n    requires: [handler]\n    accepts",
    )
    wf.write_text(text, encoding="utf-8")
    (site / "workflows" / "templates" / "hotline" / "returned.en.txt").unlink()
    result = validate()
    found = errors(result)
    lines = [int(x.split(":")[1]) for x in found if x.startswith("workflows/hotline.yaml")]
    assert lines == sorted(lines) and len(lines) == 3, found


def test_the_attributes_checked_are_those_a_notice_sees():
    """``NOTICE_ATTRIBUTES`` (what validate accepts after ``case.``, ``sla.`` …) is what the
    notice service gives a template — kept together here."""
    from datetime import UTC, datetime

    from gridflow.domain.machine import CaseView
    from gridflow.domain.org import SYSTEM
    from gridflow.domain.templates.checks import NOTICE_ATTRIBUTES
    from gridflow.service.engine import Engine
    from gridflow.service.rendering import recipient_context
    from gridflow.service.views import sla_context

    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    engine = Engine("sqlite://", clock=lambda: now)
    try:
        wf = engine.workflow("raise_hand")
        view = CaseView(1, "raised", 1, {"title": "x"}, "wannan-r1", now, None)
        event = {"trigger": "start", "actor": SYSTEM, "comment": None, "from_state": None}
        extra = {
            "sla": sla_context(None, tz=engine.calendar.tz),
            "notice": {"kind": "overdue", "label": "0wd", "late_by": None},  # as timers give it
        }
        context = engine.notices.context(wf, view, event | {"at": now}, "zh-CN", now, extra)
        context["recipient"] = recipient_context("p", "P", "zh-CN")  # added at delivery
    finally:
        engine.close()
    for name, attributes in NOTICE_ATTRIBUTES.items():
        assert set(context[name]) == attributes, name
