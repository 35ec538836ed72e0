"""The org directory: the unit tree, departments, people and their roles (pure domain).

Units form one tree (street → area → grid → residential area → micro-grid → building group;
departments hang under the street as kind ``department``). A person holds *grants*:
(role, unit). ``contains(a, b)`` — is ``b`` the unit ``a`` or below it — is the one question
role scoping and escalation ask, answered from materialised paths in O(depth).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

UNIT_KINDS = (
    "district", "street", "area", "grid", "residential", "microgrid", "building", "department",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Grant:
    """``role`` held at ``unit`` (a unit or department id)."""

    role: str
    unit: str


@dataclass(frozen=True, slots=True)
class Channel:
    """Where a person gets notices: a configured channel name and the address on it."""

    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone (or the system) acting on a case."""

    id: str
    name: str = ""
    grants: tuple[Grant, ...] = ()
    lang: str = "zh-CN"
    channels: tuple[Channel, ...] = ()
    system: bool = False

    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    def units(self, role: str | None = None) -> list[str]:
        return [g.unit for g in self.grants if role is None or g.role == role]

    def as_context(self) -> dict:
        """What guards and templates see as ``actor``."""
        units = self.units()
        return {
            "id": self.id,
            "name": self.name or self.id,
            "roles": sorted(self.roles()),
            "unit": units[0] if units else None,
            "units": units,
            "system": self.system,
        }


SYSTEM = Actor("system", "gridflow", system=True)

PERMISSIONS = ("admin", "read_all")  # beyond roles: run the server / see every case


@dataclass(frozen=True, slots=True)
class ActsFor:
    """A grant to act on another's behalf: for one ``person``, or for anyone holding a role
    at ``unit`` or below it."""

    person: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A machine client declared in the directory (an app of the district, a city-ops
    system): it acts as ``actor`` (its own grants), may act for others as ``acts_for``
    allows, and holds ``permissions`` (see ``PERMISSIONS``)."""

    actor: Actor
    acts_for: tuple[ActsFor, ...] = ()
    permissions: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return self.actor.id


@dataclass(frozen=True, slots=True)
class Identity:
    """An SSO claim that names a person: the JWT claim ``claim`` (``sub``, ``wecom_userid``
    …) with ``value`` — from ``issuer`` only, when given — is ``person``."""

    claim: str
    value: str
    person: str
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str
    kind: str
    parent: str | None
    path: str  # "fenglin/wannan/g1": ids from the root, "/"-joined
    name_en: str | None = None


@dataclass
class Directory:
    """Units and people. Build with ``Directory.build`` (checks the tree) or ``org_loader``."""

    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, Actor] = field(default_factory=dict)
    # who else may come in, and how (``service_accounts:``, ``identities:``, and each
    # person's ``acts_for:`` and ``permissions:`` in org.yaml)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    identities: list[Identity] = field(default_factory=list)
    acts_for: dict[str, tuple[ActsFor, ...]] = field(default_factory=dict)
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)
    _by_role: dict[str, set[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _by_unit: tuple[dict[str, Actor], dict[str, list[str]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def holding(self, role: str) -> set[str]:
        """Ids of the people holding org role ``role`` anywhere (an index built on first
        use: a directory does not change once built)."""
        if self._by_role is None:
            index: dict[str, set[str]] = {}
            for person in self.people.values():
                for grant in person.grants:
                    index.setdefault(grant.role, set()).add(person.id)
            self._by_role = index
        return self._by_role.get(role, set())

    def _at(self, unit: str) -> list[Actor]:
        """People with a grant at ``unit``, in directory order (an index of ids built on
        first use, like :meth:`holding`, and again when ``people`` is replaced)."""
        if self._by_unit is None or self._by_unit[0] is not self.people:
            index: dict[str, list[str]] = {}
            for person in self.people.values():
                for u in dict.fromkeys(g.unit for g in person.grants):
                    index.setdefault(u, []).append(person.id)
            self._by_unit = (self.people, index)
        people = self.people
        return [people[i] for i in self._by_unit[1].get(unit, ()) if i in people]

    @classmethod
    def build(
        cls,
        units: Iterable[tuple[str, str, str, str | None, str | None]],
        people: Iterable[Actor] = (),
    ) -> Directory:
        """Units as (id, name, kind, parent_id, name_en), parents before children."""
        d = cls()
        for uid, name, kind, parent, name_en in units:
            path = f"{d.units[parent].path}/{uid}" if parent else uid
            d.units[uid] = Unit(uid, name, kind, parent, path, name_en)
        for person in people:
            d.people[person.id] = person
        return d

    # ---- principals ------------------------------------------------------------------
    def person_for_claim(self, claim: str, value: str, issuer: str | None) -> str | None:
        """The person an SSO claim names (``identities:``), or None."""
        for ident in self.identities:
            same = ident.claim == claim and ident.value == value
            if same and ident.issuer in (None, issuer):
                return ident.person
        return None

    def may_act_for(self, principal: str, person: str) -> bool:
        """Whether ``principal`` (a person or a service account) holds an explicit grant to
        act on behalf of ``person``."""
        target = self.people.get(person)
        if target is None:
            return False
        account = self.service_accounts.get(principal)
        grants = account.acts_for if account else self.acts_for.get(principal, ())
        for grant in grants:
            if grant.person is not None and grant.person == person:
                return True
            if grant.unit is not None and any(
                self.contains(grant.unit, g.unit) for g in target.grants
            ):
                return True
        return False

    def permissions_of(self, principal: str) -> frozenset[str]:
        account = self.service_accounts.get(principal)
        return account.permissions if account else self.permissions.get(principal, frozenset())

    # ---- tree questions -------------------------------------------------------------
    def contains(self, ancestor: str, unit: str | None) -> bool:
        """True when ``unit`` is ``ancestor`` or lies below it."""
        if unit is None:
            return False
        if ancestor == unit:
            return True
        a, u = self.units.get(ancestor), self.units.get(unit)
        return bool(a and u and u.path.startswith(a.path + "/"))

    def path(self, unit: str) -> str:
        u = self.units.get(unit)
        return u.path if u else unit

    def ancestors(self, unit: str) -> Iterator[Unit]:
        """The unit's parent, grandparent, … up to the root (not the unit itself)."""
        u = self.units.get(unit)
        while u and u.parent:
            u = self.units[u.parent]
            yield u

    def nearest(self, unit: str, kind: str) -> Unit | None:
        """The unit itself or its nearest ancestor of ``kind``."""
        u = self.units.get(unit)
        if u and u.kind == kind:
            return u
        return next((a for a in self.ancestors(unit) if a.kind == kind), None)

    def escalation_target(self, unit: str, target: str) -> Unit | None:
        """Resolve ``parent`` / ``street`` / ``district`` / ``area`` / a unit id from ``unit``."""
        if target == "parent":
            return next(self.ancestors(unit), None)
        if target in UNIT_KINDS:
            return self.nearest(unit, target)
        return self.units.get(target)

    def holders(self, role: str | None, unit: str) -> list[Actor]:
        """People holding ``role`` (any role when None) exactly at ``unit``."""
        return [
            p
            for p in self._at(unit)
            if any(g.unit == unit and (role is None or g.role == role) for g in p.grants)
        ]

    def leaders(self, unit: str) -> list[Actor]:
        """The people leading ``unit``: grants of role ``leader`` or ending in ``_chief``/``_head``,
        else whoever holds any role there."""
        lead = [
            p
            for p in self._at(unit)
            if any(
                g.unit == unit and (g.role == "leader" or g.role.endswith(("_chief", "_head")))
                for g in p.grants
            )
        ]
        return lead or self.holders(None, unit)

    def children(self, unit: str | None) -> list[Unit]:
        return [u for u in self.units.values() if u.parent == unit]

    def subtree(self, unit: str) -> list[Unit]:
        return [u for u in self.units.values() if self.contains(unit, u.id)]
