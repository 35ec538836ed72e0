"""Loading, stage 3: the graph of a validated workflow, and its expressions compiled.

Unreachable states, dead ends, unknown roles / fields / states / recipients, durations and
fractions that do not parse, guards that do not compile and names an expression may not use
— each a located ``Problem`` (or a warning); the transitions come out compiled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from gridflow.domain import definition as d
from gridflow.domain.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
    compile_value,
)
from gridflow.domain.machine import CompiledTransition
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.yamlsource import Located
from gridflow.errors import Problem

EXPRESSION_NAMES = {"data", "payload", "actor", "case", "now", "comment", "sla", "children"}
ATTRS = {
    "actor": {"id", "name", "roles", "unit", "units", "system"},
    "case": {"id", "state", "version", "unit", "created_at", "parent_id"},
    "sla": {
        "clock",
        "due",
        "remaining",
        "overdue",
        "overdue_by",
        "paused",
        "provisional",
        "started",
    },
}
# the recipient vocabulary is part of the format (``gridflow schema`` describes it too)
RECIPIENTS = d.RECIPIENTS
RECIPIENT_PREFIXES = d.RECIPIENT_PREFIXES


class GraphChecker:
    """Cross-references and graph shape. Names whose own entry was broken (already reported
    by the schema stage) are not reported again as unknown."""

    def __init__(
        self, wf: d.Workflow, located: Located, broken: dict[str, set[str]], index_map: list[int]
    ):
        self.wf, self.loc = wf, located
        self.problems: list[Problem] = []
        self.broken = set().union(*broken.values()) if broken else set()
        self.broken_states = broken.get("states", set()) if broken else set()
        self.states = set(wf.states)
        self.fields = set(wf.fields)
        self.index_map = index_map
        self.due_exprs: dict[tuple, Any] = {}

    def error(self, path: tuple, message: str, offset: int | None = None) -> None:
        """A problem at ``path`` (at character ``offset`` of its value, when given)."""
        if path[:1] == ("transitions",) and len(path) > 1 and isinstance(path[1], int):
            path = ("transitions", self.index_map[path[1]], *path[2:])
        if any(f"{name!r}" in message.split(" (did you mean")[0] for name in self.broken):
            return
        self.problems.append(self.loc.problem(path, message, offset=offset))

    def warn(self, path: tuple, message: str) -> None:
        if path[:1] == ("transitions",) and len(path) > 1 and isinstance(path[1], int):
            path = ("transitions", self.index_map[path[1]], *path[2:])
        self.problems.append(self.loc.problem(path, message, "warning"))

    def run(self) -> list[CompiledTransition]:
        wf = self.wf
        if isinstance(wf.initial, str):
            if wf.initial not in self.states:
                self.error(("initial",), f"unknown state {wf.initial!r}" + self._hint(wf.initial))
        else:
            spec = wf.fields.get(wf.initial.by)
            if spec is None:
                self.error(
                    ("initial", "by"),
                    f"unknown field {wf.initial.by!r}" + did_you_mean(wf.initial.by, self.fields),
                )
            for key, name in wf.initial.map.items():
                if name not in self.states:
                    self.error(
                        ("initial", "map", key), f"unknown state {name!r}" + self._hint(name)
                    )
                if spec is not None and spec.type == "enum" and key not in (spec.values or []):
                    self.error(
                        ("initial", "map", key),
                        f"{key!r} is not a value of "
                        f"{wf.initial.by}" + did_you_mean(key, spec.values or []),
                    )
            if wf.initial.default and wf.initial.default not in self.states:
                self.error(
                    ("initial", "default"),
                    f"unknown state {wf.initial.default!r}" + self._hint(wf.initial.default),
                )
        if wf.title_field and wf.title_field not in self.fields:
            self.error(
                ("title_field",),
                f"unknown field {wf.title_field!r}" + did_you_mean(wf.title_field, self.fields),
            )
        facet_types = {
            "tag": ("string", "enum"),
            "party": ("unit", "string"),
            "grade": ("enum", "string"),
        }
        for facet, field_name in wf.facets:
            if field_name is None:
                continue
            spec = wf.fields.get(field_name)
            if spec is None:
                self.error(
                    ("facets", facet),
                    f"unknown field {field_name!r}" + did_you_mean(field_name, self.fields),
                )
            elif spec.type not in facet_types[facet]:
                self.error(
                    ("facets", facet),
                    f"field {field_name!r} has type {spec.type}; a {facet} must be a "
                    + " or ".join(facet_types[facet])
                    + " field",
                )
        for name, spec in wf.fields.items():
            self._check_field(name, spec)
        for j, role in enumerate(wf.start_roles):
            if role not in wf.roles:
                self.error(
                    ("start_roles", j), f"unknown role {role!r}" + did_you_mean(role, wf.roles)
                )
        compiled = [self._transition(i, t) for i, t in enumerate(wf.transitions)]
        for name, state in wf.states.items():
            self._check_state(name, state)
        self._check_graph()
        return compiled

    def _hint(self, name: str) -> str:
        return did_you_mean(name, self.states | self.broken)

    def _check_field(self, name: str, spec: d.FieldDef) -> None:
        from gridflow.domain.fields import coerce
        from gridflow.errors import FieldValueError

        if spec.default is not None:
            try:
                coerce(name, spec, spec.default)
            except FieldValueError as exc:
                self.error(("fields", name, "default"), str(exc))

    def _check_state(self, name: str, state: d.State) -> None:
        base = ("states", name)
        if state.final and state.sla and not state.sla.pause and state.sla.due:
            self.warn((*base, "sla"), "a final state's clock never runs out")
        if state.sla:
            self._check_sla((*base, "sla"), state.sla)
        for i, n in enumerate(state.notify):
            self._check_notify((*base, "notify", i), n)

    def _check_sla(self, base: tuple, sla: d.Sla) -> None:
        if isinstance(sla.due, d.DueChoice):
            spec = self.wf.fields.get(sla.due.by)
            if spec is None:
                self.error(
                    (*base, "due", "by"),
                    f"unknown field {sla.due.by!r}" + did_you_mean(sla.due.by, self.fields),
                )
            elif spec.type == "enum":
                for key in sla.due.map:
                    if key not in (spec.values or []):
                        self.error(
                            (*base, "due", "map", key),
                            f"{key!r} is not a value of "
                            f"{sla.due.by}" + did_you_mean(key, spec.values or []),
                        )
            for key, text in sla.due.map.items():
                self._duration((*base, "due", "map", key), text)
            if sla.due.default:
                self._duration((*base, "due", "default"), sla.due.default)
        elif isinstance(sla.due, str) and "{{" in sla.due:
            self.due_exprs[base] = self._value((*base, "due"), sla.due)
        elif sla.due is not None:
            self._duration((*base, "due"), sla.due)
        for i, r in enumerate(sla.remind):
            if r.at is not None:
                self._fraction((*base, "remind", i), r.at)
            else:
                self._duration((*base, "remind", i), r.before)
            self._recipients((*base, "remind", i, "notify"), r.notify)
        for i, step in enumerate(sla.overdue):
            self._duration((*base, "overdue", i, "after"), step.after)
            self._recipients((*base, "overdue", i, "notify"), step.notify)
            if step.fire and not any(t.trigger == step.fire for t in self.wf.transitions):
                self.error(
                    (*base, "overdue", i, "fire"),
                    f"unknown trigger {step.fire!r}"
                    + did_you_mean(step.fire, {t.trigger for t in self.wf.transitions}),
                )
            if step.escalate and step.escalate not in ("parent", "street", "district", "area"):
                pass  # a unit id; checked against the directory when it fires
        if (sla.due is not None or sla.remind or sla.overdue) and not sla.due:
            self.error((*base, "due"), "reminders and an overdue ladder need a 'due'")

    def _duration(self, path: tuple, text: str | None) -> None:
        from gridflow.domain.duration import Duration

        if text is None:
            return
        try:
            Duration.parse(text)
        except (ValueError, TypeError) as exc:
            self.error(path, str(exc))

    def _fraction(self, path: tuple, text: str) -> None:
        from gridflow.domain.duration import parse_fraction

        frac = parse_fraction(text)
        if frac is None or not 0 < frac < 1:
            self.error(path, f"{text!r} is not a fraction between 0% and 100%")

    def _recipients(self, path: tuple, names: list[str]) -> None:
        for i, name in enumerate(names):
            if name in RECIPIENTS:
                continue
            prefix = next((p for p in RECIPIENT_PREFIXES if name.startswith(p)), None)
            if prefix == "role:" and name[5:] not in self.wf.roles:
                self.error(
                    (*path, i), f"unknown role {name[5:]!r}" + did_you_mean(name[5:], self.wf.roles)
                )
            elif prefix == "field:" and name[6:] not in self.fields:
                self.error(
                    (*path, i), f"unknown field {name[6:]!r}" + did_you_mean(name[6:], self.fields)
                )
            elif prefix is None:
                self.error(
                    (*path, i),
                    f"unknown recipient {name!r}"
                    + did_you_mean(name, [*RECIPIENTS, "role:", "field:", "person:"]),
                )

    def _check_notify(self, path: tuple, n: d.Notify) -> None:
        self._recipients((*path, "to"), n.to)

    def _expr(self, path: tuple, source: str, extra: Iterable[str] = ()) -> Expression | None:
        try:
            expr = compile_expression(source)
        except ExpressionError as exc:
            self.error(path, f"{exc}", exc.offset)
            return None
        self._names(path, expr, extra)
        return expr

    def _value(self, path: tuple, value: Any, extra: Iterable[str] = ()) -> Any:
        try:
            compiled = compile_value(value)
        except ExpressionError as exc:
            self.error(path, f"{exc}", exc.offset)
            return None
        if isinstance(compiled, Expression):
            self._names(path, compiled, extra)
        return compiled

    def _names(self, path: tuple, expr: Expression, extra: Iterable[str]) -> None:
        allowed = EXPRESSION_NAMES | set(extra)
        for name in sorted(expr.names - allowed):
            self.error(
                path, f"unknown name {name!r} in {expr.source!r}" + did_you_mean(name, allowed)
            )
        for var, attr in sorted(expr.attrs):
            if var in ("data", "payload") and var not in extra and attr not in self.fields:
                self.error(
                    path,
                    f"unknown field {var}.{attr} in {expr.source!r}"
                    + did_you_mean(attr, self.fields),
                )
            elif var in ATTRS and var not in extra and attr not in ATTRS[var]:
                self.error(path, f"{var} has no {attr!r}" + did_you_mean(attr, ATTRS[var]))

    def _transition(self, i: int, t: d.Transition) -> CompiledTransition:
        base = ("transitions", i)
        sources = t.sources
        if sources == ["*"]:
            pass
        else:
            for j, s in enumerate(sources):
                if s not in self.states:
                    where = (
                        (*base, "source", j) if isinstance(t.source, list) else (*base, "source")
                    )
                    self.error(where, f"unknown state {s!r}" + self._hint(s))
        if t.dest not in self.states:
            self.error((*base, "dest"), f"unknown state {t.dest!r}" + self._hint(t.dest))
        for j, role in enumerate(t.roles):
            if role not in self.wf.roles:
                self.error(
                    (*base, "roles", j),
                    f"unknown role {role!r}" + did_you_mean(role, self.wf.roles),
                )
        for key in ("requires", "accepts"):
            for j, name in enumerate(getattr(t, key)):
                if name not in self.fields:
                    self.error(
                        (*base, key, j), f"unknown field {name!r}" + did_you_mean(name, self.fields)
                    )
        for name in t.set:
            if name not in self.fields:
                self.error(
                    (*base, "set", name),
                    f"unknown field {name!r}" + did_you_mean(name, self.fields),
                )
        when = self._expr((*base, "when"), t.when) if t.when else None
        checks = []
        for j, c in enumerate(t.checks):
            expr = self._expr((*base, "checks", j, "that"), c.that)
            msg = self._value((*base, "checks", j, "message"), c.message)
            if expr is not None:
                checks.append((expr, msg))
        set_ = {k: self._value((*base, "set", k), v) for k, v in t.set.items()}
        for j, n in enumerate(t.notify):
            self._check_notify((*base, "notify", j), n)
        extend = self._value((*base, "extend_clock"), t.extend_clock) if t.extend_clock else None
        spawn_each = spawn_unit = None
        spawn_set: dict = {}
        if t.spawn:
            sp = (*base, "spawn")
            spawn_each = self._expr((*sp, "for_each"), t.spawn.for_each)
            var = [t.spawn.as_]
            spawn_set = {k: self._value((*sp, "set", k), v, var) for k, v in t.spawn.set.items()}
            spawn_unit = self._value((*sp, "unit"), t.spawn.unit, var) if t.spawn.unit else None
            if t.spawn.then:
                pass  # a trigger of the child workflow: checked in load_files
        return CompiledTransition(
            i, t, when, tuple(checks), set_, spawn_each, spawn_set, spawn_unit, extend
        )

    def _check_graph(self) -> None:
        wf = self.wf
        triggers = {t.trigger for t in wf.transitions}
        for i, t in enumerate(wf.transitions):
            if t.spawn and t.spawn.on_all_final and t.spawn.on_all_final not in triggers:
                self.error(
                    ("transitions", i, "spawn", "on_all_final"),
                    f"unknown trigger {t.spawn.on_all_final!r}"
                    + did_you_mean(t.spawn.on_all_final, triggers),
                )
        # same trigger from the same state: an unguarded branch hides the ones after it
        seen: dict[tuple[str, str], int] = {}
        for i, t in enumerate(wf.transitions):
            for s in list(wf.states) if t.source == "*" else t.sources:
                key = (s, t.trigger)
                if (
                    key in seen
                    and not t.when
                    and set(t.roles) <= set(wf.transitions[seen[key]].roles)
                    and s in self.states
                ):
                    self.warn(
                        ("transitions", i),
                        f"never taken from {s!r}: transition "
                        f"{seen[key]} has the same trigger with no 'when' before it",
                    )
                if not t.when:
                    seen.setdefault(key, i)
        starts = [s for s in wf.initial_states if s in self.states]
        if not starts or self.broken_states:
            return  # reachability over a partly broken graph would only echo those errors
        edges: dict[str, set[str]] = {s: set() for s in self.states}
        for t in wf.transitions:
            for s in list(self.states) if t.source == "*" else t.sources:
                if s in edges and t.dest in self.states:
                    edges[s].add(t.dest)
        reached, todo = set(starts), deque(starts)
        while todo:
            for nxt in edges[todo.popleft()]:
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        # a transition the schema stage dropped, or one naming an unknown state, is missing
        # from the edges: "cannot be reached" / "no way out" would only echo that error
        raw = self.loc.value.get("transitions") if isinstance(self.loc.value, dict) else None
        partial = (isinstance(raw, list) and len(self.index_map) < len(raw)) or any(
            s not in self.states
            for t in wf.transitions
            for s in ([] if t.source == "*" else t.sources) + [t.dest]
        )
        for name, state in wf.states.items():
            if partial:
                break
            if name not in reached:
                self.error(
                    ("states", name),
                    f"state {name!r} cannot be reached from {' or '.join(map(repr, starts))}",
                )
            elif not state.final and not edges[name]:
                self.error(("states", name), f"state {name!r} is not final and has no way out")
        if not wf.final_states:
            self.error(("states",), "no state is final: cases could never close")
