"""Who acts: the person of the org directory behind an actor id or an ``Actor`` (service ring).

Every way in — ``Engine.start``/``fire``/``available_triggers``, the CLI, the HTTP API — hands
what it was given to :func:`person` and acts as what comes back: the directory's own
``Actor`` object, never the caller's. So an app embedding the engine cannot invent a person
(``Actor("ghost", grants=…)``), give a real person grants the directory does not
(``Actor("wang.wei", grants=(Grant("street_head", "fenglin"),))``), or act as the system
(``Actor(…, system=True)``, ``"system"``): only the engine's own ``SYSTEM`` fires timers and
fan-in triggers, and it never comes through here. A service account declared in the
directory (``service_accounts:``) is resolved the same way: to the account's own actor, with
the grants the directory gives it.
"""

from __future__ import annotations

from gridflow.domain.org import SYSTEM, Actor, Directory
from gridflow.errors import NotFound, RoleRefused

__all__ = ["person"]


def person(directory: Directory, who: str | Actor) -> Actor:
    """The directory's person for ``who`` (an id or an ``Actor``), or raise.

    ``NotFound`` (kind ``person``, with a did-you-mean) when no such person is in the
    directory; ``RoleRefused`` for the system, or for an ``Actor`` whose grants are not
    exactly those the directory gives that person."""
    if isinstance(who, Actor):
        if who.system or who is SYSTEM:
            raise _system(who.id)
        found = _known(directory, who.id)
        if found is None:
            raise NotFound("person", who.id, directory.people)
        if set(who.grants) != set(found.grants):
            claimed = ", ".join(f"{g.role}@{g.unit}" for g in who.grants) or "no roles"
            held = ", ".join(f"{g.role}@{g.unit}" for g in found.grants) or "no roles"
            raise RoleRefused(
                f"{who.id} acts with grants the org directory does not give them ({claimed}); "
                f"the directory gives: {held}",
                actor=who.id,
                needed=[],
            )
        return found
    if not isinstance(who, str):
        raise NotFound("person", repr(who), directory.people)
    if who == SYSTEM.id:
        raise _system(who)
    found = _known(directory, who)
    if found is None:
        raise NotFound("person", who, directory.people)
    return found


def _known(directory: Directory, actor_id: str) -> Actor | None:
    """The directory's person of that id, else its service account's actor, else None."""
    found = directory.people.get(actor_id)
    if found is None:
        account = directory.service_accounts.get(actor_id)
        found = account.actor if account is not None else None
    return found


def _system(actor_id: str) -> RoleRefused:
    return RoleRefused(
        f"{actor_id!r} cannot act as the system: the system is the engine itself, which "
        "fires timers and fan-in triggers; act as a person of the org directory",
        actor=actor_id,
        needed=[],
    )
