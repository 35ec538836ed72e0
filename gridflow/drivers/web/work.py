"""我的待办 My work, and the 举手 boards (driver ring).

**My work** lists the open cases the viewer can act on now (the API's inbox: a role of
theirs reaches a trigger of the case's state), overdue first (most overdue first), then by
deadline: each with its state, unit, deadline, the working time left or overdue (red when
overdue, amber when due within one working day) and what they can do.

**举手**: 必答题 — grid questions addressed to a department the viewer works for, waiting
for it; 抢答题 — department questions open for claims that a grid of the viewer's may
raise its hand on, with the claim window's end and the places left; raising a hand (or
taking it back) is one tap. Which questions these are: ``gridflow.builtin.boards``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gridflow.builtin.boards import MUST_ANSWER, RACE_TO_CLAIM
from gridflow.domain.cases import Case
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.org import Actor
from gridflow.drivers.web.context import Viewer, current, viewer, web_of
from gridflow.drivers.web.render import page
from gridflow.service.boards import ColumnSpec

router = APIRouter(include_in_schema=False)
INBOX_LIMIT = 100


def can_start(wf: CompiledWorkflow, actor: Actor) -> bool:
    """Whether ``actor`` holds an org role behind one of the workflow's start roles."""
    d = wf.definition
    held = actor.roles()
    for name in d.start_roles:
        spec = d.roles.get(name)
        if ((spec.org_role if spec else None) or name) in held:
            return True
    return False


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/my" if current(request) else "/login", status_code=303)


def _my(request: Request, who: Viewer) -> dict[str, Any]:
    engine = web_of(request).engine
    scope = engine.principals.scope(who.principal)
    items = engine.browse.inbox(scope, who.actor, limit=INBOX_LIMIT)
    startable = [wf for wf in engine.workflows.values() if can_start(wf, who.actor)]
    return {"items": items, "startable": startable}


@router.get("/my")
def my_work(request: Request) -> Response:
    who = viewer(request)
    engine = web_of(request).engine
    after = engine.feed.last()
    return page(request, "my.html", nav="my", feed_after=after, **_my(request, who))


@router.get("/my/list")
def my_work_list(request: Request) -> Response:
    """The list alone (what a live update swaps in)."""
    return page(request, "_my_list.html", **_my(request, viewer(request)))


# ---- 举手 -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RaceCard:
    case: Case
    places_left: int
    raised: bool
    can_raise: bool
    can_withdraw: bool


def _hands(request: Request, who: Viewer) -> dict[str, Any]:
    engine = web_of(request).engine
    directory = engine.directory
    scope = engine.principals.scope(who.principal)
    actor = who.actor
    departments = list(
        dict.fromkeys(
            g.unit
            for g in actor.grants
            if (u := directory.units.get(g.unit)) is not None and u.kind == "department"
        )
    )
    must = []
    for dept in departments:
        f = engine.browse.filter(workflow=MUST_ANSWER.workflow, tag=MUST_ANSWER.tag, party=dept)
        col = engine.boards.column(scope, f, ColumnSpec(MUST_ANSWER.states), limit=100)
        must.append((dept, col))
    race: list[RaceCard] = []
    spec = RACE_TO_CLAIM
    f = engine.browse.filter(workflow=spec.workflow, tag=spec.tag)
    col = engine.boards.column(scope, f, ColumnSpec(spec.states), limit=200)
    mine = set(actor.units())
    for case in col.cases:
        triggers = {a.trigger for a in engine.browse.actions_on(case, actor)}
        if spec.trigger not in triggers and spec.withdraw not in triggers:
            continue
        hands = case.data.get(spec.hands_field or "", []) or []
        places = int(case.data.get(spec.places_field or "", 1) or 1)
        raised = bool(mine & set(hands))
        race.append(
            RaceCard(
                case,
                max(0, places - len(hands)),
                raised,
                spec.trigger in triggers and not raised,
                spec.withdraw in triggers and raised,
            )
        )
    return {"must": must, "race": race, "spec": spec, "must_spec": MUST_ANSWER}


@router.get("/hands")
def hands(request: Request) -> Response:
    who = viewer(request)
    after = web_of(request).engine.feed.last()
    return page(request, "hands.html", nav="hands", feed_after=after, **_hands(request, who))


@router.get("/hands/list")
def hands_list(request: Request) -> Response:
    return page(request, "_hands_list.html", **_hands(request, viewer(request)))
