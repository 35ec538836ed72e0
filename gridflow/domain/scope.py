"""What "a unit and its subtree" selects in a report, per kind of figure (domain, pure)."""

from __future__ import annotations

from dataclasses import dataclass

from gridflow.domain.org import Directory
from gridflow.errors import NotFound


@dataclass(frozen=True)
class Scope:
    """What "a unit and its subtree" selects, per kind of figure. ``unit=None``: everything.

    ``units``: the unit and the units below it (by the org directory); ``reach``: units whose
    published questions reach this unit; ``territory``: units (not departments) whose hands
    count (None: all); ``microgrids``: the micro-grids of the territory."""

    unit: str | None
    kind: str | None
    units: frozenset[str] | None
    reach: tuple[str, ...] | None
    territory: tuple[str, ...] | None
    microgrids: tuple[str, ...]

    @classmethod
    def of(cls, directory: Directory, unit: str | None) -> Scope:
        units = directory.units
        if unit is None:
            micro = tuple(u.id for u in units.values() if u.kind == "microgrid")
            return cls(None, None, None, None, None, micro)
        if units and unit not in units:
            raise NotFound("unit", unit, units)
        u = units.get(unit)
        kind = u.kind if u else None
        mine = frozenset(x.id for x in directory.subtree(unit)) | {unit}
        # a department's questions reach the unit it hangs under: that is its territory
        land = (u.parent or unit) if (u and kind == "department") else unit
        above = [land, *(a.id for a in directory.ancestors(land))] if u else [unit]
        reach = set(above) | {
            d.id for d in units.values() if d.kind == "department" and d.parent in above
        }
        sub = directory.subtree(land) if u else []
        territory = tuple(x.id for x in sub if x.kind != "department") or (unit,)
        micro = tuple(x.id for x in sub if x.kind == "microgrid")
        return cls(unit, kind, mine, tuple(sorted(reach)), territory, micro)

    @property
    def is_department(self) -> bool:
        return self.kind == "department"

    # ---- in Python, over grouped rows (a case's or a step's unit and party)
    def owns(self, unit: str | None, party: str | None) -> bool:
        """A case this unit answers for: a department's are those it is the responsible
        party of; a territorial unit's, those sitting in its subtree or whose responsible
        party is in it (a case dispatched down to a grid)."""
        if self.unit is None:
            return True
        if self.is_department:
            return party == self.unit
        return self._in_units(unit) or (party is not None and self._in_units(party))

    def publishes(self, unit: str | None) -> bool:
        """A department question published in the subtree, or by a unit (or department)
        above it."""
        if self.unit is None:
            return True
        return self._in_units(unit) or (not self.is_department and unit in (self.reach or ()))

    def counts_hand(self, unit: str | None) -> bool:
        return self.territory is None or unit in self.territory

    def late_here(self, unit: str | None, owing: str | None) -> bool:
        """A late case in this unit's overdue league: ``unit`` is the territorial unit
        answering for it (the responsible party when that is a unit of the tree, else the
        case's unit), ``owing`` the department (or other party) owing the next move."""
        if self.unit is None:
            return True
        return owing == self.unit if self.is_department else self._in_units(unit)

    def units_of_kind(self, directory: Directory, kind: str) -> tuple[str, ...]:
        """Units of ``kind`` in the territory (everywhere, with no unit)."""
        if self.territory is None:
            return tuple(sorted(u.id for u in directory.units.values() if u.kind == kind))
        units = directory.units
        return tuple(x for x in self.territory if x in units and units[x].kind == kind)

    def _in_units(self, unit: str | None) -> bool:
        return self.units is None or unit in self.units


@dataclass(frozen=True)
class CaseSet:
    """Cases of one workflow (and tag, when given) that count for a scope: those it owns,
    or (``published``: a section with ``scope: reach``) those published within its reach."""

    workflow: str
    tag: str | None = None
    published: bool = False
