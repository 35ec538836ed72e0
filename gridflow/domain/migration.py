"""Moving an open case onto another revision of its workflow: the plan of one case (pure).

An ops admin fixes a process (a state added, renamed or split, a longer deadline, a new
required field) and moves the open cases onto the fix. :func:`plan_case` says, for one case,
what the move does — or why it cannot be done — without touching anything:

* **state**: ``mapping[old]`` when the map names the state, else the same name when the new
  revision has it; otherwise the case is refused (``unmapped-state``). A map target the new
  revision lacks, or a final state (a move never closes a case: fire a transition), is
  refused too.
* **fields**: every field of the new revision; a value the case has is kept (coerced again
  when the field's declaration changed; a value that no longer fits is ``invalid-value``); a
  field it lacks gets its default (``added``); ``values`` (``--set``) overwrite for every
  case moved; data the new revision does not declare is ``dropped`` (kept in the history
  row). A required field still empty is refused (``required-field``).
* **SLA clock**, entering the new state as of the case's entry time (``entered_at``):
  no ``sla`` → no clock; a pausing state → the clock paused as entering it would (already
  paused: as it is); else, ``keep_deadline`` and a clock running → the clock and its due
  time *kept* (renamed to the new state's clock; resumed from the time left if it was
  paused); otherwise *recomputed*: the new revision's ``due`` counted from the clock's
  start when the same clock runs on (a clock shared by several states), else from the
  state's entry time. Pauses and extensions granted under the old clock are not replayed.
* **timers**: every pending timer of the case is cancelled; the new state's ladder is laid
  against the new clock, except a rung whose time is past and that already fired on the
  current clock (same rung name) — it is not fired twice. A past rung that never fired is
  created and acts on the next tick (late, as after downtime).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gridflow.domain import sla
from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.fields import coerce, defaults
from gridflow.domain.machine import CompiledWorkflow
from gridflow.errors import FieldValueError

TRIGGER = "migrate"
"""The trigger of the history row a move writes: a step of no transition, so it settles no
deadline in the reports (the clock moves with the case)."""

__all__ = ["CasePlan", "CaseSnapshot", "Refusal", "check_map", "plan_case"]


@dataclass(frozen=True)
class CaseSnapshot:
    """What planning needs of an open case (as its row holds it)."""

    id: int
    revision: int
    state: str
    version: int
    data: Mapping[str, Any]
    unit: str | None
    entered_at: datetime
    clock: sla.Clock
    title: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why one case cannot be moved: ``kind`` (``unmapped-state``, ``unknown-target``,
    ``final-target``, ``required-field``, ``invalid-value``, ``where-failed``), ``subject``
    (the state or field), and a sentence for a person."""

    kind: str
    subject: str
    message: str


@dataclass
class CasePlan:
    """What moving one case does. ``deadline``: ``none`` (no clock in the new state),
    ``paused``, ``kept`` or ``recomputed``. ``created``: the new timers; ``cancelled``: names
    of the pending timers voided; ``not_refired``: past rungs that already fired."""

    case_id: int
    version: int
    from_revision: int
    to_revision: int
    from_state: str
    to_state: str
    data: dict[str, Any]
    added: dict[str, Any] = field(default_factory=dict)
    dropped: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, Any] = field(default_factory=dict)  # --set over a value the case had
    deadline: str = "none"
    due_before: datetime | None = None
    clock: sla.Clock = sla.NO_CLOCK
    cancelled: list[str] = field(default_factory=list)
    created: list[sla.TimerSpec] = field(default_factory=list)
    not_refired: list[str] = field(default_factory=list)

    @property
    def due_after(self) -> datetime | None:
        return self.clock.due_at

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values (times ISO, UTC)."""

        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        return {
            "case_id": self.case_id,
            "revision": [self.from_revision, self.to_revision],
            "state": [self.from_state, self.to_state],
            "added": self.added,
            "dropped": self.dropped,
            "changed": self.changed,
            "deadline": self.deadline,
            "due": [iso(self.due_before), iso(self.due_after)],
            "timers_cancelled": self.cancelled,
            "timers_created": [{"name": t.name, "due_at": iso(t.due_at)} for t in self.created],
            "not_refired": self.not_refired,
        }


def check_map(mapping: Mapping[str, str], new: CompiledWorkflow) -> list[Refusal]:
    """Map targets the new revision lacks, or that are final states."""
    out = []
    states = new.definition.states
    for old, target in mapping.items():
        if target not in states:
            out.append(
                Refusal(
                    "unknown-target",
                    target,
                    f"--map {old}={target}: revision {new.revision} of {new.id} has no state "
                    f"{target!r} (it has {', '.join(states)})",
                )
            )
        elif target in new.finals:
            out.append(
                Refusal(
                    "final-target",
                    target,
                    f"--map {old}={target}: {target!r} is a final state; moving never closes "
                    "a case (fire a transition instead)",
                )
            )
    return out


def plan_case(
    case: CaseSnapshot,
    new: CompiledWorkflow,
    old: CompiledWorkflow,
    *,
    mapping: Mapping[str, str],
    values: Mapping[str, Any],
    keep_deadline: bool,
    calendar: BusinessCalendar,
    now: datetime,
    pending: list[str],
    fired: Set[str],
    units: dict | None = None,
) -> CasePlan | list[Refusal]:
    """The plan of moving ``case`` from ``old`` onto ``new`` (see the module docstring), or
    every reason it cannot be moved. ``values``: already coerced for ``new``. ``pending``:
    names of the case's pending timers; ``fired``: rung names already acted on for the
    current clock."""
    assert new.revision is not None
    d = new.definition
    refusals: list[Refusal] = []
    target = mapping.get(case.state, case.state if case.state in d.states else None)
    if target is None:
        refusals.append(
            Refusal(
                "unmapped-state",
                case.state,
                f"state {case.state!r} is not in revision {new.revision}: map it "
                f"(--map {case.state}=NEW)",
            )
        )
    elif target not in d.states or target in new.finals:
        refusals += check_map({case.state: target}, new)
    data, added, changed = _fields(case, new, old, values, units, refusals)
    missing = [k for k, f in d.fields.items() if f.required and data.get(k) in (None, "", [])]
    for key in missing:
        refusals.append(
            Refusal(
                "required-field",
                key,
                f"field {key!r} is required in revision {new.revision} and has no default: "
                f"give one (--set {key}=VALUE)",
            )
        )
    if refusals:
        return refusals
    assert target is not None
    dropped = {k: v for k, v in case.data.items() if k not in d.fields}
    plan = CasePlan(
        case.id,
        case.version,
        case.revision,
        new.revision,
        case.state,
        target,
        data,
        added,
        dropped,
        changed,
        due_before=case.clock.due_at,
        cancelled=sorted(pending),
    )
    plan.clock, plan.deadline = _clock(case, new, target, data, keep_deadline, calendar)
    for rung in sla.rungs(d.states[target], plan.clock, calendar):
        if rung.due_at < now and rung.name in fired:
            plan.not_refired.append(rung.name)
        else:
            plan.created.append(rung)
    return plan


def _fields(
    case: CaseSnapshot,
    new: CompiledWorkflow,
    old: CompiledWorkflow,
    values: Mapping[str, Any],
    units: dict | None,
    refusals: list[Refusal],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The case's data under ``new``, the fields added (with their values) and the fields
    ``values`` overwrote; a value that no longer fits is added to ``refusals``."""
    fields = new.definition.fields
    initial = defaults(fields)
    data: dict[str, Any] = {}
    added: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in values:
            data[name] = values[name]
            if name in case.data:
                changed[name] = [case.data[name], values[name]]
            else:
                added[name] = values[name]
        elif name not in case.data:
            data[name] = added[name] = initial[name]
        elif old.definition.fields.get(name) == spec:
            data[name] = case.data[name]
        else:
            try:
                data[name] = coerce(name, spec, case.data[name], units)
            except FieldValueError as exc:
                refusals.append(
                    Refusal(
                        "invalid-value",
                        name,
                        f"field {name!r} no longer fits revision {new.revision}: {exc} "
                        f"(--set {name}=VALUE)",
                    )
                )
    return data, added, changed


def _clock(
    case: CaseSnapshot,
    new: CompiledWorkflow,
    state_name: str,
    data: Mapping[str, Any],
    keep: bool,
    calendar: BusinessCalendar,
) -> tuple[sla.Clock, str]:
    """The clock of the case in ``state_name`` of ``new``, and how it came about."""
    state = new.definition.states[state_name]
    before, entered = case.clock, case.entered_at
    if state.sla is None:
        return sla.NO_CLOCK, "none"
    if state.sla.pause:
        clock, _ = sla.enter(state_name, state, before, data, entered, calendar)
        return clock, "paused" if clock.paused else "kept"
    name = state.sla.clock or state_name
    if keep and before.due_at is not None:
        clock, _ = sla.enter(state_name, state, replace(before, name=name), data, entered, calendar)
        return clock, "kept"
    start = before.started_at if before.name == name and before.started_at else entered
    due_expr = new.due_expressions.get(state_name)
    clock, _ = sla.enter(state_name, state, sla.NO_CLOCK, data, start, calendar, None, due_expr)
    return clock, "recomputed"
