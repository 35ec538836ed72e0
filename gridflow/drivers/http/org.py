"""``/api/v1/org`` and ``/api/v1/me``: the unit tree, people (no addresses), the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gridflow.drivers.http import schemas as s
from gridflow.drivers.http.context import CallerDep, api_of
from gridflow.drivers.http.responses import errors

router = APIRouter(prefix="/api/v1", tags=["org"])


@router.get("/org/units", response_model=list[s.UnitOut], responses=errors())
def units(request: Request, caller: CallerDep) -> list[s.UnitOut]:
    """Every unit, parents before children (``path``: ids from the root)."""
    d = api_of(request).engine.directory
    return [
        s.UnitOut(
            id=u.id, name=u.name, name_en=u.name_en, kind=u.kind, parent=u.parent, path=u.path
        )
        for u in d.units.values()
    ]


@router.get("/org/people", response_model=list[s.PersonOut], responses=errors())
def people(
    request: Request,
    caller: CallerDep,
    unit: Annotated[
        str | None,
        Query(max_length=200, pattern=s.NoNul, description="people holding a role here or below"),
    ] = None,
) -> list[s.PersonOut]:
    """People and their roles — never their notice addresses or SSO identities."""
    d = api_of(request).engine.directory
    out = []
    for p in d.people.values():
        if unit is not None and not any(d.contains(unit, g.unit) for g in p.grants):
            continue
        out.append(
            s.PersonOut(
                id=p.id,
                name=p.name,
                lang=p.lang,
                roles=[s.GrantOut(role=g.role, unit=g.unit) for g in p.grants],
            )
        )
    return out


@router.get("/me", response_model=s.MeOut, responses=errors())
def me(caller: CallerDep) -> s.MeOut:
    """Who the credentials are: the principal, how it came in, its roles and permissions
    (with ``On-Behalf-Of``: the roles are the person's acted for)."""
    p = caller.principal
    return s.MeOut(
        id=p.id,
        kind=p.kind,
        name=p.name,
        via=p.via,
        token_id=p.token_id,
        permissions=sorted(p.permissions),
        roles=[s.GrantOut(role=g.role, unit=g.unit) for g in caller.actor.grants],
    )
