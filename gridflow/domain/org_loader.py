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
        acts_for: [{person: li.na}]      # may act on li.na's behalf (recorded as such)
        permissions: [admin]             # admin: tokens, outbox, audit; read_all: every case
    service_accounts:                    # machine clients (API tokens bound to them)
      - id: cityops.app
        name: 城运中心工单系统
        roles: [{role: dispatcher, unit: fenglin}]   # what it does as itself
        acts_for: [{unit: fenglin}]      # for people holding roles at fenglin or below
        permissions: [read_all]
    identities:                          # SSO claims → people (OIDC bearer tokens)
      - {claim: sub, value: "3f2a-…", person: wang.wei, issuer: "https://sso.example"}
      - {claim: wecom_userid, value: WangWei, person: wang.wei}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field

from gridflow.domain.definition import Label, Strict
from gridflow.domain.org import (
    UNIT_KINDS,
    Actor,
    ActsFor,
    Channel,
    Directory,
    Grant,
    Identity,
    ServiceAccount,
)
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.yamlsource import ParseCache, parse, read_text
from gridflow.errors import DefinitionError, Problem


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


class ActsForDef(Strict):
    """Act on behalf of one ``person``, or of anyone holding a role at ``unit`` or below."""

    person: str | None = None
    unit: str | None = None


Permission = Literal["admin", "read_all"]


class PersonDef(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    name: str
    lang: str = "zh-CN"
    roles: list[GrantDef] = []
    channels: list[ChannelDef] = []
    acts_for: list[ActsForDef] = []
    permissions: list[Permission] = []


class ServiceAccountDef(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    name: str
    roles: list[GrantDef] = []
    acts_for: list[ActsForDef] = []
    permissions: list[Permission] = []


class IdentityDef(Strict):
    claim: str = Field(default="sub", min_length=1)
    value: str = Field(min_length=1)
    person: str
    issuer: str | None = None


class OrgDef(Strict):
    units: UnitDef
    departments: Departments | None = None
    people: list[PersonDef] = []
    service_accounts: list[ServiceAccountDef] = []
    identities: list[IdentityDef] = []


def load_org_text(text: str, file: str = "<org>", *, cache: ParseCache | None = None) -> Directory:
    """Parse and check an org file; ``DefinitionError`` lists every problem. ``cache``:
    parsed texts kept between processes (see ``yamlsource.ParseCache``)."""
    from gridflow.domain.validation import validate_model

    located = parse(text, file, cache=cache)
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
    accounts = _service_accounts(model, located, where, seen, problems)
    identities = _identities(model, located, seen, problems)
    for i, p in enumerate(model.people):
        _check_acts_for(p.acts_for, ("people", i), located, where, seen, problems)
    if problems:
        raise DefinitionError(problems)
    directory = Directory.build(rows, people)
    directory.service_accounts = accounts
    directory.identities = identities
    directory.acts_for = {p.id: _acts_for(p.acts_for) for p in model.people if p.acts_for}
    directory.permissions = {p.id: frozenset(p.permissions) for p in model.people if p.permissions}
    return directory


def _acts_for(defs: list[ActsForDef]) -> tuple[ActsFor, ...]:
    return tuple(ActsFor(a.person, a.unit) for a in defs)


def _check_acts_for(
    defs: list[ActsForDef],
    path: tuple,
    located,
    units: dict[str, tuple],
    people: set[str],
    problems: list[Problem],
) -> None:
    for j, a in enumerate(defs):
        where = (*path, "acts_for", j)
        if (a.person is None) == (a.unit is None):
            problems.append(located.problem(where, "give exactly one of 'person' or 'unit'"))
        elif a.person is not None and a.person not in people:
            problems.append(
                located.problem(
                    (*where, "person"),
                    f"unknown person {a.person!r}" + did_you_mean(a.person, people),
                )
            )
        elif a.unit is not None and a.unit not in units:
            problems.append(
                located.problem(
                    (*where, "unit"), f"unknown unit {a.unit!r}" + did_you_mean(a.unit, units)
                )
            )


def _service_accounts(
    model: OrgDef, located, units: dict[str, tuple], people: set[str], problems: list[Problem]
) -> dict[str, ServiceAccount]:
    accounts: dict[str, ServiceAccount] = {}
    for i, a in enumerate(model.service_accounts):
        if a.id in accounts or a.id in people:
            problems.append(
                located.problem(
                    ("service_accounts", i, "id"), f"{a.id!r} is already a person or an account"
                )
            )
        for j, g in enumerate(a.roles):
            if g.unit not in units:
                problems.append(
                    located.problem(
                        ("service_accounts", i, "roles", j, "unit"),
                        f"unknown unit {g.unit!r}" + did_you_mean(g.unit, units),
                    )
                )
        _check_acts_for(a.acts_for, ("service_accounts", i), located, units, people, problems)
        actor = Actor(a.id, a.name, tuple(Grant(g.role, g.unit) for g in a.roles))
        accounts[a.id] = ServiceAccount(actor, _acts_for(a.acts_for), frozenset(a.permissions))
    return accounts


def _identities(
    model: OrgDef, located, people: set[str], problems: list[Problem]
) -> list[Identity]:
    out: list[Identity] = []
    seen: dict[tuple[str | None, str, str], int] = {}
    for i, ident in enumerate(model.identities):
        key = (ident.issuer, ident.claim, ident.value)
        if ident.person not in people:
            problems.append(
                located.problem(
                    ("identities", i, "person"),
                    f"unknown person {ident.person!r}" + did_you_mean(ident.person, people),
                )
            )
        if key in seen:
            problems.append(
                located.problem(
                    ("identities", i, "value"),
                    f"{ident.claim}={ident.value!r} is mapped already (identities[{seen[key]}])",
                )
            )
        seen[key] = i
        out.append(Identity(ident.claim, ident.value, ident.person, ident.issuer))
    return out


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
