"""The ``kpis:`` block of a workflow: what its reports count, declared in YAML (pure models).

A workflow says which of its states make up which list or stage, which steps count as
returns, extensions, reworks and escalations, which SLA clock's deadlines are judged "on
time", in which states its responsible party (``facets.party``) owes the next move, and —
section by section — the figures its report shows and the headline the street quotes. A
workflow that declares no figures gets the generic set (:mod:`gridflow.domain.kpi_plan`).

The measures a figure can be (exactly one per figure; ``docs/kpis.md`` is the reference)::

    cases: opened | closed | open_at_end | opened_closed | overdue     case counts
    steps: [trigger, …]                                               step counts
    deadlines: CLOCK                                                  deadlines met / missed
    days: mean | p90 (p1 … p99)                                       working days open → closed
    units: KIND                                                       units of a kind (org)
    sum: [figure, …] (minus: [figure, …])                             arithmetic
    rate: [numerator, denominator]                                    a share, 0..1

Which options go with which measure is checked here (the schema stage); names (states,
triggers, clocks, figures, grades) are checked against the workflow in
:mod:`gridflow.domain.kpi_checks`.

These models attach to :class:`gridflow.domain.definition.Workflow` as ``kpis`` (this module
rebuilds the ``Workflow`` model once its classes exist).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from gridflow.domain import definition as d
from gridflow.domain.definition import DurationText, Label, Name, Strict

# a step a figure counts: a trigger of the workflow, or the note an overdue rung's
# ``escalate:`` leaves in the history
SYSTEM_STEPS = ("sla:escalate",)
STEP_PATTERN = r"^(?:[a-z][a-z0-9_]*|sla:escalate)$"
StepName = Annotated[
    str,
    Field(pattern=STEP_PATTERN),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": STEP_PATTERN,
            "description": "a trigger, or sla:escalate (an overdue rung's escalation)",
        }
    ),
]
DAYS_PATTERN = r"^(?:mean|p[1-9][0-9]?)$"
CASE_COUNTS = ("opened", "closed", "open_at_end", "opened_closed", "overdue")
MEASURES = ("cases", "steps", "deadlines", "days", "units", "sum", "rate")
# the options each measure takes (the measure's own key aside)
OPTIONS: dict[str, tuple[str, ...]] = {
    "cases": ("in", "with_step", "by"),
    "steps": ("to", "within", "grade", "per", "by", "kind"),
    "deadlines": ("outcome", "settled_by"),
    "days": ("in",),
    "units": (),
    "sum": ("minus",),
    "rate": (),
}
_ALL_OPTIONS = tuple(dict.fromkeys(o for opts in OPTIONS.values() for o in opts))
T = TypeVar("T")
NonEmpty = Annotated[list[T], Field(min_length=1)]
RESERVED_SECTIONS = ("about", "overdue_by_unit", "overdue_by_department")
SECTION_MAX = 31  # a section is a sheet of the workbook: Excel caps sheet names at 31


def _figure_schema(schema: dict[str, Any]) -> None:
    """``Figure``: exactly one measure, and each option only beside a measure that takes it."""
    schema["oneOf"] = [{"required": [m]} for m in MEASURES]
    rules = []
    for option in _ALL_OPTIONS:
        takers = [m for m, opts in OPTIONS.items() if option in opts]
        rules.append(
            {
                "if": {"required": [option]},
                "then": {"anyOf": [{"required": [m]} for m in takers]},
            }
        )
    schema["allOf"] = rules


class Figure(Strict):
    """One figure of a report section: a measure (exactly one of ``MEASURES``), its options,
    and how people see it (``label``, ``formula``, shown ``under`` another figure, or
    ``hidden``: computed for JSON/CSV and for other figures, not shown in tables)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, json_schema_extra=_figure_schema
    )

    label: Label | None = None
    formula: str | None = None  # how it is counted, for people (default: said from the measure)
    under: Name | None = None  # shown indented under that figure
    hidden: bool = False
    # ---- the measure
    cases: Literal["opened", "closed", "open_at_end", "opened_closed", "overdue"] | None = None
    steps: NonEmpty[StepName] | None = None
    deadlines: Name | None = None  # a clock
    days: Annotated[str, Field(pattern=DAYS_PATTERN)] | None = None
    units: Name | None = None  # a unit kind: units of that kind in the scope's territory
    sum: NonEmpty[Name] | None = None
    rate: Annotated[list[Name], Field(min_length=2, max_length=2)] | None = None
    # ---- options
    in_: NonEmpty[Name] | None = Field(None, alias="in")  # states or stages
    with_step: NonEmpty[StepName] | None = None  # opened, and stepped on
    by: Literal["territory"] | None = None  # steps taken by units of the scope's territory
    to: NonEmpty[Name] | None = None  # steps entering one of these states
    within: DurationText | None = None  # steps taken within this working time of entering
    grade: str | None = None  # the grade (facets.grade) as the step left it
    per: Literal["step", "case", "unit"] = "step"  # count steps, cases, or acting units
    kind: Name | None = None  # per: unit — only units of this kind
    outcome: Literal["all", "met", "late", "missed"] = "all"
    settled_by: NonEmpty[Name] | None = None  # triggers settling a deadline
    minus: list[Name] = []

    @model_validator(mode="after")
    def _shape(self) -> Figure:
        given = [m for m in MEASURES if getattr(self, m) is not None]
        if len(given) != 1:
            named = ", ".join(given) if given else "none"
            raise ValueError(f"a figure needs exactly one of {', '.join(MEASURES)} (has {named})")
        measure = given[0]
        for option in _ALL_OPTIONS:
            attr = "in_" if option == "in" else option
            if attr in self.model_fields_set and option not in OPTIONS[measure]:
                raise ValueError(f"{option!r} does not apply to a {measure} figure")
        return self

    @property
    def measure(self) -> str:
        return next(m for m in MEASURES if getattr(self, m) is not None)


class Stage(Strict):
    """A named group of states (a list, a stage): ``{label: …, states: […]}``; a plain list
    of states is short for ``{states: […]}``."""

    model_config = ConfigDict(
        json_schema_extra=d._or_text(
            {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": d.NAME}}
        )
    )

    label: Label | None = None
    states: list[Name] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"states": value} if isinstance(value, list) else value


class OnTime(Strict):
    """The clock whose deadlines the generic figures judge, and (optionally) the triggers that
    settle one; a plain clock name is short for ``{clock: NAME}``."""

    model_config = ConfigDict(json_schema_extra=d._or_text({"type": "string", "pattern": d.NAME}))

    clock: Name
    settled_by: NonEmpty[Name] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, value: Any) -> Any:
        return {"clock": value} if isinstance(value, str) else value


class Chart(Strict):
    """A donut of some figures on the yearly page (``center``: a figure shown in the middle,
    ``note``: a figure said beside it; ``title``: default the section's label)."""

    title: Label | None = None
    figures: list[Name] = Field(min_length=1)
    center: Name | None = None
    note: Name | None = None


class Listing(Strict):
    """What the yearly page lists for a section: its cases (with ``columns``: case fields), or
    the steps of ``steps`` taken by the unit's territory (hands raised), each marked won when
    the acting unit is in the case field ``won``."""

    steps: Name | None = None
    won: Name | None = None
    columns: list[Name] = []


class Section(Strict):
    """A report section: the workflow's cases (those tagged ``tag``), counted for a unit by
    ``scope`` (``own``: the unit's cases — in its subtree, or with its responsible party;
    ``reach``: cases published by the unit or above it, for everyone below), and the figures
    shown (none: the generic set). ``headline``: what the street quotes, ``{figure}``
    standing for a figure."""

    label: Label | None = None
    tag: str | None = None
    scope: Literal["own", "reach"] = "own"
    headline: Label | None = None
    figures: dict[Name, Figure] = {}
    cards: list[Annotated[list[Name], Field(min_length=1, max_length=2)]] = []
    chart: Chart | None = None
    listing: Listing | None = None


class KpiSpec(Strict):
    """The ``kpis:`` block of a workflow (every key optional)."""

    stages: dict[Name, Stage] = {}
    owes: list[Name] | None = None  # states where the party owes the next move (default: all)
    returns: list[StepName] = []
    extensions: list[StepName] = []
    reworks: list[StepName] = []
    escalations: list[StepName] = []
    on_time: OnTime | None = None
    sections: dict[Name, Section] = {}

    @property
    def marks(self) -> dict[str, list[str]]:
        """The steps marked as returns, extensions, reworks and escalations."""
        return {
            "returns": self.returns,
            "extensions": self.extensions,
            "reworks": self.reworks,
            "escalations": self.escalations,
        }


def placeholders(text: str) -> list[str]:
    """The ``{figure}`` names a headline uses, in order (``{{``/``}}`` are literal braces)."""
    return [m for m in re.findall(r"\{\{|\}\}|\{([a-z][a-z0-9_]*)\}", text) if m]


# the Workflow model names ``KpiSpec``: build it now that the class exists
d.Workflow.model_rebuild(_types_namespace={"KpiSpec": KpiSpec})
