"""Loading, stage 3 for the ``kpis:`` block: every name it uses checked against the workflow.

States and stages, triggers (and ``sla:escalate``), clocks, grades, unit kinds, the figures a
sum, rate, card, chart or headline refers to — each unknown one a located problem with a
"did you mean". A name whose own entry was broken (already reported) counts as known, so
one mistake gives one problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gridflow.domain.definition import Workflow
from gridflow.domain.duration import Duration
from gridflow.domain.kpi_plan import clocks_of, generic_figures
from gridflow.domain.kpi_spec import (
    RESERVED_SECTIONS,
    SECTION_MAX,
    SYSTEM_STEPS,
    Figure,
    Section,
    placeholders,
)
from gridflow.domain.org import UNIT_KINDS
from gridflow.domain.suggest import did_you_mean

Report = Callable[[tuple, str], None]


@dataclass(frozen=True)
class Known:
    """Names that exist (valid or broken) in the workflow being checked."""

    states: frozenset[str]
    finals: frozenset[str]
    triggers: frozenset[str]
    fields: frozenset[str]
    broken_figures: frozenset[str] = frozenset()  # "section.figure" the schema stage refused

    def figures(self, section: str, valid: Iterable[str]) -> set[str]:
        """The figures of ``section``: the valid ones and those whose entry is broken."""
        prefix = f"{section}."
        return set(valid) | {b[len(prefix) :] for b in self.broken_figures if b.startswith(prefix)}


def check_kpis(wf: Workflow, known: Known, error: Report) -> None:
    """Report every unknown or unfit name of ``wf.kpis`` through ``error(path, message)``."""
    spec = wf.kpis
    base = ("kpis",)
    stages = set(spec.stages)
    for name, stage in spec.stages.items():
        if name in known.states:
            error((*base, "stages", name), f"{name!r} is a state: a stage needs a name of its own")
        for i, state in enumerate(stage.states):
            _state(known, state, (*base, "stages", name, "states", i), error)
    for i, name in enumerate(spec.owes or []):
        if name not in known.states and name not in stages:
            error(
                (*base, "owes", i),
                f"unknown state or stage {name!r}" + did_you_mean(name, known.states | stages),
            )
    for mark, steps in spec.marks.items():
        _steps(known, steps, (*base, mark), error)
    clocks = clocks_of(wf)
    if spec.on_time is not None:
        _clock(clocks, spec.on_time.clock, (*base, "on_time", "clock"), error)
        _triggers(known, spec.on_time.settled_by or [], (*base, "on_time", "settled_by"), error)
    for sid, section in spec.sections.items():
        _section(wf, known, stages, clocks, sid, section, (*base, "sections", sid), error)


def _section(wf, known, stages, clocks, sid: str, section: Section, base, error) -> None:
    if len(sid) > SECTION_MAX:
        error(base, f"section id {sid!r} is longer than {SECTION_MAX} characters (a sheet name)")
    if sid in RESERVED_SECTIONS:
        error(base, f"section id {sid!r} is reserved (a sheet of every workbook)")
    if section.tag is not None:
        tag_field = wf.facets.tag
        spec = wf.fields.get(tag_field) if tag_field else None
        if tag_field is None:
            error((*base, "tag"), "a section by tag needs facets.tag (the field holding it)")
        elif spec is not None and spec.type == "enum" and section.tag not in (spec.values or []):
            error(
                (*base, "tag"),
                f"{section.tag!r} is not a value of {tag_field}"
                + did_you_mean(section.tag, spec.values or []),
            )
    declared = section.figures or ({} if known.figures(sid, ()) else generic_figures(wf))
    figures: set[str] = known.figures(sid, declared)
    for key, f in section.figures.items():
        _figure(wf, known, stages, clocks, figures, key, f, (*base, "figures", key), error)
    _cycles(section.figures, (*base, "figures"), error)
    for lang in ("zh", "en"):
        text = getattr(section.headline, lang, None) if section.headline else None
        for name in placeholders(text or ""):
            if name not in figures:
                error(
                    (*base, "headline", lang),
                    f"unknown figure {{{name}}}" + did_you_mean(name, figures),
                )
    for i, card in enumerate(section.cards):
        _refs(figures, card, (*base, "cards", i), error)
    if section.chart is not None:
        chart = section.chart
        _refs(figures, chart.figures, (*base, "chart", "figures"), error)
        for key in ("center", "note"):
            name = getattr(chart, key)
            if name is not None and name not in figures:
                error(
                    (*base, "chart", key), f"unknown figure {name!r}" + did_you_mean(name, figures)
                )
    if section.listing is not None:
        lst = section.listing
        if lst.steps is not None:
            _triggers(known, [lst.steps], (*base, "listing", "steps"), error, single=True)
        for key, names in (("won", [lst.won] if lst.won else []), ("columns", lst.columns)):
            for i, name in enumerate(names):
                if name not in known.fields:
                    where = (*base, "listing", key) if key == "won" else (*base, "listing", key, i)
                    error(where, f"unknown field {name!r}" + did_you_mean(name, known.fields))


def _figure(wf, known, stages, clocks, figures, key: str, f: Figure, base, error) -> None:
    measure = f.measure
    if f.in_ is not None and f.cases in ("opened", "overdue"):
        error(
            (*base, "in"),
            f"'in' does not apply to 'cases: {f.cases}' (closed, open_at_end, opened_closed)",
        )
    elif f.in_ is not None:
        for i, name in enumerate(f.in_):
            path = (*base, "in", i)
            if name in stages:
                continue
            if name not in known.states:
                error(
                    path,
                    f"unknown state or stage {name!r}" + did_you_mean(name, known.states | stages),
                )
            elif measure in ("cases", "days") and f.cases != "open_at_end":
                if name not in known.finals:
                    error(path, f"state {name!r} is not final: a closed case is never in it")
            elif name in known.finals:
                error(path, f"state {name!r} is final: an open case is never in it")
    if f.with_step is not None:
        if f.cases != "opened":
            error((*base, "with_step"), "'with_step' applies to 'cases: opened' only")
        _steps(known, f.with_step, (*base, "with_step"), error)
    if f.by is not None and measure == "cases" and f.with_step is None:
        error((*base, "by"), "'by: territory' on a cases figure needs 'with_step'")
    if f.steps is not None:
        _steps(known, f.steps, (*base, "steps"), error)
        counted = "per: case" if f.per == "case" else "by: territory" if f.by else None
        for option in ("to", "within", "grade"):
            if counted and getattr(f, option) is not None:
                error(
                    (*base, option),
                    f"{option!r} applies to counting steps, not to {counted}",
                )
    for i, name in enumerate(f.to or []):
        _state(known, name, (*base, "to", i), error)
    if f.within is not None:
        unit = Duration.parse(f.within).unit
        if unit not in ("wd", "wh"):
            error((*base, "within"), f"'within' is working time: use wd or wh, not {unit!r}")
    if f.grade is not None:
        grade_field = wf.facets.grade
        spec = wf.fields.get(grade_field) if grade_field else None
        if grade_field is None:
            error((*base, "grade"), "'grade' needs facets.grade (the field holding the grade)")
        elif spec is not None and spec.type == "enum" and f.grade not in (spec.values or []):
            error(
                (*base, "grade"),
                f"{f.grade!r} is not a value of {grade_field}"
                + did_you_mean(f.grade, spec.values or []),
            )
    if f.per == "unit" and f.by is None:
        error(
            (*base, "per"), "'per: unit' counts acting units of the territory: add 'by: territory'"
        )
    if f.kind is not None and f.per != "unit":
        error((*base, "kind"), "'kind' applies to 'per: unit' only")
    for key_, kind in (("kind", f.kind), ("units", f.units)):
        if kind is not None and kind not in UNIT_KINDS:
            error((*base, key_), f"unknown unit kind {kind!r}" + did_you_mean(kind, UNIT_KINDS))
    if f.deadlines is not None:
        _clock(clocks, f.deadlines, (*base, "deadlines"), error)
        _triggers(known, f.settled_by or [], (*base, "settled_by"), error)
    for name in ("sum", "minus", "rate"):
        refs = getattr(f, name) or []
        if key in refs:
            error((*base, name), f"figure {key!r} cannot count itself")
        _refs(figures, [r for r in refs if r != key], (*base, name), error)
    if f.under is not None and f.under not in figures:
        error((*base, "under"), f"unknown figure {f.under!r}" + did_you_mean(f.under, figures))


def _cycles(figures: Mapping[str, Figure], base: tuple, error: Report) -> None:
    """A sum or rate that (through others) refers back to itself."""

    def refs(key: str) -> list[str]:
        f = figures.get(key)
        return [*(f.sum or []), *f.minus, *(f.rate or [])] if f else []

    for start in figures:
        seen, todo = set(), [r for r in refs(start) if r != start]
        while todo:
            name = todo.pop()
            if name == start:
                error((*base, start), f"figure {start!r} refers back to itself through others")
                break
            if name not in seen:
                seen.add(name)
                todo += refs(name)


def _state(known: Known, name: str, path: tuple, error: Report) -> None:
    if name not in known.states:
        error(path, f"unknown state {name!r}" + did_you_mean(name, known.states))


def _steps(known: Known, names: Iterable[str], path: tuple, error: Report) -> None:
    for i, name in enumerate(names):
        if name not in known.triggers and name not in SYSTEM_STEPS:
            hint = did_you_mean(name, [*known.triggers, *SYSTEM_STEPS])
            error((*path, i), f"unknown trigger {name!r}{hint}")


def _triggers(
    known: Known, names: Iterable[str], path: tuple, error: Report, single: bool = False
) -> None:
    for i, name in enumerate(names):
        if name not in known.triggers:
            where = path if single else (*path, i)
            error(where, f"unknown trigger {name!r}" + did_you_mean(name, known.triggers))


def _clock(clocks: Mapping[str, object], name: str, path: tuple, error: Report) -> None:
    if name not in clocks:
        known = ", ".join(sorted(clocks)) or "none"
        error(
            path, f"unknown clock {name!r}{did_you_mean(name, clocks)} (clocks with a due: {known})"
        )


def _refs(figures: Iterable[str], names: Iterable[str], path: tuple, error: Report) -> None:
    pool = set(figures)
    for i, name in enumerate(names):
        if name not in pool:
            error((*path, i), f"unknown figure {name!r}" + did_you_mean(name, pool))
