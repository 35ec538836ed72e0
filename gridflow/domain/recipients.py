"""Who a notice goes to (pure): resolving ``notify.to`` names through the org directory.

- ``actor`` — who fired the event; ``creator``/``reporter`` — who started the case;
- ``assignee`` — whoever holds a role for a transition out of the case's current state, in
  scope (the people who must act next);
- ``leader`` — the leaders of the assignees' units (else of the case's unit);
- ``parent`` / ``area`` / ``street`` / ``district`` — leaders of that unit above the case's;
- ``party`` — the people of the unit responsible for the case: the one in its party field
  (``facets.party``), whatever its kind (a department, a committee …);
- ``department`` — the same, for a workflow without ``facets.party``: the case's
  ``department`` field;
- ``role:NAME`` — holders of NAME in scope; ``field:NAME`` — the person or unit in that field;
- ``person:ID``; ``unit:ID`` — that unit's leaders.
"""

from __future__ import annotations

from collections.abc import Iterable

from gridflow.domain.machine import CaseView, CompiledWorkflow
from gridflow.domain.org import Actor, Directory


def resolve(
    names: Iterable[str],
    *,
    wf: CompiledWorkflow,
    case: CaseView,
    directory: Directory,
    actor: Actor | None,
    creator: str | None,
) -> list[Actor]:
    """People to notify, without repeats, in the order named. Unknown people are skipped."""
    out: dict[str, Actor] = {}
    for name in names:
        for person in _one(name, wf, case, directory, actor, creator):
            if not person.system:
                out.setdefault(person.id, person)
    return list(out.values())


def assignees(wf: CompiledWorkflow, case: CaseView, directory: Directory) -> list[Actor]:
    roles = {
        r
        for trig in wf.triggers_from(case.state)
        for tr in wf.candidates(case.state, trig)
        for r in tr.spec.roles
    }
    return _role_holders(roles, wf, case, directory)


def _role_holders(roles: set[str], wf, case, directory) -> list[Actor]:
    """People holding one of the workflow ``roles`` for ``case``, in directory order (only
    those holding the org roles behind them are looked at)."""
    specs = wf.definition.roles
    org_roles = {(specs[r].org_role if r in specs else None) or r for r in roles}
    candidates = set().union(*(directory.holding(o) for o in org_roles)) if org_roles else set()
    return [
        p
        for p in directory.people.values()
        if p.id in candidates and any(wf.grant_as(r, case, p, directory) for r in roles)
    ]


def _leaders_of(unit: str | None, directory: Directory) -> list[Actor]:
    return directory.leaders(unit) if unit else []


def _one(name: str, wf, case: CaseView, directory: Directory, actor, creator) -> list[Actor]:
    people = directory.people
    if name == "actor":
        return [actor] if actor else []
    if name in ("creator", "reporter"):
        return [people[creator]] if creator in people else []
    if name == "assignee":
        return assignees(wf, case, directory)
    if name == "leader":
        units = {g.unit for p in assignees(wf, case, directory) for g in p.grants}
        leaders = [lead for u in sorted(units) for lead in _leaders_of(u, directory)]
        return leaders or _leaders_of(case.unit, directory)
    if name in ("parent", "area", "street", "district"):
        target = directory.escalation_target(case.unit, name) if case.unit else None
        return _leaders_of(target.id if target else None, directory)
    if name in ("party", "department"):
        field = wf.definition.facets.party or ("department" if name == "department" else None)
        target = case.data.get(field) if field else None
        if target in people:
            return [people[target]]
        return directory.holders(None, target) if isinstance(target, str) and target else []
    kind, _, value = name.partition(":")
    if kind == "role":
        return _role_holders({value}, wf, case, directory)
    if kind == "field":
        target = case.data.get(value)
        targets = target if isinstance(target, list) else [target]
        out = []
        for v in targets:
            if v in people:
                out.append(people[v])
            elif v in directory.units:
                out += _leaders_of(v, directory)
        return out
    if kind == "person":
        return [people[value]] if value in people else []
    if kind == "unit":
        return _leaders_of(value, directory)
    return []


def fields_read(wf: CompiledWorkflow, names: Iterable[str]) -> tuple[str, ...]:
    """The case fields resolving ``names`` may read, besides the case's state and unit:
    fields that scope roles (``field:NAME``), ``department``, and ``field:NAME`` recipients.
    Two cases alike in these (and in state, unit, actor, creator) get the same people."""
    fields = {
        role.scope.partition(":")[2]
        for role in wf.definition.roles.values()
        if role.scope.startswith("field:")
    }
    for name in names:
        if name == "department":
            fields.add("department")
        elif name.startswith("field:"):
            fields.add(name.partition(":")[2])
    return tuple(sorted(fields))
