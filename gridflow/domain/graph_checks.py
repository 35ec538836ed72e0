"""Loading, stage 3: the graph of a validated workflow, and its expressions compiled.

Unreachable states, dead ends, unknown roles / fields / states / recipients / clocks,
durations and fractions that do not parse, guards that do not compile, names an expression
may not use, branches that can never be taken, ladders firing what the system cannot fire,
and the ``kpis:`` block (:mod:`~gridflow.domain.kpi_checks`) — each a located ``Problem``
(or a warning); the transitions come out compiled.

One mistake, one problem: a name whose own entry the schema stage refused (a field with an
unknown type, a state or transition with a bad key) counts as known here, and the graph is
drawn over what the author wrote — a dropped transition's source and dest as written, an
unknown state as the state its "did you mean" names — so that unreachable states and dead
ends are reported even when other problems exist, without echoing them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gridflow.domain import definition as d
from gridflow.domain.duration import Duration
from gridflow.domain.expressions import (
    Expression,
    ExpressionError,
    compile_expression,
    compile_value,
)
from gridflow.domain.graph_shape import check_shape
from gridflow.domain.kpi_checks import Known, check_kpis
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
        # broken entries' names (the kpis block's broken figures are its own: ``kpis``)
        self.broken = (
            set().union(*(v for k, v in broken.items() if k != "kpis")) if broken else set()
        )
        self.broken_figures = broken.get("kpis", set()) if broken else set()
        self.broken_states = broken.get("states", set()) if broken else set()
        self.states = set(wf.states)
        self.fields = set(wf.fields)
        # names that exist, valid or not (the schema stage reported the invalid ones)
        self.known_fields = self.fields | (broken.get("fields", set()) if broken else set())
        self.known_states = self.states | self.broken_states
        self.index_map = index_map
        self.dropped = self._dropped_transitions()
        self.triggers = {t.trigger for t in wf.transitions} | {
            t["trigger"] for t in self.dropped if isinstance(t.get("trigger"), str)
        }
        self.due_exprs: dict[tuple, Any] = {}

    def error(self, path: tuple, message: str, offset: int | None = None) -> None:
        """A problem at ``path`` (at character ``offset`` of its value, when given)."""
        if path[:1] == ("transitions",) and len(path) > 1 and isinstance(path[1], int):
            path = ("transitions", self.index_map[path[1]], *path[2:])
        if any(f"{name!r}" in message.split(" (did you mean")[0] for name in self.broken):
            return
        self.problems.append(self.loc.problem(path, message, offset=offset))

    def _dropped_transitions(self) -> list[dict]:
        """The transitions the schema stage refused, as written (mappings only)."""
        raw = self.loc.value.get("transitions") if isinstance(self.loc.value, dict) else None
        if not isinstance(raw, list):
            return []
        kept = set(self.index_map)
        return [t for i, t in enumerate(raw) if i not in kept and isinstance(t, dict)]

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
            if spec is None and wf.initial.by not in self.known_fields:
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
        if wf.title_field and wf.title_field not in self.known_fields:
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
            if spec is None and field_name in self.known_fields:
                continue  # the field's own entry is broken: reported there
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
        finals = {n for n, st in wf.states.items() if st.final} | self._raw_finals()
        known = Known(
            frozenset(self.known_states),
            frozenset(finals),
            frozenset(self.triggers),
            frozenset(self.known_fields),
            frozenset(self.broken_figures),
        )
        check_kpis(wf, known, self.error)
        return compiled

    def _raw_finals(self) -> set[str]:
        """Broken states written with ``final: true``."""
        raw = self.loc.value.get("states") if isinstance(self.loc.value, dict) else None
        if not isinstance(raw, dict):
            return set()
        return {
            n
            for n in self.broken_states
            if isinstance(raw.get(n), dict) and raw[n].get("final") is True
        }

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
            if spec is None and sla.due.by in self.known_fields:
                pass  # the field's own entry is broken: reported there
            elif spec is None:
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
            if step.fire:
                self._ladder_fire((*base, "overdue", i, "fire"), base[1], step.fire)
            if step.escalate and step.escalate not in ("parent", "street", "district", "area"):
                pass  # a unit id; checked against the directory when it fires
        if (sla.due is not None or sla.remind or sla.overdue) and not sla.due:
            self.error((*base, "due"), "reminders and an overdue ladder need a 'due'")
        clocks = self._clocks()
        for i, clock in enumerate(sla.paused_clocks):
            if clock not in clocks:
                where = (*base, "pause", i) if isinstance(sla.pause, list) else (*base, "clock")
                known = ", ".join(sorted(clocks)) or "none"
                self.error(
                    where,
                    f"unknown clock {clock!r}{did_you_mean(clock, clocks)} "
                    f"(clocks with a due: {known})",
                )

    def _clocks(self) -> set[str]:
        """Clocks some state runs with a deadline (broken states' clocks included)."""
        out = set()
        for name, st in self.wf.states.items():
            if st.sla is not None and not st.sla.pause and st.sla.due is not None:
                out.add(st.sla.clock or name)
        raw = self.loc.value.get("states") if isinstance(self.loc.value, dict) else None
        for name in self.broken_states:
            sla = raw.get(name, {}).get("sla") if isinstance(raw, dict) else None
            if isinstance(raw, dict) and isinstance(raw.get(name), dict) and isinstance(sla, dict):
                clock = sla.get("clock")
                out.add(clock if isinstance(clock, str) else name)
        return out

    def _ladder_fire(self, path: tuple, state: str, trigger: str) -> None:
        """An overdue rung fires ``trigger`` as the system: it must be defined from the
        ladder's state and need nothing only a person can give."""
        if trigger not in self.triggers:
            self.error(path, f"unknown trigger {trigger!r}" + did_you_mean(trigger, self.triggers))
            return
        here = [
            t
            for t in self.wf.transitions
            if t.trigger == trigger and (t.source == "*" or state in t.sources)
        ]
        if not here:
            if any(t.get("trigger") == trigger for t in self.dropped):
                return  # its transition is broken: reported there
            self.error(path, f"{trigger!r} is not defined from state {state!r}")
            return
        if all(t.requires or t.comment_required for t in here):
            t = here[0]
            need = ", ".join(t.requires) if t.requires else "a comment"
            self.error(path, f"{trigger!r} needs {need}, which the system firing it cannot give")

    def _duration(self, path: tuple, text: str | None) -> None:

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
            if name == "party" and self.wf.facets.party is None:
                self.error((*path, i), "'party' needs facets.party (the responsible party's field)")
                continue
            if (
                name == "department"
                and self.wf.facets.party is None
                and "department" not in self.known_fields
            ):
                self.error(
                    (*path, i),
                    "'department' needs facets.party or a field named department "
                    "(the unit to notify)",
                )
                continue
            if name in RECIPIENTS:
                continue
            prefix = next((p for p in RECIPIENT_PREFIXES if name.startswith(p)), None)
            if prefix == "role:" and name[5:] not in self.wf.roles:
                self.error(
                    (*path, i), f"unknown role {name[5:]!r}" + did_you_mean(name[5:], self.wf.roles)
                )
            elif prefix == "field:" and name[6:] not in self.known_fields:
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
            if var in ("data", "payload") and var not in extra and attr not in self.known_fields:
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
                if name not in self.known_fields:
                    self.error(
                        (*base, key, j), f"unknown field {name!r}" + did_you_mean(name, self.fields)
                    )
        for name in t.set:
            if name not in self.known_fields:
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
        triggers = self.triggers
        for i, t in enumerate(wf.transitions):
            if t.spawn and t.spawn.on_all_final and t.spawn.on_all_final not in triggers:
                self.error(
                    ("transitions", i, "spawn", "on_all_final"),
                    f"unknown trigger {t.spawn.on_all_final!r}"
                    + did_you_mean(t.spawn.on_all_final, triggers),
                )
        # same trigger from the same state: an unguarded branch (no ``when``, no ``max``)
        # hides every later one its roles cover (the first branch that matches wins) — a
        # mistake, not a style
        seen: dict[tuple[str, str], int] = {}
        for i, t in enumerate(wf.transitions):
            for s in list(wf.states) if t.source == "*" else t.sources:
                key = (s, t.trigger)
                if (
                    key in seen
                    and set(t.roles) <= set(wf.transitions[seen[key]].roles)
                    and s in self.states
                ):
                    self.error(
                        ("transitions", i),
                        f"never taken from {s!r}: transition "
                        f"{self.index_map[seen[key]]} has the same trigger with no 'when' "
                        "before it",
                    )
                    break
                if not t.when and t.max is None:  # a branch at its ``max`` is passed over
                    seen.setdefault(key, i)
        check_shape(self)
