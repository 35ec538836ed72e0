"""What an actor may do next on a case, and what a refused role needed (pure domain).

``actions_for`` answers a case page's "what can I do here": each trigger the actor holds a
role for in the case's state, with the fields the event must or may supply (their types and
labels come from the workflow's ``fields``) and whether a comment is required. Guards are
not evaluated (they may depend on what the event supplies). ``needed_for`` turns a
``RoleRefused``'s role names into the role, its scope and the unit it must be held at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gridflow.domain.machine import CaseView, CompiledWorkflow, _served
from gridflow.domain.org import Actor, Directory


@dataclass(frozen=True)
class Action:
    """One trigger an actor may fire now: ``requires`` (every branch the actor may take
    asks for these), ``accepts`` (optional fields), ``comment_required``, the states it may
    lead to, and its label."""

    trigger: str
    label: dict[str, str | None]
    requires: list[str] = field(default_factory=list)
    accepts: list[str] = field(default_factory=list)
    comment_required: bool = False
    dest: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NeededRole:
    """A role a transition needs, as the org knows it: ``org_role`` held at ``unit`` (or,
    for ``scope: unit``, a unit above it; ``under``: a unit within it; ``any``: anywhere)."""

    role: str
    org_role: str
    scope: str
    unit: str | None


def actions_for(
    wf: CompiledWorkflow, case: CaseView, actor: Actor, directory: Directory
) -> list[Action]:
    """The triggers ``actor`` may fire on ``case`` now, with what each needs."""
    out = []
    for trigger in wf.allowed_for(case, actor, directory):
        branches = [
            t
            for t in wf.candidates(case.state, trigger)
            if actor.system or any(wf.grant_as(r, case, actor, directory) for r in t.spec.roles)
        ]
        if not branches:
            continue
        requires = set(branches[0].spec.requires)
        for t in branches[1:]:
            requires &= set(t.spec.requires)
        optional = {f for t in branches for f in (*t.spec.requires, *t.spec.accepts)} - requires
        label = next((t.spec.label for t in branches if t.spec.label), None)
        roles = [
            r for t in branches for r in t.spec.roles if wf.grant_as(r, case, actor, directory)
        ]
        out.append(
            Action(
                trigger=trigger,
                label={"zh": label.zh, "en": label.en} if label else {"zh": trigger, "en": None},
                requires=sorted(requires),
                accepts=sorted(optional),
                comment_required=any(t.spec.comment_required for t in branches),
                dest=list(dict.fromkeys(t.spec.dest for t in branches)),
                roles=list(dict.fromkeys(roles)),
            )
        )
    return out


def needed_for(
    wf: CompiledWorkflow, case: CaseView, roles: list[str], directory: Directory
) -> list[NeededRole]:
    """Each workflow role in ``roles`` as (org role, scope, the unit it is judged at)."""
    out = []
    for name in roles:
        spec = wf.definition.roles.get(name)
        org_role = (spec.org_role if spec else None) or name
        scope = spec.scope if spec else "unit"
        unit: str | None
        if scope == "unit":
            unit = case.unit
        elif scope == "under":
            unit = _served(case.unit, directory) if case.unit else None
        elif scope.startswith("field:"):
            value = case.data.get(scope.split(":", 1)[1])
            unit = ",".join(map(str, value)) if isinstance(value, list) else value
        else:
            unit = None
        out.append(NeededRole(name, org_role, scope, None if unit is None else str(unit)))
    return out
