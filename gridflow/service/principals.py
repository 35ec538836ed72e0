"""Who is calling, and what they may see and do (service ring).

A *principal* is whoever authenticated: a person of the org directory (through an API token,
an OIDC bearer token from the district's SSO, or — for the web workbench — a session), or a
service account declared in the directory (API tokens only). The actor of every step is the
principal, resolved here to the directory's own record — never a name the request supplies:

- a person → ``engine.actor(id)`` (the directory's person; refused if not there);
- a service account → the account's actor (its own grants, from ``service_accounts:``).

Acting on behalf of someone else needs an explicit grant in the directory (``acts_for:``);
the step's actor is then the person acted for and its origin records the principal and
``on_behalf_of``. Permissions (``admin``, ``read_all``) come from the directory too.

Which cases a principal sees is :mod:`gridflow.domain.access`'s rule, plus — for one case —
holding a workflow role that reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gridflow.domain.access import CaseScope, scope_for
from gridflow.domain.org import Actor, Directory
from gridflow.errors import NotFound, PermissionRefused, RoleRefused, Unauthenticated
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.service.views import view_of
from gridflow.storage.records import CaseRecord


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``via``: ``token``, ``oidc`` or ``session``; ``token_id``:
    the API token's public id (recorded in step origins and the audit table)."""

    id: str
    kind: str  # person | service
    name: str
    actor: Actor
    permissions: frozenset[str]
    via: str
    token_id: str | None = None

    @property
    def admin(self) -> bool:
        return "admin" in self.permissions

    @property
    def read_all(self) -> bool:
        return bool({"admin", "read_all"} & self.permissions)


class Principals:
    """Resolves principals against the directory in force; answers what they may see."""

    def __init__(self, rt: Runtime, defs: Definitions, resolve: Callable[[str], Actor]):
        self.rt, self.defs, self._resolve = rt, defs, resolve
        self._scopes: dict[tuple[int, str, bool], CaseScope] = {}

    @property
    def directory(self) -> Directory:
        return self.defs.directory

    # ---- who ---------------------------------------------------------------------------
    def of(self, principal_id: str, *, via: str, token_id: str | None = None) -> Principal:
        """The person or service account ``principal_id`` as a principal; ``Unauthenticated``
        when the directory no longer has it (its credentials then hold nothing)."""
        directory = self.directory
        account = directory.service_accounts.get(principal_id)
        if account is not None:
            return Principal(
                account.id,
                "service",
                account.actor.name,
                account.actor,
                account.permissions,
                via,
                token_id,
            )
        try:
            actor = self._resolve(principal_id)
        except NotFound as exc:
            raise Unauthenticated(
                f"{principal_id!r} is not in the org directory", reason="unknown_principal"
            ) from exc
        except RoleRefused as exc:  # the engine's identity checks (e.g. 'system')
            raise Unauthenticated(
                f"{principal_id!r} cannot authenticate", reason="not_a_person"
            ) from exc
        return Principal(
            actor.id,
            "person",
            actor.name,
            actor,
            directory.permissions_of(actor.id),
            via,
            token_id,
        )

    def from_claims(
        self, claims: Mapping[str, Any], *, issuer: str | None, claim: str = "sub"
    ) -> Principal:
        """The person an SSO token's claims name through ``identities:``. The claim
        ``claim`` is looked up first, then any other claim the directory maps."""
        directory = self.directory
        names = [claim, *dict.fromkeys(i.claim for i in directory.identities if i.claim != claim)]
        for name in names:
            value = claims.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                person = directory.person_for_claim(name, str(value), issuer)
                if person is not None:
                    return self.of(person, via="oidc")
        raise Unauthenticated(
            "the SSO token names no person of the org directory", reason="unmapped_identity"
        )

    # ---- acting --------------------------------------------------------------------------
    def acting(self, principal: Principal, on_behalf_of: str | None) -> tuple[Actor, str | None]:
        """The actor of a step ``principal`` takes (itself, or the person it acts for) and
        the ``on_behalf_of`` to record. Refused without an explicit grant."""
        if on_behalf_of is None or on_behalf_of == principal.id:
            return principal.actor, None
        if not self.directory.may_act_for(principal.id, on_behalf_of):
            raise PermissionRefused(
                f"{principal.id} may not act on behalf of {on_behalf_of!r}: the org directory "
                "grants it no acts_for covering that person",
                principal=principal.id,
                needed=f"acts_for:{on_behalf_of}",
            )
        return self._resolve(on_behalf_of), on_behalf_of

    def require(self, principal: Principal, permission: str) -> None:
        """``PermissionRefused`` unless ``principal`` holds ``permission``."""
        if permission not in principal.permissions and not (
            permission == "read_all" and principal.admin
        ):
            raise PermissionRefused(
                f"{principal.id} lacks the {permission!r} permission (permissions: in the org "
                "directory)",
                principal=principal.id,
                needed=permission,
            )

    # ---- seeing --------------------------------------------------------------------------
    def scope(self, principal: Principal, actor: Actor | None = None) -> CaseScope:
        """The cases ``principal`` (acting as ``actor``, by default itself) may see."""
        who = actor or principal.actor
        directory = self.directory
        key = (id(directory), who.id, principal.read_all)
        scope = self._scopes.get(key)
        if scope is None:
            if len(self._scopes) > 4096:
                self._scopes.clear()
            scope = scope_for(who, directory, everything=principal.read_all)
            self._scopes[key] = scope
        return scope

    def sees(self, principal: Principal, row: CaseRecord, actor: Actor | None = None) -> bool:
        """Whether ``principal`` may see the case ``row``."""
        if self.scope(principal, actor).sees(row.unit, row.unit_path, row.party, row.created_by):
            return True
        who = actor or principal.actor
        wf = self.defs.workflow(row.workflow_id, row.revision)
        view = view_of(row)
        return any(wf.grant_as(r, view, who, self.directory) for r in wf.definition.roles)

    def visible_case(
        self, principal: Principal, case_id: int, actor: Actor | None = None
    ) -> CaseRecord:
        """The case, if ``principal`` may see it; ``NotFound`` otherwise (whether or not it
        exists: a case one may not see is not confirmed to exist)."""
        with self.rt.store.read() as tx:
            row = self.rt.store.cases.load(tx, case_id)
        if row is None or not (
            self.sees(principal, row, actor) or (actor is not None and self.sees(principal, row))
        ):
            raise NotFound("case", case_id)
        return row
