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
        """A four-list problem or grid question: in the subtree, or (a department) its own."""
        if self.unit is None:
            return True
        return party == self.unit if self.is_department else self._in_units(unit)

    def publishes(self, unit: str | None) -> bool:
        """A department question published in the subtree, or by a unit (or department)
        above it."""
        if self.unit is None:
            return True
        return self._in_units(unit) or (not self.is_department and unit in (self.reach or ()))

    def counts_hand(self, unit: str | None) -> bool:
        return self.territory is None or unit in self.territory

    def late_here(self, unit: str | None, dept: str | None) -> bool:
        """A late case in this unit's overdue league."""
        if self.unit is None:
            return True
        return dept == self.unit if self.is_department else self._in_units(unit)

    def _in_units(self, unit: str | None) -> bool:
        return self.units is None or unit in self.units


@dataclass(frozen=True)
class CaseSet:
    """Cases of one workflow (and tag, when given) that count for a scope: those it owns,
    or (``published``) those published within its reach."""

    workflow: str
    tag: str | None = None
    published: bool = False
