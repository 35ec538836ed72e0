"""片区看板 the area board (driver ring): the four lists as columns for an area, a
committee, or the whole street.

Columns (问题清单 / 协调清单 / 反馈清单 / 销项清单) and the states in each are
``gridflow.builtin.boards.AREA_BOARD``. Each column shows its exact count and its first
cards (nearest deadline first); a card shows the problem, its committee, the lead
department, the deadline (red overdue, amber within a working day), reworks and the
questions to departments still open. Filters: committee, lead department, overdue only.
A unit with areas below it (the street) also gets a row of counts per area.

Scope: the board of a unit is open to whoever holds a role at it or above it (or
``read_all``) — anyone else gets 403; and every count and card is of cases the viewer may
see, so a column never counts what its cards would not show. Without a unit, the board is
of the viewer's whole scope (a department sees the problems it leads).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gridflow.builtin.boards import AREA_BOARD
from gridflow.domain.org import Directory, Unit
from gridflow.drivers.web.context import Viewer, viewer, web_of
from gridflow.drivers.web.render import page
from gridflow.errors import NotFound, PermissionRefused
from gridflow.service.boards import ColumnSpec

router = APIRouter(include_in_schema=False)
UnitQ = Annotated[str | None, Query(max_length=200)]


def columns() -> list[ColumnSpec]:
    return [
        ColumnSpec(
            c.states,
            None if c.closed_within_days is None else timedelta(days=c.closed_within_days),
        )
        for c in AREA_BOARD.columns
    ]


def home_unit(who: Viewer, directory: Directory) -> str | None:
    """The board a viewer opens first: the highest unit of theirs that is not a
    department (a street head: the street; an area chief: the area)."""
    best: Unit | None = None
    for grant in who.actor.grants:
        u = directory.units.get(grant.unit)
        if u is None or u.kind == "department":
            continue
        if best is None or u.path.count("/") < best.path.count("/"):
            best = u
    return best.id if best else None


def _unit(directory: Directory, unit_id: str | None, what: str) -> Unit | None:
    if not unit_id:
        return None
    u = directory.units.get(unit_id)
    if u is None:
        raise NotFound(what, unit_id)
    return u


def _board(
    request: Request,
    who: Viewer,
    unit: str | None,
    committee: str | None,
    department: str | None,
    overdue: bool,
) -> dict[str, Any]:
    web = web_of(request)
    engine = web.engine
    directory = engine.directory
    scope = engine.principals.scope(who.principal)
    if unit is None:
        unit = home_unit(who, directory)
    place = _unit(directory, unit, "unit")
    if place is not None and not scope.sees_unit(place.id, directory):
        raise PermissionRefused(
            f"{who.principal.id} holds no role at {place.id} or above it",
            principal=who.principal.id,
            needed=f"unit:{place.id}",
        )
    part = _unit(directory, committee, "committee")
    if part is not None and (
        not scope.sees_unit(part.id, directory)
        or (place is not None and not directory.contains(place.id, part.id))
    ):
        raise PermissionRefused(
            f"{part.id} is not within the board's unit",
            principal=who.principal.id,
            needed=f"unit:{part.id}",
        )
    dept = _unit(directory, department, "department")
    if dept is not None and dept.kind != "department":
        raise NotFound("department", department)
    where = part.id if part else (place.id if place else None)
    f = engine.browse.filter(
        workflow=AREA_BOARD.workflow,
        unit=where,
        party=dept.id if dept else None,
        overdue=overdue,
    )
    specs = columns()
    board = engine.boards.board(scope, f, specs, limit=web.settings.board_cards)
    areas: list[tuple[Unit, list[int]]] = []
    if place is not None and part is None:
        below = [u for u in directory.children(place.id) if u.kind == "area"]
        if below:
            filters = [
                engine.browse.filter(
                    workflow=AREA_BOARD.workflow,
                    unit=u.id,
                    party=dept.id if dept else None,
                    overdue=overdue,
                )
                for u in below
            ]
            areas = list(zip(below, engine.boards.counts(scope, filters, specs), strict=True))
    committees = []
    if place is not None:
        committees = sorted(
            (u for u in directory.subtree(place.id) if u.kind == "residential"),
            key=lambda u: u.path,
        )
    departments = sorted(
        (u for u in directory.units.values() if u.kind == "department"), key=lambda u: u.path
    )
    return {
        "spec": AREA_BOARD,
        "board": board,
        "place": place,
        "part": part,
        "dept": dept,
        "overdue": overdue,
        "areas": areas,
        "committees": committees,
        "departments": departments,
    }


@router.get("/board")
def area_board(
    request: Request,
    unit: UnitQ = None,
    committee: UnitQ = None,
    department: UnitQ = None,
    overdue: bool = False,
) -> Response:
    who = viewer(request)
    values = _board(request, who, unit, committee, department, overdue)
    after = web_of(request).engine.feed.last()
    return page(request, "board.html", nav="board", feed_after=after, **values)


@router.get("/board/columns")
def area_board_columns(
    request: Request,
    unit: UnitQ = None,
    committee: UnitQ = None,
    department: UnitQ = None,
    overdue: bool = False,
) -> Response:
    """The columns alone (what filters and live updates swap in)."""
    who = viewer(request)
    values = _board(request, who, unit, committee, department, overdue)
    return page(request, "_board_columns.html", **values)
