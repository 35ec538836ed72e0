"""Which cases a principal may see (pure domain).

A person sees a case when any of these holds:

- the case's unit is a unit where they hold a role, or lies below one (their own work and
  their subordinates');
- the case's unit lies *above* one of theirs, or is a department hanging under such a unit
  (street-wide questions a grid may claim, and departments' published questions);
- the case's ``party`` (the workflow's ``facets.party`` field, e.g. the department a question
  is addressed to) is one of their units or below one;
- they started it;
- the case has no unit (an unscoped case is everyone's who holds a role).

A principal with the ``read_all`` or ``admin`` permission sees every case. The same rule is
answered two ways: :meth:`CaseScope.sees` for one case in memory, and by the store as a
``WHERE`` clause over the case columns (``unit``, ``unit_path``, ``party``, ``created_by``)
for lists, the inbox and the change feed — so a list never shows what the case page would
refuse, nor hides what it would show.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridflow.domain.org import Actor, Directory


@dataclass(frozen=True, slots=True)
class CaseScope:
    """The cases one principal may see, as plain values the store can turn into SQL.

    ``everything``: no restriction. ``below``: materialised unit paths whose subtrees are
    visible. ``units``: unit ids visible exactly (ancestors of the principal's units and
    the departments under them). ``parties``: party values visible (the principal's units
    and every unit below them). ``creator``: cases this id started."""

    everything: bool = False
    below: tuple[str, ...] = ()
    units: frozenset[str] = frozenset()
    parties: frozenset[str] = frozenset()
    creator: str | None = None
    unscoped: bool = True  # cases without a unit

    def sees(
        self, unit: str | None, unit_path: str | None, party: str | None, created_by: str | None
    ) -> bool:
        """Whether a case with these columns is visible."""
        if self.everything:
            return True
        if unit is None:
            return self.unscoped
        if self.creator is not None and created_by == self.creator:
            return True
        if unit in self.units or (party is not None and party in self.parties):
            return True
        path = unit_path or unit
        return any(path == p or path.startswith(p + "/") for p in self.below)

    def sees_unit(self, unit: str, directory: Directory) -> bool:
        """Whether the principal may look at figures of ``unit`` (its reports): the unit is
        one of theirs or below one."""
        if self.everything:
            return True
        path = directory.path(unit)
        return any(path == p or path.startswith(p + "/") for p in self.below)


def scope_for(actor: Actor, directory: Directory, *, everything: bool = False) -> CaseScope:
    """The :class:`CaseScope` of ``actor`` in ``directory`` (see the module's rule)."""
    if everything:
        return CaseScope(everything=True)
    below: list[str] = []
    exact: set[str] = set()
    parties: set[str] = set()
    for grant in actor.grants:
        unit = directory.units.get(grant.unit)
        if unit is None:
            continue
        below.append(unit.path)
        parties.update(u.id for u in directory.subtree(unit.id))
        for above in (unit, *directory.ancestors(unit.id)):
            if above.id != unit.id:
                exact.add(above.id)
            exact.update(c.id for c in directory.children(above.id) if c.kind == "department")
    return CaseScope(
        below=tuple(dict.fromkeys(below)),
        units=frozenset(exact),
        parties=frozenset(parties),
        creator=actor.id,
        unscoped=bool(actor.grants),
    )
