"""SLA clocks (pure): what entering a state does to a case's clock, and which timers it sets.

A clock is named (``sla.clock``, default the state's name). Entering a state:

- with ``sla.pause: true`` for the running clock (``clock``), or ``sla.pause: [a, b]`` naming
  it among others → the clock stops; the working time left is kept (negative when already
  overdue); a clock the state does not name runs on;
- with an ``sla`` of the *same* clock → the clock goes on (resumed from the time left if it
  was paused); only timers still ahead are set again, so a reminder never fires twice;
- with an ``sla`` of another clock → a new clock starts now, due per ``sla.due``;
- without ``sla`` → no clock.

``extend_by`` (an approved extension) moves the deadline by a duration counted from the
current deadline. Timers are (name, kind, due) rows the engine stores with the state entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any

from gridflow.domain.calendar import BusinessCalendar, Deadline
from gridflow.domain.cases import SlaView
from gridflow.domain.definition import DueChoice, State
from gridflow.domain.duration import Duration, parse_fraction
from gridflow.domain.expressions import Expression, evaluate


@dataclass(frozen=True)
class Clock:
    name: str | None = None
    started_at: datetime | None = None
    due_at: datetime | None = None
    provisional: bool = False
    paused_at: datetime | None = None
    paused_remaining: float | None = None  # working seconds left when paused

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True)
class TimerSpec:
    name: str
    kind: str  # "remind" | "overdue"
    due_at: datetime
    provisional: bool
    action: dict[str, Any] = field(default_factory=dict)


NO_CLOCK = Clock()


def deadline(
    state: State,
    data: Mapping[str, Any],
    now: datetime,
    calendar: BusinessCalendar,
    due_expr: Expression | None = None,
) -> Deadline | None:
    """The deadline a clock started ``now`` in ``state`` gets, or None (no ``due``)."""
    due = state.sla.due if state.sla else None
    if due is None:
        return None
    if isinstance(due, DueChoice):
        text = due.map.get(str(data.get(due.by)), due.default)
        return calendar.add(now, Duration.parse(text)) if text else None
    if due_expr is None:
        return calendar.add(now, Duration.parse(due))
    value = evaluate(due_expr, {"data": dict(data), "now": now})
    if value in (None, ""):
        return None
    return _absolute(value, calendar) or calendar.add(now, Duration.parse(str(value)))


def _absolute(value: Any, calendar: BusinessCalendar) -> Deadline | None:
    """An ISO date (→ end of that working day) or datetime given as a deadline."""
    if isinstance(value, datetime):
        moment = value
    else:
        # a bare date first: Python 3.11's datetime.fromisoformat also reads "2026-03-20",
        # as midnight — the start of the committed day instead of its end
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            day = None
        if day is not None:
            start = datetime.combine(day, time(0, 0), tzinfo=calendar.tz)
            return calendar.add(start, Duration(0, "wd"))
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=calendar.tz)
    return Deadline(moment.astimezone(UTC), not calendar.covers(moment.year))


def enter(
    state_name: str,
    state: State,
    clock: Clock,
    data: Mapping[str, Any],
    now: datetime,
    calendar: BusinessCalendar,
    extend_by: str | None = None,
    due_expr: Expression | None = None,
) -> tuple[Clock, list[TimerSpec]]:
    """The clock after entering ``state`` and the timers to set for this entry."""
    sla = state.sla
    if sla is None:
        return NO_CLOCK, []
    name = sla.clock or state_name
    if sla.pause:
        if clock.name not in sla.paused_clocks or clock.paused or clock.due_at is None:
            return clock, []
        left = (
            calendar.working_seconds(now, clock.due_at)
            if clock.due_at > now
            else -calendar.working_seconds(clock.due_at, now)
        )
        return replace(clock, paused_at=now, paused_remaining=left), []
    if clock.name == name and clock.due_at is not None:
        if clock.paused:
            left = clock.paused_remaining or 0.0
            resumed = calendar.add_working_seconds(now, left)
            clock = replace(
                clock,
                due_at=resumed.at,
                paused_at=None,
                paused_remaining=None,
                provisional=clock.provisional or resumed.provisional,
            )
        fresh = False
    else:
        due = deadline(state, data, now, calendar, due_expr)
        if due is None:
            return Clock(name=name, started_at=now), []
        clock = Clock(name, now, due.at, due.provisional)
        fresh = True
    if extend_by and clock.due_at is not None:
        moved = calendar.add(clock.due_at, Duration.parse(extend_by))
        clock = replace(clock, due_at=moved.at, provisional=clock.provisional or moved.provisional)
    timers = [tm for tm in _timers(state, clock, calendar) if fresh or tm.due_at >= now]
    return clock, timers


def recompute(
    state_name: str,
    state: State,
    clock: Clock,
    data: Mapping[str, Any],
    calendar: BusinessCalendar,
    due_expr: Expression | None = None,
) -> tuple[Clock, list[TimerSpec]] | None:
    """A provisional clock computed again from its start with the calendar as it is now (for
    when next year's holidays arrive). None when it cannot be redone faithfully: a paused
    clock, or a state that does not start this clock itself."""
    sla_ = state.sla
    if sla_ is None or sla_.pause or clock.paused or clock.started_at is None:
        return None
    if (sla_.clock or state_name) != clock.name:
        return None
    due = deadline(state, data, clock.started_at, calendar, due_expr)
    if due is None:
        return None
    fresh = Clock(clock.name, clock.started_at, due.at, due.provisional)
    return fresh, _timers(state, fresh, calendar)


def rungs(state: State, clock: Clock, calendar: BusinessCalendar) -> list[TimerSpec]:
    """Every timer ``state``'s ladder (reminders, overdue rungs) sets for ``clock``, past ones
    included; none for a paused clock or one without a deadline. (Moving a case to another
    revision of its workflow lays the new ladder against a clock kept or recomputed.)"""
    return [] if clock.paused else _timers(state, clock, calendar)


def _timers(state: State, clock: Clock, calendar: BusinessCalendar) -> list[TimerSpec]:
    sla, due, start = state.sla, clock.due_at, clock.started_at
    if sla is None or due is None or start is None:
        return []
    out: list[TimerSpec] = []
    for i, r in enumerate(sla.remind):
        # the loader has checked that a reminder has ``at`` (a fraction) or ``before``
        fraction = parse_fraction(r.at) if r.at is not None else None
        if fraction is not None:
            point = calendar.at_fraction(start, due, fraction)
        else:
            point = calendar.subtract(due, Duration.parse(r.before or "0m"))
        out.append(
            TimerSpec(
                f"remind:{i}",
                "remind",
                point.at,
                point.provisional,
                {
                    "notify": list(r.notify),
                    "template": r.template,
                    "label": r.at or f"{r.before} before",
                },
            )
        )
    for i, step in enumerate(sla.overdue):
        after = Duration.parse(step.after)
        late = calendar.add(due, after) if after.amount else None
        at, prov = (late.at, late.provisional) if late else (due, clock.provisional)
        out.append(
            TimerSpec(
                f"overdue:{i}",
                "overdue",
                at,
                prov or clock.provisional,
                {
                    "notify": list(step.notify),
                    "template": step.template,
                    "escalate": step.escalate,
                    "fire": step.fire,
                    "label": str(after),
                },
            )
        )
    return out


def view(clock: Clock, now: datetime, calendar: BusinessCalendar) -> SlaView | None:
    """The clock as a person sees it at ``now``."""
    if clock.name is None or clock.due_at is None:
        return None
    if clock.paused:
        left = clock.paused_remaining or 0.0
        return SlaView(
            clock.name,
            clock.due_at,
            clock.provisional,
            True,
            max(left, 0.0),
            max(-left, 0.0) or None,
        )
    if now <= clock.due_at:
        return SlaView(
            clock.name,
            clock.due_at,
            clock.provisional,
            False,
            calendar.working_seconds(now, clock.due_at),
            None,
        )
    return SlaView(
        clock.name,
        clock.due_at,
        clock.provisional,
        False,
        0.0,
        calendar.working_seconds(clock.due_at, now) or 1.0,
    )
