"""What a workflow's reports count, resolved against the workflow (pure): its ``kpis:`` block,
or the generic set when it declares no figures.

:func:`plan_of` turns a validated :class:`~gridflow.domain.definition.Workflow` into a
:class:`KpiPlan`: its sections, each with its figures in order, every name resolved (stages
expanded into states, the states that run or pause a clock, the display kind and the words
people read). The service (``gridflow.service.kpi``) counts what the plan says; nothing here
touches a database, and nothing here names a workflow.

The generic set (a workflow that declares no figures, or a section without ``figures``)::

    opened  closed  open_at_end             cases of the period, and open at its end
    <stage>                                  open at the end in each declared stage
    <clock>_deadlines, _on_time, _on_time_rate   for ``on_time``'s clock, else every clock
    overdue                                  open now, past the running clock's deadline
    returns  extensions  reworks  escalations    steps of the triggers marked as such

all counted for a unit by its responsible party (``facets.party``) as ``docs/kpis.md`` says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gridflow.domain.definition import Label, Workflow
from gridflow.domain.kpi_spec import Figure, KpiSpec, Section

# the words of the generic figures (zh, en)
GENERIC_WORDS: dict[str, tuple[str, str]] = {
    "opened": ("新增", "Opened"),
    "closed": ("办结", "Closed"),
    "open_at_end": ("期末在办", "Open at period end"),
    "overdue": ("当前超期", "Overdue now"),
    "returns": ("退回", "Returns"),
    "extensions": ("延期", "Extensions"),
    "reworks": ("返工", "Reworks"),
    "escalations": ("上报", "Escalations"),
    "deadlines": ("到期时限（{clock}）", "Deadlines due ({clock})"),
    "on_time": ("按时完成（{clock}）", "Met on time ({clock})"),
    "on_time_rate": ("按时完成率（{clock}）", "On-time rate ({clock})"),
}


@dataclass(frozen=True)
class FigurePlan:
    """One figure, resolved: ``states`` (``in``, stages expanded), ``to`` (states entered),
    ``running``/``pausing`` (the states that run / pause a deadlines figure's clock)."""

    key: str
    spec: Figure
    label: tuple[str, str]  # zh, en
    formula: str
    kind: str  # how it is shown: count | rate | days
    states: frozenset[str] | None = None
    to: frozenset[str] | None = None
    running: frozenset[str] = frozenset()
    pausing: frozenset[str] = frozenset()

    @property
    def measure(self) -> str:
        return self.spec.measure

    def metric(self) -> dict[str, Any]:
        """How reports show it (JSON-ready): key, kind, label, formula, under, rate parts."""
        return {
            "key": self.key,
            "kind": self.kind,
            "label": {"zh": self.label[0], "en": self.label[1]},
            "formula": self.formula,
            "under": self.spec.under,
            "hidden": self.spec.hidden,
            "rate": list(self.spec.rate) if self.spec.rate else None,
        }


@dataclass(frozen=True)
class SectionPlan:
    """One section of a workflow's report: its cases (``workflow``, ``tag``), how a unit
    counts them (``scope``), its figures in order, the headline and the yearly page's bits."""

    id: str
    workflow: str
    tag: str | None
    scope: str  # own | reach
    label: tuple[str, str]
    figures: tuple[FigurePlan, ...]
    headline: tuple[str, str] | None = None
    cards: tuple[tuple[str, ...], ...] = ()
    chart: Any = None  # kpi_spec.Chart
    listing: Any = None  # kpi_spec.Listing
    party_field: str | None = None
    grade_field: str | None = None

    def figure(self, key: str) -> FigurePlan:
        return next(f for f in self.figures if f.key == key)

    def grade_labels(self) -> dict[str, tuple[str, str]]:
        """Grade value → (zh, en), from the figures counting one grade."""
        return {f.spec.grade: f.label for f in self.figures if f.spec.grade is not None}


@dataclass(frozen=True)
class KpiPlan:
    """A workflow's report: sections, and the states its party owes the next move in."""

    workflow: str
    sections: tuple[SectionPlan, ...]
    owes: frozenset[str] | None = None  # None: every state
    clocks: dict[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)


def _pair(label: Label | None, default: tuple[str, str]) -> tuple[str, str]:
    if label is None:
        return default
    return label.zh, label.en or label.zh


def clocks_of(wf: Workflow) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Every clock with a deadline: name → (states running it, states pausing it)."""
    running: dict[str, set[str]] = {}
    for name, st in wf.states.items():
        if st.sla is not None and not st.sla.pause and st.sla.due is not None:
            running.setdefault(st.sla.clock or name, set()).add(name)
    pausing: dict[str, set[str]] = {c: set() for c in running}
    for name, st in wf.states.items():
        if st.sla is not None:
            for clock in st.sla.paused_clocks:
                pausing.setdefault(clock, set()).add(name)
    return {c: (frozenset(s), frozenset(pausing.get(c, ()))) for c, s in running.items()}


def generic_figures(wf: Workflow) -> dict[str, Figure]:
    """The figures of a workflow that declares none (see the module docstring)."""
    spec = wf.kpis

    def fig(label: tuple[str, str], **measure: Any) -> Figure:
        return Figure.model_validate({"label": {"zh": label[0], "en": label[1]}, **measure})

    w = GENERIC_WORDS
    out = {
        "opened": fig(w["opened"], cases="opened"),
        "closed": fig(w["closed"], cases="closed"),
        "open_at_end": fig(w["open_at_end"], cases="open_at_end"),
    }
    for name, stage in spec.stages.items():
        out.setdefault(
            name, fig(_pair(stage.label, (name, name)), cases="open_at_end", **{"in": [name]})
        )
    clocks = [spec.on_time.clock] if spec.on_time else list(clocks_of(wf))
    settled = spec.on_time.settled_by if spec.on_time else None
    for clock in clocks:
        extra = {"settled_by": settled} if settled else {}
        words = {k: (w[k][0].format(clock=clock), w[k][1].format(clock=clock)) for k in w}
        out[f"{clock}_deadlines"] = fig(words["deadlines"], deadlines=clock, **extra)
        out[f"{clock}_on_time"] = fig(words["on_time"], deadlines=clock, outcome="met", **extra)
        out[f"{clock}_on_time_rate"] = fig(
            words["on_time_rate"], rate=[f"{clock}_on_time", f"{clock}_deadlines"]
        )
    out["overdue"] = fig(w["overdue"], cases="overdue")
    for mark, triggers in spec.marks.items():
        if triggers:
            out[mark] = fig(w[mark], steps=list(triggers))
    return out


def plan_of(wf: Workflow) -> KpiPlan:
    """The plan of ``wf``'s reports (the workflow has passed the loader's checks)."""
    spec: KpiSpec = wf.kpis
    stages = {name: frozenset(s.states) for name, s in spec.stages.items()}
    clocks = clocks_of(wf)
    sections = spec.sections or {wf.id: Section()}
    title = _pair(wf.title, (wf.id, wf.id))
    plans = []
    for sid, section in sections.items():
        figures = section.figures or generic_figures(wf)
        resolved = tuple(_figure(key, f, stages, clocks, wf) for key, f in figures.items())
        plans.append(
            SectionPlan(
                id=sid,
                workflow=wf.id,
                tag=section.tag,
                scope=section.scope,
                label=_pair(section.label, title),
                figures=resolved,
                headline=_pair(section.headline, ("", "")) if section.headline else None,
                cards=tuple(tuple(c) for c in section.cards)
                or tuple((f.key,) for f in resolved if not f.spec.hidden)[:2],
                chart=section.chart,
                listing=section.listing,
                party_field=wf.facets.party,
                grade_field=wf.facets.grade,
            )
        )
    owes = None
    if spec.owes is not None:
        owes = frozenset(s for name in spec.owes for s in stages.get(name, {name}))
    return KpiPlan(wf.id, tuple(plans), owes, clocks)


def _figure(
    key: str,
    f: Figure,
    stages: dict[str, frozenset[str]],
    clocks: dict[str, tuple[frozenset[str], frozenset[str]]],
    wf: Workflow,
) -> FigurePlan:
    def expand(names: list[str] | None) -> frozenset[str] | None:
        if names is None:
            return None
        return frozenset(s for n in names for s in stages.get(n, {n}))

    running, pausing = clocks.get(f.deadlines or "", (frozenset(), frozenset()))
    kind = "rate" if f.rate else "days" if f.days else "count"
    label = _pair(f.label, (key, key))
    return FigurePlan(
        key,
        f,
        label,
        f.formula or describe(f),
        kind,
        expand(f.in_),
        expand(f.to),
        running,
        pausing,
    )


def describe(f: Figure) -> str:
    """How a figure is counted, in words (the ``formula`` people read when none is given)."""
    states = f" in {'/'.join(f.in_)}" if f.in_ else ""
    if f.cases == "opened":
        if f.with_step:
            who = " by units of the territory" if f.by else ""
            return (
                f"cases created in the period with a {'/'.join(f.with_step)} step{who} by its end"
            )
        return "cases created in the period"
    if f.cases == "closed":
        return f"cases closed in the period{states}"
    if f.cases == "open_at_end":
        at = f", in {'/'.join(f.in_)} then" if f.in_ else ""
        return f"created before the end, not closed by it{at}"
    if f.cases == "opened_closed":
        return f"created in the period and closed by its end{states}"
    if f.cases == "overdue":
        return "open now and past the deadline of its running clock"
    if f.steps:
        what = " + ".join(f.steps) + " steps"
        if f.per == "case":
            text = f"cases with {what} in the period"
        elif f.per == "unit":
            kind = f" {f.kind}" if f.kind else ""
            text = f"distinct{kind} units of the territory taking {what} in the period"
        else:
            text = f"{what} in the period"
        if f.to:
            text += f" into {'/'.join(f.to)}"
        if f.within:
            text += f", taken within {f.within} of entering the state left"
        if f.grade is not None:
            text += f", grade = {f.grade}"
        if f.by and f.per != "unit":
            text += ", by units of the territory"
        return text
    if f.deadlines:
        by = f" by {'/'.join(f.settled_by)}" if f.settled_by else ""
        return {
            "all": f"{f.deadlines} deadlines due in the period: settled{by}, or missed and open",
            "met": f"{f.deadlines} deadlines due in the period, settled{by} on time",
            "late": f"{f.deadlines} deadlines due in the period, settled{by} late",
            "missed": f"open on the {f.deadlines} clock, due in the period, before now",
        }[f.outcome]
    if f.days:
        if f.days == "mean":
            return f"mean working days, creation → close, of cases closed in the period{states}"
        return f"percentile_cont(0.{f.days[1:].zfill(2)}) of the working days{states}"
    if f.units:
        return f"{f.units} units in the unit's territory"
    if f.sum:
        text = " + ".join(f.sum)
        return text + "".join(f" − {m}" for m in f.minus)
    assert f.rate is not None
    return f"{f.rate[0]} ÷ {f.rate[1]}"


def headline_text(template: str, figures: dict[str, Any], show: Any) -> str:
    """``template`` with each ``{figure}`` replaced by ``show(key, value)``; ``{{``/``}}`` are
    literal braces."""

    def one(m: re.Match[str]) -> str:
        if m[1] is None:
            return m[0][0]  # "{{" → "{", "}}" → "}"
        return str(show(m[1], figures.get(m[1])))

    return re.sub(r"\{\{|\}\}|\{([a-z][a-z0-9_]*)\}", one, template)
