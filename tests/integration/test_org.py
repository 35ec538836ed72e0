"""The org directory: ``gridflow org load`` (located errors, storing), ``gridflow org show``
(the Fenglin tree), escalation targets resolved through the tree — by ``Directory`` and by
the SLA ladders of both processes."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_four_list import T0, Clock, sample_directory, share_builtin_workflows

from gridflow.drivers.cli.main import cli
from gridflow.service.engine import BUILTIN_ORG, Engine

BROKEN_ORG = """\
units:
  id: xuhui
  name: {zh: 徐汇区, en: Xuhui District}
  kind: district
  children:
    - id: fenglin
      name: 枫林路街道
      kind: streat
      children:
        - {id: wannan, name: 宛南片区, kind: area}
        - {id: wannan, name: 宛南片区（重复）, kind: area}
departments:
  parent: fenglin
  items:
    - {id: police, name: 派出所}
    - {id: wannan, name: 重名部门}
people:
  - id: wannan.chief
    name: 赵艳丽
    roles: [{role: area_chief, unit: wanan}]
  - id: wannan.chief
    name: 重复的人
"""


@pytest.fixture
def run(tmp_path, monkeypatch):
    """``run(*args)`` → (exit code, stdout, stderr) of ``gridflow --db <tmp db> …``."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'org.db'}"
    runner = CliRunner()

    def invoke(*args: str):
        env = {"GRIDFLOW_DATABASE_URL": None, "GRIDFLOW_CONFIG": None, "GRIDFLOW_NOW": None}
        res = runner.invoke(cli, ["--db", url, *args], env=env, catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    invoke.url = url
    return invoke


def stored_orgs(url: str) -> int:
    from gridflow.storage.tables import org_t

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(org_t)).scalar_one()
    finally:
        engine.dispose()


# ---- org load ------------------------------------------------------------------------------------
def test_org_load_lists_every_mistake_located_and_stores_nothing(run, tmp_path):
    (tmp_path / "org.yaml").write_text(BROKEN_ORG, encoding="utf-8")
    code, out, err = run("org", "load", "org.yaml")
    assert code == 1 and "loaded" not in out
    lines = err.splitlines()
    expected = [
        "org.yaml:8:7: units.children[0].kind: unknown unit kind 'streat' (did you mean 'street'?)",
        "org.yaml:11:12: units.children[0].children[1].id: duplicate unit id 'wannan'",
        "org.yaml:16:8: departments.items[1].id: duplicate unit id 'wannan'",
        "org.yaml:20:32: people[0].roles[0].unit: unknown unit 'wanan' (did you mean 'wannan'?)",
        "org.yaml:21:5: people[1].id: duplicate person 'wannan.chief'",
    ]
    for line in expected:
        assert line in lines, err
    assert lines[-1] == "Error: 5 error(s)"
    assert stored_orgs(run.url) == 0


def test_org_load_schema_errors_are_located_too(run, tmp_path):
    (tmp_path / "org.yaml").write_text(
        "units:\n  id: x\n  name: X\n  kind: district\n  chldren: []\npeople:\n  - {id: a}\n",
        encoding="utf-8",
    )
    code, _, err = run("org", "load", "org.yaml")
    assert code == 1
    assert re.search(r"^org\.yaml:5:3: units(\.chldren)?:.*chldren", err, re.M), err
    assert re.search(r"^org\.yaml:7:5: people\[0\].*name", err, re.M), err


def test_org_load_stores_the_directory_and_org_show_prints_the_tree(run, tmp_path):
    shutil.copyfile(BUILTIN_ORG, tmp_path / "org.yaml")
    code, out, err = run("org", "load", "org.yaml")
    assert code == 0, err
    assert out.strip() == "loaded org.yaml: 93 units, 94 people"
    assert "warning" not in err  # every role in the sample is used by a workflow
    assert stored_orgs(run.url) == 1
    code, tree, _ = run("org", "show")
    assert code == 0
    lines = tree.splitlines()
    assert lines[:3] == [
        "徐汇区 (xuhui, district)",
        "└─ 枫林路街道 (fenglin, street)",
        "   ├─ 宛南片区 (wannan, area)",
    ]
    kinds = {
        k: sum(f", {k})" in line for line in lines) for k in ("area", "residential", "department")
    }
    assert kinds == {"area": 5, "residential": 32, "department": 9}
    assert sum(", street)" in line for line in lines) == 1
    assert sum(", microgrid)" in line for line in lines) == 30
    assert "   └─ 物业管理办 (property, department)" in lines  # departments last, under the street
    code, people, _ = run("org", "show", "--people")
    assert "· 赵艳丽 (wannan.chief): area_chief" in people
    assert "· 梁英萍 (police.liaison): dept_liaison" in people


def test_the_stored_org_is_the_one_in_force(run, tmp_path):
    text = BUILTIN_ORG.read_text(encoding="utf-8")
    text = text.replace(
        "name: {zh: 宛南片区, en: Wannan Area}", "name: {zh: 宛南新区, en: Wannan New}"
    )
    text += "  - {id: new.chief, name: 新片长, roles: [{role: area_chief, unit: wannan}]}\n"
    (tmp_path / "org.yaml").write_text(text, encoding="utf-8")
    assert run("org", "load", "org.yaml")[0] == 0
    assert "宛南新区 (wannan, area)" in run("org", "show")[1]
    engine = Engine(run.url)  # a later process: finds the stored org, not the built-in one
    try:
        assert engine.directory.units["wannan"].name == "宛南新区"
        assert engine.actor("new.chief").grants[0].unit == "wannan"
    finally:
        engine.close()


def test_with_no_org_stored_the_engine_uses_the_builtin_sample(tmp_path):
    engine = Engine(f"sqlite:///{tmp_path / 'x.db'}", clock=Clock())
    try:
        d = engine.directory
        assert len(d.units) == 93 and len(d.people) == 94
        assert engine.actor("wannan.chief").grants[0].role == "area_chief"
        case = engine.start("four_list", actor="wannan.chief", data={"title": "x"})
        assert case.unit == "wannan"
    finally:
        engine.close()


def test_org_load_warns_of_roles_no_workflow_uses(tmp_path, monkeypatch):
    """A role no workflow declares is likely a typo: the file loads, with a warning."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org.yaml").write_text(
        "units: {id: s, name: 街道, kind: street}\n"
        "people: [{id: p, name: P, roles: [{role: area_chef, unit: s}]}]\n",
        encoding="utf-8",
    )
    res = CliRunner().invoke(
        cli, ["--db", f"sqlite:///{tmp_path / 'o.db'}", "org", "load", "org.yaml"]
    )
    assert res.exit_code == 0
    assert "warning: p: role 'area_chef' is used by no workflow (did you mean 'area_chief'?)" in (
        res.stderr
    )


# ---- escalation targets ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "target", "expected"),
    [
        ("wannan-r1-m1-b1", "parent", "wannan-r1-m1"),
        ("wannan-r1-m1", "parent", "wannan-r1"),
        ("wannan-r1", "parent", "wannan-grid"),
        ("wannan-grid", "parent", "wannan"),
        ("wannan", "parent", "fenglin"),
        ("fenglin", "parent", "xuhui"),
        ("xuhui", "parent", None),
        ("police", "parent", "fenglin"),
        ("wannan-r1-m1", "street", "fenglin"),
        ("ximu-r6", "street", "fenglin"),
        ("police", "street", "fenglin"),
        ("fenglin", "street", "fenglin"),
        ("tianlong-r2-m3", "district", "xuhui"),
        ("city_mgmt", "district", "xuhui"),
        ("xuhui", "district", "xuhui"),
        ("xuhui", "street", None),
        ("dongan-r7", "area", "dongan"),
        ("zhenxing-r1-m2", "residential", "zhenxing-r1"),
        ("wannan-r1", "police", "police"),
        ("wannan-r1", "nowhere", None),
    ],
)
def test_escalation_target_resolves_through_the_tree(unit, target, expected):
    found = sample_directory().escalation_target(unit, target)
    assert (found.id if found else None) == expected


def test_tree_questions():
    d = sample_directory()
    assert d.contains("fenglin", "wannan-r1-m1-b1") and d.contains("wannan", "wannan-r1")
    assert not d.contains("ximu", "wannan-r1") and not d.contains("police", "wannan-r1")
    assert d.path("wannan-r1-m1") == "xuhui/fenglin/wannan/wannan-grid/wannan-r1/wannan-r1-m1"
    assert [u.id for u in d.ancestors("wannan-r1")] == ["wannan-grid", "wannan", "fenglin", "xuhui"]
    assert {p.id for p in d.leaders("fenglin")} == {"fenglin.head", "fenglin.en"}


# ---- the SLA ladders escalate through the tree -------------------------------------------------------
def escalation_notes(engine, case_id: int) -> list[str]:
    return [s.comment for s in engine.history(case_id) if s.trigger == "sla:escalate"]


def notice_recipients(engine, case_id: int, notice: str) -> set[str]:
    from gridflow.storage.tables import outbox_t

    with engine.store.read() as conn:
        rows = conn.execute(
            sa.select(outbox_t.c.recipient).where(
                outbox_t.c.case_id == case_id, outbox_t.c.notice == notice
            )
        )
        return {r[0] for r in rows}


@pytest.fixture
def engine(tmp_path, monkeypatch):
    share_builtin_workflows(monkeypatch)
    clock = Clock()
    e = Engine(f"sqlite:///{tmp_path / 'sla.db'}", clock=clock, directory=sample_directory())
    yield e
    e.close()


def test_an_unanswered_question_escalates_to_the_street(engine):
    case = engine.start("raise_hand", actor="wannan-r1-m1.chief", data={"title": "路灯不亮"})
    case = engine.fire(
        case.id, "dispatch", actor="fenglin.dispatch", data={"department": "construction"}
    )
    due = case.sla.due
    engine.tick(due + timedelta(hours=1))
    assert escalation_notes(engine, case.id) == []
    engine.tick(due + timedelta(days=3))  # past the +1wd rung
    assert escalation_notes(engine, case.id) == ["overdue:1: escalated to 枫林路街道 (fenglin)"]
    assert {"fenglin.head", "fenglin.en"} <= notice_recipients(engine, case.id, "escalation")
    assert engine.get(case.id).state == "dispatched"  # escalation informs; it does not move


def test_a_late_four_list_case_escalates_to_the_parent_unit(engine):
    case = engine.start("four_list", actor="wannan.chief", data={"title": "违章搭建"})
    engine.fire(case.id, "accept", actor="wannan.chief")
    case = engine.fire(
        case.id,
        "assign",
        actor="wannan.chief",
        data={"lead_department": "city_mgmt", "deadline": "2026-03-04"},
    )
    assert case.unit == "wannan" and case.sla.due > T0
    engine.tick(case.sla.due + timedelta(days=3))
    assert escalation_notes(engine, case.id) == ["overdue:1: escalated to 枫林路街道 (fenglin)"]


def test_escalation_from_a_committee_goes_to_its_grid(engine):
    case = engine.start("four_list", actor="wannan-r1.chief", data={"title": "楼道堆物"})
    engine.fire(case.id, "accept", actor="wannan.chief")
    case = engine.fire(
        case.id,
        "assign",
        actor="wannan.chief",
        data={"lead_department": "sanitation", "deadline": "2026-03-04"},
    )
    engine.tick(case.sla.due + timedelta(days=3))
    assert escalation_notes(engine, case.id) == [
        "overdue:1: escalated to 宛南片区综合网格 (wannan-grid)"
    ]


def test_every_unit_of_the_sample_escalates_to_fenglin_and_xuhui():
    d = sample_directory()
    for unit in d.units.values():
        if unit.kind in ("district", "street"):
            continue
        assert d.escalation_target(unit.id, "street").id == "fenglin", unit.id
        assert d.escalation_target(unit.id, "district").id == "xuhui", unit.id
