"""Loading ``org.yaml`` into a ``Directory``, with located errors like workflow files.

Format::

    units:                       # one tree; the root is usually the district or the street
      id: xuhui
      name: {zh: 徐汇区, en: Xuhui District}
      kind: district
      children:
        - {id: fenglin, name: 枫林路街道, kind: street, children: [...]}
    departments:                 # functional departments ("lines"), under a unit of the tree
      parent: fenglin
      items:
        - {id: police, name: {zh: 派出所, en: Police}}
    people:
      - id: wang.wei
        name: 王伟
        lang: zh-CN
        roles: [{role: area_chief, unit: wannan}]
        channels: [{channel: email, address: wang.wei@example.org}]
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field

from gridflow.domain.definition import Label, Strict
from gridflow.domain.org import UNIT_KINDS, Actor, Channel, Directory, Grant
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.yamlsource import parse, read_text
from gridflow.errors import DefinitionError


class UnitDef(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: Label
    kind: str
    children: list[UnitDef] = []


class DepartmentDef(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: Label


class Departments(Strict):
    parent: str
    items: list[DepartmentDef]


class GrantDef(Strict):
    role: str
    unit: str


class ChannelDef(Strict):
    channel: str
    address: str


class PersonDef(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    name: str
    lang: str = "zh-CN"
    roles: list[GrantDef] = []
    channels: list[ChannelDef] = []


class OrgDef(Strict):
    units: UnitDef
    departments: Departments | None = None
    people: list[PersonDef] = []


def load_org_text(text: str, file: str = "<org>") -> Directory:
    """Parse and check an org file; ``DefinitionError`` lists every problem."""
    from gridflow.domain.validation import validate_model

    located = parse(text, file)
    model, problems = validate_model(located, OrgDef)
    if model is None:
        raise DefinitionError(problems)
    rows: list[tuple] = []
    where: dict[str, tuple] = {}

    def visit(unit: UnitDef, parent: str | None, path: tuple) -> None:
        if unit.kind not in UNIT_KINDS:
            problems.append(
                located.problem(
                    (*path, "kind"),
                    f"unknown unit kind {unit.kind!r}" + did_you_mean(unit.kind, UNIT_KINDS),
                )
            )
        if unit.id in where:
            problems.append(located.problem((*path, "id"), f"duplicate unit id {unit.id!r}"))
            return
        where[unit.id] = path
        rows.append((unit.id, unit.name.zh, unit.kind, parent, unit.name.en))
        for i, child in enumerate(unit.children):
            visit(child, unit.id, (*path, "children", i))

    visit(model.units, None, ("units",))
    if model.departments:
        if model.departments.parent not in where:
            problems.append(
                located.problem(
                    ("departments", "parent"),
                    f"unknown unit {model.departments.parent!r}"
                    + did_you_mean(model.departments.parent, where),
                )
            )
        else:
            for i, dept in enumerate(model.departments.items):
                visit(
                    UnitDef(id=dept.id, name=dept.name, kind="department"),
                    model.departments.parent,
                    ("departments", "items", i),
                )
    people = []
    seen: set[str] = set()
    for i, p in enumerate(model.people):
        if p.id in seen:
            problems.append(located.problem(("people", i, "id"), f"duplicate person {p.id!r}"))
        seen.add(p.id)
        for j, g in enumerate(p.roles):
            if g.unit not in where:
                problems.append(
                    located.problem(
                        ("people", i, "roles", j, "unit"),
                        f"unknown unit {g.unit!r}" + did_you_mean(g.unit, where),
                    )
                )
        people.append(
            Actor(
                p.id,
                p.name,
                tuple(Grant(g.role, g.unit) for g in p.roles),
                p.lang,
                tuple(Channel(c.channel, c.address) for c in p.channels),
            )
        )
    if problems:
        raise DefinitionError(problems)
    return Directory.build(rows, people)


def load_org_file(path: str | Path) -> Directory:
    return load_org_text(read_text(path), str(path))


def check_org_roles(directory: Directory, workflows) -> list[str]:
    """Roles people hold that no workflow declares (likely typos), as readable warnings."""
    declared = {
        spec.org_role or name for wf in workflows for name, spec in wf.definition.roles.items()
    }
    out = []
    for person in directory.people.values():
        for g in person.grants:
            if g.role not in declared:
                out.append(
                    f"{person.id}: role {g.role!r} is used by no workflow"
                    + did_you_mean(g.role, declared)
                )
    return out
