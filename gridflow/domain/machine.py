"""The state machine of one workflow version, and the decision an event leads to (pure).

One ``transitions.Machine`` is built per (workflow, revision) and reused for every case: a
case is bound for the duration of one event as a throwaway object with a ``state``
attribute (``machine.events[trigger].trigger(binding)``; no ``add_model``). Guards are
sandboxed Jinja expressions passed to ``transitions`` as condition callables, so branch
selection (first matching transition wins, in file order) is the library's.

``decide`` answers "what would this event do?" without I/O: the engine supplies the case,
the actor, the directory and ``now``, and writes the result in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Any

from transitions import Machine, State

from gridflow.domain.definition import Transition, Workflow
from gridflow.domain.expressions import Expression, budgeted, evaluate
from gridflow.domain.fields import coerce
from gridflow.domain.kpi_plan import KpiPlan, plan_of
from gridflow.domain.org import Actor, Directory, Grant
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import (
    ExpressionError,
    FieldValueError,
    GuardRefused,
    InvalidTrigger,
    MissingFields,
    RoleRefused,
)

MAX_SPAWNS = 500  # child cases one event may start (a list field holds at most 500 items)


class LocalTime(datetime):
    """An aware datetime people read: its text (``str``, ``{{ }}``, f-strings) is the local
    ``YYYY-MM-DD HH:MM`` of its own zone. Otherwise a plain aware datetime: it compares,
    hashes and subtracts as the instant it is, ``isoformat()`` keeps seconds and offset,
    and ``+``/``-`` a ``timedelta`` (and ``replace``) keep the type."""

    __slots__ = ()

    def __str__(self) -> str:
        return self.strftime("%Y-%m-%d %H:%M")


def local_time(value: datetime | None, tz: tzinfo | None) -> datetime | None:
    """``value`` as a :class:`LocalTime` in ``tz`` (a naive value is taken as UTC, as the
    store keeps times). None stays None; without a zone ``value`` is returned unchanged."""
    if value is None or tz is None:
        return value
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(tz)
    return LocalTime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
        local.tzinfo,
        fold=local.fold,
    )


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a decision needs to know about a case."""

    id: int | None
    state: str
    version: int
    data: Mapping[str, Any]
    unit: str | None
    created_at: datetime | None = None
    parent_id: int | None = None

    def as_context(self, tz: tzinfo | None = None) -> dict:
        """The case as expressions see it (``case``); ``created_at`` is a ``LocalTime`` in
        ``tz`` when one is given."""
        return {
            "id": self.id,
            "state": self.state,
            "version": self.version,
            "unit": self.unit,
            "created_at": local_time(self.created_at, tz),
            "parent_id": self.parent_id,
        }


@dataclass(frozen=True)
class CompiledTransition:
    index: int
    spec: Transition
    when: Expression | None
    checks: tuple[tuple[Expression, Any], ...]  # (rule, message literal or Expression)
    set: Mapping[str, Any]  # field -> literal or Expression
    spawn_for_each: Expression | None = None
    spawn_set: Mapping[str, Any] = field(default_factory=dict)
    spawn_unit: Any = None
    extend_clock: Any = None

    @property
    def trigger(self) -> str:
        return self.spec.trigger


@dataclass
class Decision:
    """The outcome of an accepted event; the engine persists it."""

    transition: CompiledTransition
    source: str
    dest: str
    role: str | None
    unit: str | None  # the unit of the grant the actor acted through
    payload: dict[str, Any]
    data: dict[str, Any]  # the case data after the event
    final: bool
    spawns: list[dict[str, Any]] = field(default_factory=list)  # [{"data": …, "unit": …}]
    extend_by: str | None = None  # a duration string, e.g. "3wd"


class _Binding:
    """A case bound to the machine for one event."""

    __slots__ = ("allowed", "context", "state", "taken")

    def __init__(self, state: str, context: dict, allowed: set[int]):
        self.state, self.context, self.allowed, self.taken = state, context, allowed, None


def _facet(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class CompiledWorkflow:
    """A validated workflow with compiled guards and its ``transitions`` machine."""

    def __init__(
        self,
        definition: Workflow,
        transitions_: list[CompiledTransition],
        *,
        source: str = "",
        content_hash: str = "",
        file: str = "<string>",
    ):
        self.definition = definition
        self.id = definition.id
        self.source, self.content_hash, self.file = source, content_hash, file
        self.revision: int | None = None  # set once stored
        self.warnings: list = []  # located warnings from loading
        self.due_expressions: dict[str, Any] = {}  # state -> compiled ``sla.due`` expression
        self.transitions = transitions_
        self.finals = definition.final_states
        self._by_source: dict[tuple[str, str], list[CompiledTransition]] = {}
        for t in transitions_:
            sources = list(definition.states) if t.spec.source == "*" else t.spec.sources
            for s in sources:
                self._by_source.setdefault((s, t.trigger), []).append(t)
        self.needs_children = any("children" in e.names for e in self._expressions())
        self.needs_sla = any("sla" in e.names for e in self._expressions())
        # triggers some branch of which is limited (``max``): deciding them needs the count
        self.limited = frozenset(t.trigger for t in transitions_ if t.spec.max is not None)
        self._facets = tuple(definition.facets)  # (("tag", field or None), …)
        self.kpis: KpiPlan = plan_of(definition)  # what its reports count
        self.machine = self._build_machine()

    def facet_columns(self, data: Mapping[str, Any]) -> dict[str, str | None]:
        """The case's ``tag``, ``party`` and ``grade`` columns for ``data`` (see ``facets``)."""
        return {name: _facet(data.get(f)) if f else None for name, f in self._facets}

    def _expressions(self):
        for t in self.transitions:
            if t.when:
                yield t.when
            for e, _ in t.checks:
                yield e
            yield from (v for v in t.set.values() if isinstance(v, Expression))

    def _build_machine(self) -> Machine:
        d = self.definition
        m = Machine(
            model=None,
            states=list(d.states),
            initial=d.initial_states[0],
            auto_transitions=False,
            send_event=True,
        )
        for t in self.transitions:
            sources: str | list[str | Enum | State] = (
                "*" if t.spec.source == "*" else list(t.spec.sources)
            )
            m.add_transition(
                t.trigger,
                sources,
                t.spec.dest,
                conditions=[_condition(t)],
                after=[_record(t)],
            )
        return m

    # ---- queries ------------------------------------------------------------------
    def triggers_from(self, state: str) -> list[str]:
        """Triggers defined from ``state``, in file order, without repeats."""
        return list(dict.fromkeys(t for (s, t) in self._by_source if s == state))

    def people_triggers_from(self, state: str) -> list[str]:
        """Triggers a person may fire from ``state`` (some branch names a role): what can
        happen next by someone's hand. Role-less ones are the system's (timers, fan-in)."""
        return [
            trig
            for trig in self.triggers_from(state)
            if any(t.spec.roles for t in self.candidates(state, trig))
        ]

    def candidates(self, state: str, trigger: str) -> list[CompiledTransition]:
        return self._by_source.get((state, trigger), [])

    def allowed_for(
        self,
        case: CaseView,
        actor: Actor,
        directory: Directory,
        taken: Mapping[str, int] | None = None,
    ) -> list[str]:
        """Triggers ``actor`` holds a role for in the case's state (guards not evaluated),
        leaving out those whose every branch has reached its ``max`` (``taken``: steps of
        each trigger so far; unknown counts are not judged)."""
        return [
            trig
            for trig in self.triggers_from(case.state)
            if any(
                self._grant_for(t, case, actor, directory, None)[0] and not _at_limit(t, taken)
                for t in self.candidates(case.state, trig)
            )
        ]

    # ---- the decision -----------------------------------------------------------------
    @budgeted  # every guard, check and value of one event shares one evaluation budget
    def decide(
        self,
        case: CaseView,
        trigger: str,
        actor: Actor,
        directory: Directory,
        *,
        payload: Mapping[str, Any] | None = None,
        comment: str | None = None,
        role: str | None = None,
        now: datetime | None = None,
        extra_context: Mapping[str, Any] | None = None,
        tz: tzinfo | None = None,
        taken: Mapping[str, int] | None = None,
    ) -> Decision:
        """Check and apply ``trigger`` on ``case`` in memory, or raise a ``Refused``.

        ``taken``: how many steps of each trigger the case has had (its history), for the
        branches with a ``max``: a branch at its limit is passed over, and when every branch
        the actor may take is, the event is refused naming the limit.

        ``tz``: the zone people read times in (the business calendar's). Given, ``now`` and
        ``case.created_at`` are :class:`LocalTime` values in it for guards, checks, their
        messages and ``set``; None leaves them as passed. ``extra_context`` (``sla``,
        ``children``) is used as given: its times are the caller's to localise."""
        candidates = self.candidates(case.state, trigger)
        if not candidates:
            err = InvalidTrigger(
                case_id=case.id,
                trigger=trigger,
                state=case.state,
                allowed=self.allowed_for(case, actor, directory, taken),
                defined=self.people_triggers_from(case.state),
                actor=actor.id,
                final=case.state in self.finals or not self.triggers_from(case.state),
            )
            known = {t.trigger for t in self.transitions}
            if trigger not in known:
                err.args = (str(err) + did_you_mean(trigger, known),)
            raise err
        permitted: dict[int, Grant | None] = {}
        for t in candidates:
            ok, grant = self._grant_for(t, case, actor, directory, role)
            if ok:
                permitted[t.index] = grant
        if not permitted:
            raise self._role_refusal(case, trigger, actor, role, candidates, directory)
        limited = [t for t in candidates if t.index in permitted and _at_limit(t, taken)]
        if limited and len(limited) == len(permitted):
            t = limited[0]
            raise _guard_refusal(
                case,
                trigger,
                f"at most {t.spec.max} time{'s' if t.spec.max != 1 else ''} per case "
                f"(max: {t.spec.max}), and it has been taken {(taken or {}).get(trigger, 0)}",
                f"max: {t.spec.max}",
            )
        for t in limited:
            permitted.pop(t.index)

        accepted = {
            f
            for t in candidates
            if t.index in permitted
            for f in (*t.spec.requires, *t.spec.accepts)
        }
        clean = self._payload(case, trigger, payload or {}, accepted, directory)
        context = {
            "data": dict(case.data),
            "payload": {k: clean.get(k) for k in accepted} | clean,
            "actor": actor.as_context(),
            "case": case.as_context(tz),
            "now": local_time(now, tz),
            "comment": comment,
            **(extra_context or {}),
        }
        binding = _Binding(case.state, context, set(permitted))
        try:
            moved = self.machine.events[trigger].trigger(binding)
        except ExpressionError as exc:
            raise _guard_refusal(case, trigger, str(exc), exc.source) from None
        if not moved or binding.taken is None:
            guards = " / ".join(t.spec.when or "true" for t in candidates if t.index in permitted)
            raise _guard_refusal(
                case, trigger, f"the condition is not met ({guards})", guards, in_state=True
            )
        chosen: CompiledTransition = binding.taken
        self._check_taken(case, chosen, clean, comment, context)
        try:
            return self._apply(case, chosen, permitted[chosen.index], clean, context)
        except ExpressionError as exc:  # a ``set``/``spawn``/``extend_clock`` value failed
            raise _guard_refusal(case, chosen.trigger, str(exc), exc.source) from None

    # ---- steps of decide -------------------------------------------------------------
    def _grant_for(
        self,
        t: CompiledTransition,
        case: CaseView,
        actor: Actor,
        directory: Directory,
        role: str | None,
    ) -> tuple[bool, Grant | None]:
        """Whether ``actor`` may take ``t`` (and as which workflow role, at which unit)."""
        if actor.system:
            return True, None
        for name in t.spec.roles:
            if role is not None and role != name:
                continue
            grant = self.grant_as(name, case, actor, directory)
            if grant is not None:
                return True, grant
        return False, None

    def grant_as(
        self, name: str, case: CaseView, actor: Actor, directory: Directory
    ) -> Grant | None:
        """The grant through which ``actor`` holds workflow role ``name`` for ``case``."""
        spec = self.definition.roles.get(name)
        org_role = (spec.org_role if spec else None) or name
        scope = spec.scope if spec else "unit"
        for g in actor.grants:
            if g.role == org_role and self._in_scope(scope, g.unit, case, directory):
                return Grant(name, g.unit)
        return None

    @staticmethod
    def _in_scope(scope: str, unit: str, case: CaseView, directory: Directory) -> bool:
        if scope == "any":
            return True
        if scope == "unit":
            return case.unit is None or directory.contains(unit, case.unit)
        if scope == "under":
            return case.unit is None or directory.contains(_served(case.unit, directory), unit)
        target = case.data.get(scope.split(":", 1)[1])
        targets = target if isinstance(target, list) else [target]
        return any(x is not None and directory.contains(unit, x) for x in targets)

    def _scope_text(self, role_name: str, case: CaseView, directory: Directory) -> str:
        role = self.definition.roles.get(role_name)
        scope = role.scope if role else "unit"
        if role and role.org_role:
            role_name = f"{role.org_role} (as {role_name})"
        unit = directory.units.get(case.unit) if case.unit else None
        unit_txt = f"{unit.name} ({unit.id})" if unit else str(case.unit)
        if scope == "any" or (case.unit is None and scope in ("unit", "under")):
            return role_name
        if scope == "unit":
            return f"{role_name} of {unit_txt} or a unit above it"
        if scope == "under" and case.unit is not None:
            served = directory.units.get(_served(case.unit, directory))
            if served is not None and served is not unit:
                unit_txt = f"{served.name} ({served.id})"
            return f"{role_name} of a unit within {unit_txt}"
        fname = scope.split(":", 1)[1]
        return f"{role_name} of {case.data.get(fname)!s} (the case's {fname})"

    def _role_refusal(self, case, trigger, actor, role, candidates, directory) -> RoleRefused:
        needed = list(dict.fromkeys(r for t in candidates for r in t.spec.roles))
        holds = ", ".join(f"{g.role}@{g.unit}" for g in actor.grants) or "no roles"
        if not needed:
            need_txt = "only the system fires it"
        else:
            need_txt = "needs " + " or ".join(self._scope_text(r, case, directory) for r in needed)
        as_role = f" acting as {role}" if role else ""
        return RoleRefused(
            f"{actor.name or actor.id} ({actor.id}: {holds}){as_role} cannot {trigger!r} "
            f"case {case.id} ({self.id}, state {case.state!r}): {need_txt}",
            actor=actor.id,
            needed=needed,
            case_id=case.id,
            trigger=trigger,
            state=case.state,
        )

    def _payload(
        self,
        case: CaseView,
        trigger: str,
        payload: Mapping[str, Any],
        accepted: set[str],
        directory: Directory,
    ) -> dict[str, Any]:
        fields = self.definition.fields
        problems, clean, reasons = [], {}, {}
        for key, value in payload.items():
            if key not in accepted:
                hint = did_you_mean(key, accepted)
                allowed = ", ".join(sorted(accepted)) or "none"
                problems.append(
                    f"{key!r} is not accepted by {trigger!r}{hint} (it accepts: {allowed})"
                )
                reasons[key] = problems[-1]
                continue
            try:
                clean[key] = coerce(key, fields[key], value, directory.units or None)
            except FieldValueError as exc:
                problems.append(str(exc))
                reasons[key] = problems[-1]
        if problems:
            err = _missing(case, trigger, "; ".join(problems), list(payload))
            err.reasons = reasons
            raise err
        return clean

    def _check_taken(self, case, taken: CompiledTransition, clean, comment, context) -> None:
        trig = taken.trigger
        missing = [f for f in taken.spec.requires if clean.get(f) in (None, "", [])]
        if missing:
            raise _missing(case, trig, f"the event must supply {', '.join(missing)}", missing)
        if taken.spec.comment_required and not (comment or "").strip():
            raise _missing(case, trig, "a comment is required", ["comment"])
        for expr, message in taken.checks:
            try:
                ok = expr(context)
            except ExpressionError as exc:
                raise _guard_refusal(case, trig, str(exc), expr.source) from None
            if not ok:
                try:
                    text = str(evaluate(message, context))
                except ExpressionError:
                    text = getattr(message, "source", message)
                raise _guard_refusal(case, trig, text, expr.source)

    def _apply(
        self, case, taken: CompiledTransition, grant: Grant | None, clean, context
    ) -> Decision:
        data = dict(case.data) | clean
        context = context | {"data": data}
        fields = self.definition.fields
        for key, value in taken.set.items():
            result = evaluate(value, context)
            try:
                data[key] = coerce(key, fields[key], result)
            except FieldValueError as exc:
                raise _guard_refusal(case, taken.trigger, f"set {exc}") from None
        decision = Decision(
            taken,
            case.state,
            taken.spec.dest,
            grant.role if grant else None,
            grant.unit if grant else None,
            clean,
            data,
            taken.spec.dest in self.finals,
        )
        if taken.spawn_for_each is not None:
            ctx = context | {"data": data}
            items = taken.spawn_for_each(ctx) or []
            if isinstance(items, (list, tuple)) and len(items) > MAX_SPAWNS:
                raise _guard_refusal(
                    case,
                    taken.trigger,
                    f"spawn.for_each gives {len(items)} items; at most "
                    f"{MAX_SPAWNS} child cases are started by one event",
                )
            assert taken.spec.spawn is not None  # a spawn_for_each comes from a spawn
            var = taken.spec.spawn.as_
            for item in items if isinstance(items, (list, tuple)) else [items]:
                ictx = ctx | {var: item}
                decision.spawns.append(
                    {
                        "data": {k: evaluate(v, ictx) for k, v in taken.spawn_set.items()},
                        "unit": evaluate(taken.spawn_unit, ictx) if taken.spawn_unit else case.unit,
                    }
                )
        if taken.extend_clock is not None:
            value = evaluate(taken.extend_clock, context | {"data": data})
            decision.extend_by = str(value) if value not in (None, "") else None
        return decision


def _at_limit(t: CompiledTransition, taken: Mapping[str, int] | None) -> bool:
    """Whether ``t`` has a ``max`` the case's steps of its trigger have reached."""
    return t.spec.max is not None and taken is not None and taken.get(t.trigger, 0) >= t.spec.max


def _served(unit: str, directory: Directory) -> str:
    """The unit whose units a case of ``unit`` reaches down to: a department has no units
    below it, so a question it publishes reaches the unit it hangs under (its street)."""
    u = directory.units.get(unit)
    return u.parent if u is not None and u.kind == "department" and u.parent else unit


def _guard_refusal(
    case: CaseView, trigger: str, reason: str, guard: str | None = None, in_state: bool = False
) -> GuardRefused:
    where = f" in state {case.state!r}" if in_state else ""
    return GuardRefused(
        f"cannot {trigger!r} case {case.id}{where}: {reason}",
        case_id=case.id,
        trigger=trigger,
        state=case.state,
        guard=guard,
    )


def _missing(case: CaseView, trigger: str, reason: str, fields: list[str]) -> MissingFields:
    return MissingFields(
        f"cannot {trigger!r} case {case.id}: {reason}",
        fields=fields,
        case_id=case.id,
        trigger=trigger,
        state=case.state,
    )


def _condition(t: CompiledTransition):
    def condition(event) -> bool:
        binding: _Binding = event.model
        if t.index not in binding.allowed:
            return False
        return True if t.when is None else bool(t.when(binding.context))

    return condition


def _record(t: CompiledTransition):
    def record(event) -> None:
        event.model.taken = t

    return record
