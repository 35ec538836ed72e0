"""The workflow format: typed models of a workflow YAML file.

These pydantic models are the single source of truth for the format: the loader validates
against them (every error, located) and ``gridflow schema`` prints their JSON Schema.
They hold *declarations* only; compiling guards and building the state machine happen in
``loader`` and ``machine``.

The JSON Schema describes what the loader accepts, shorthands included (a plain string for a
``Label``, ``remind: [50%, 4wh]``), together with the context-free rules the loader applies
after pydantic: duration and fraction syntax, the recipient vocabulary, lower_snake_case keys
and the ``model_validator`` rules below. Left to ``gridflow validate``: cross-references (does
that state, role, field exist?), expressions, a field's ``default`` against its type, and the
graph. The schema does not admit pydantic's lax coercions (``final: "yes"``, ``max_length:
"5"``), which are no part of the format. ``tests/test_schema.py`` holds the two together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gridflow.domain.duration import UNITS

if TYPE_CHECKING:  # the ``kpis:`` block; kpi_spec rebuilds ``Workflow`` once it is defined
    from gridflow.domain.kpi_spec import KpiSpec

NAME = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME, description="lower_snake_case identifier")]
FieldType = Literal[
    "string", "text", "int", "float", "bool", "date", "datetime", "duration", "enum", "list",
    "unit", "person", "file", "files",
]  # fmt: skip
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

# Who a notice can go to (``notify``/``to`` entries), besides ``role:NAME``, ``field:NAME``,
# ``person:ID`` and ``unit:ID``. The loader checks entries against these.
RECIPIENTS = frozenset(
    {
        "actor",
        "assignee",
        "leader",
        "parent",
        "street",
        "district",
        "area",
        "reporter",
        "creator",
        "department",
        "party",
    }
)
RECIPIENT_PREFIXES = ("role:", "field:", "person:", "unit:")

# ---- schema-only descriptions of strings the loader parses after pydantic ----------------
# (``WithJsonSchema`` changes the printed schema, never validation or its messages)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


_AMOUNT = r"(?:\d+(?:\.\d*)?|\.\d+)"  # a number as ``Duration.parse`` reads it
_UNIT = "|".join(_any_case(u) for u in UNITS)  # units are case-insensitive
DURATION_PATTERN = rf"^\s*{_AMOUNT}\s*(?:{_UNIT})\s*$"
_PERCENT = r"0*(?:[1-9]\d?(?:\.\d*)?|\.\d*[1-9]\d*)\s*%"  # more than 0 %, less than 100 %
_FRACTION = r"0*\.\d*[1-9]\d*"  # more than 0, less than 1
PERCENT_PATTERN = rf"^\s*{_PERCENT}\s*$"
FRACTION_PATTERN = rf"^\s*(?:{_PERCENT}|{_FRACTION})\s*$"
SCOPE_PATTERN = r"^(?:unit|under|any|field:[a-z][a-z0-9_]*)$"

DurationText = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "a duration: 5wd, 4wh, 48h, 3d, 30m, 1.5wh",
        }
    ),
]
FractionText = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": FRACTION_PATTERN,
            "description": "a share of the working time, above 0 and below 1: 50% or 0.5",
        }
    ),
]
DueText = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"pattern": DURATION_PATTERN}, {"pattern": r"\{\{"}],
            "description": "a duration (5wd), or a {{ expression }} giving a duration, an "
            "ISO date or a datetime",
        }
    ),
]
Recipient = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {"enum": sorted(RECIPIENTS)},
                {"pattern": "^(?:" + "|".join(p[:-1] for p in RECIPIENT_PREFIXES) + "):"},
            ],
            "description": "who gets the notice: "
            + ", ".join(sorted(RECIPIENTS))
            + ", role:NAME, field:NAME, person:ID or unit:ID",
        }
    ),
]


def _or_text(text: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` for a model whose before-validator also builds it from a string:
    its schema becomes ``anyOf: [text, <the mapping form>]``, title and description on top."""

    def extra(schema: dict[str, Any]) -> None:
        mapping = dict(schema)
        schema.clear()
        for key in ("title", "description"):
            if key in mapping:
                schema[key] = mapping.pop(key)
        schema["anyOf"] = [text, mapping]

    return extra


def _reminder_schema(schema: dict[str, Any]) -> None:
    """``Reminder``: exactly one of ``at``/``before`` (``_one``), or the string shorthand
    (``_from_str``: ending in % → ``at``, anything else → ``before``, a duration)."""
    schema["oneOf"] = [
        {"required": [key], "properties": {key: {"type": "string"}}} for key in ("at", "before")
    ]
    shorthand = {
        "type": "string",
        "anyOf": [{"pattern": PERCENT_PATTERN}, {"pattern": DURATION_PATTERN}],
        "description": "50% (of the working time) or 4wh (before the deadline)",
    }
    _or_text(shorthand)(schema)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(Strict):
    """A text in Chinese and English. A plain string in YAML sets both."""

    model_config = ConfigDict(json_schema_extra=_or_text({"type": "string"}))

    zh: str
    en: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, value: Any) -> Any:
        return {"zh": value, "en": value} if isinstance(value, str) else value

    def get(self, lang: str = "zh-CN") -> str:
        return self.en if lang.startswith("en") and self.en else self.zh


class Role(Strict):
    """A role the workflow uses, and how its holders are scoped to cases.

    scope: ``unit`` — the holder's unit contains the case's unit (a grid chief acts on cases of
    their grid and below); ``under`` — the holder's unit lies inside the case's unit (grids
    claiming a street-wide question); ``field:NAME`` — the holder's unit or department is the
    value of case field NAME (a department liaison on questions addressed to them); ``any``.
    ``org_role`` lets one org role act under several scopes: ``claimer: {org_role:
    grid_chief, scope: under}``.
    """

    label: Label | None = None
    scope: str = Field("unit", json_schema_extra={"pattern": SCOPE_PATTERN})
    org_role: str | None = None  # the org-directory role that grants it (default: same name)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if value in ("unit", "under", "any") or re.match(r"^field:[a-z][a-z0-9_]*$", value):
            return value
        raise ValueError("scope must be unit, under, any or field:<field name>")


def _present(key: str, value: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema: ``key`` is there and ``value`` holds for it."""
    return {"required": [key], "properties": {key: value}}


class FieldDef(Strict):
    """A typed case field. ``unit`` refers to an org unit (or department) by id."""

    model_config = ConfigDict(  # ``_shape`` below
        json_schema_extra={
            "allOf": [
                {
                    "if": _present("type", {"const": "enum"}),
                    "then": _present("values", {"type": "array", "minItems": 1}),
                },
                {
                    "if": _present("values", {"type": "array", "minItems": 1}),
                    "then": {
                        "anyOf": [
                            _present("type", {"const": "enum"}),
                            _present("items", {"const": "enum"}),
                        ]
                    },
                },
                {
                    "if": _present("type", {"const": "list"}),
                    "then": _present("items", {"type": "string"}),
                },
                {
                    "if": _present("items", {"type": "string"}),
                    "then": _present("type", {"const": "list"}),
                },
                {
                    "if": {"anyOf": [{"required": ["max"]}, {"required": ["min"]}]},
                    "then": _present("type", {"enum": ["duration", "int", "float"]}),
                },
                {
                    "if": _present("type", {"const": "duration"}),
                    "then": {
                        "properties": {
                            "max": {"type": "string", "pattern": DURATION_PATTERN},
                            "min": False,
                        }
                    },
                    "else": {"properties": {"max": {"type": "number"}}},
                },
            ]
        }
    )

    type: FieldType
    label: Label | None = None
    required: bool = False  # must be given when the case starts
    default: Any = None
    values: list[str] | None = None  # enum choices
    items: FieldType | None = None  # list element type
    kind: str | None = None  # for unit fields: restrict to a unit kind, e.g. department
    max_length: int | None = None  # characters of a string/text; items of a list
    # the largest value a case may hold: a duration (``60wd``; default a year, see
    # ``duration.DEFAULT_FIELD_MAX``) or a number (int: default ±(2**53 - 1)); ``min`` too
    max: str | int | float | None = None
    min: int | float | None = None

    @field_validator("max", "min", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be a number or a duration, not {value!r}")
        return value

    # how people read enum choices: ``{simple: {zh: 简单, en: Simple}}`` (forms, pages)
    value_labels: dict[str, Label] | None = None

    @model_validator(mode="after")
    def _shape(self) -> FieldDef:
        for bound in ("max", "min"):
            value = getattr(self, bound)
            if value is None:
                continue
            if self.type not in ("duration", "int", "float"):
                raise ValueError(f"'{bound}' only applies to duration, int and float fields")
            if self.type == "duration":
                if bound == "min" or not isinstance(value, str):
                    raise ValueError("a duration field takes 'max' as a duration, e.g. max: 60wd")
                from gridflow.domain.duration import Duration

                Duration.parse(value)  # a DurationError (a ValueError) names the mistake
            elif isinstance(value, str):
                raise ValueError(f"'{bound}' of a number field must be a number, not {value!r}")
        if self.min is not None and isinstance(self.max, int | float) and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is above 'max' ({self.max})")
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs 'values'")
        if self.values and self.type != "enum" and self.items != "enum":
            raise ValueError("'values' only applies to enum fields (or lists of enum)")
        if self.type == "list" and not self.items:
            raise ValueError("a list field needs 'items' (its element type)")
        if self.items and self.type != "list":
            raise ValueError("'items' only applies to list fields")
        if self.value_labels:
            unknown = sorted(set(self.value_labels) - set(self.values or []))
            if unknown:
                raise ValueError(f"value_labels: {unknown[0]!r} is not one of the values")
        return self

    def choice_label(self, value: str, lang: str = "zh-CN") -> str:
        """How people read the enum choice ``value`` (the value itself when unlabelled)."""
        label = (self.value_labels or {}).get(value)
        return label.get(lang) if label else value


class DueChoice(Strict):
    """A deadline chosen by a field: ``{by: category, map: {simple: 1wd}, default: 5wd}``."""

    by: Name
    map: dict[str, DurationText]
    default: DurationText | None = None


class OverdueStep(Strict):
    """One rung of the overdue ladder, ``after`` the deadline (``0wd`` = at the deadline)."""

    after: DurationText = "0wd"
    notify: list[Recipient] = []
    template: Name = "overdue"
    escalate: str | None = Field(
        None,
        description="tell that unit's leaders (escalation notice, sla:escalate note): parent, "
        "area, street, district or a unit id",
    )
    fire: Name | None = Field(
        None, description="a trigger the system fires on the case: the rung moves it"
    )


class Reminder(Strict):
    """``at: 50%`` of the working time, or ``before: 4wh`` the deadline. A plain string is
    short for either: ``50%`` (ends in %) is ``at``, anything else (``4wh``) is ``before``."""

    model_config = ConfigDict(json_schema_extra=_reminder_schema)

    at: FractionText | None = None
    before: DurationText | None = None
    notify: list[Recipient] = ["assignee"]
    template: Name = "reminder"

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"at": value} if value.strip().endswith("%") else {"before": value}
        return value

    @model_validator(mode="after")
    def _one(self) -> Reminder:
        if (self.at is None) == (self.before is None):
            raise ValueError("a reminder needs exactly one of 'at' (e.g. 50%) or 'before' (4wh)")
        return self


class Sla(Strict):
    """The clock of a state. States naming the same ``clock`` share one deadline.

    ``due``: a duration (``5wd``), a choice by field, or ``"{{ expression }}"`` giving a
    duration or an ISO date (end of that working day) / datetime (an absolute deadline).
    Reminders and an overdue ladder need a ``due``; a pausing state names only its clock.
    """

    model_config = ConfigDict(  # ``_shape`` below, and the loader's "need a 'due'"
        json_schema_extra={
            "allOf": [
                {
                    "if": _present("pause", {"const": True}),
                    "then": {"required": ["clock"], "properties": {"clock": {"type": "string"}}},
                },
                {
                    "if": _present("pause", {"type": "array"}),
                    "then": {"properties": {"clock": {"type": "null"}}},
                },
                {
                    "if": _present("pause", {"anyOf": [{"const": True}, {"type": "array"}]}),
                    "then": {
                        "properties": {
                            "due": {"type": "null"},
                            "remind": {"maxItems": 0},
                            "overdue": {"maxItems": 0},
                        },
                    },
                },
                {
                    "if": {
                        "anyOf": [
                            _present("remind", {"minItems": 1}),
                            _present("overdue", {"minItems": 1}),
                        ]
                    },
                    "then": _present("due", {"not": {"type": "null"}}),
                },
            ]
        }
    )

    clock: Name | None = None  # default: the state's own name
    due: DueText | DueChoice | None = None
    # entering this state pauses ``clock`` (``true``), or whichever of these clocks runs
    pause: bool | Annotated[list[Name], Field(min_length=1)] = False
    remind: list[Reminder] = []
    overdue: list[OverdueStep] = []

    @model_validator(mode="after")
    def _shape(self) -> Sla:
        if self.pause and (self.due or self.remind or self.overdue):
            raise ValueError("a pausing state only names the clock it pauses")
        if self.pause is True and not self.clock:
            raise ValueError("'pause: true' needs 'clock' (the clock to pause)")
        if isinstance(self.pause, list) and self.clock:
            raise ValueError(
                "name the paused clocks once: 'clock' with 'pause: true', or 'pause: [clocks]'"
            )
        return self

    @property
    def paused_clocks(self) -> list[str]:
        """The clocks entering this state pauses (whichever of them runs)."""
        if self.pause is True:
            return [self.clock] if self.clock else []
        return list(self.pause) if isinstance(self.pause, list) else []


class Notify(Strict):
    """Send ``template`` to recipients. ``to`` entries: one of ``RECIPIENTS`` (``actor``,
    ``assignee``, ``leader``, ``department`` …), ``role:NAME``, ``field:NAME``, ``person:ID``
    or ``unit:ID``."""

    template: Name
    to: list[Recipient]


class Spawn(Strict):
    """Start one case of ``workflow`` per item of ``for_each`` as children of this case."""

    workflow: Name
    for_each: str  # expression giving a list
    as_: Name = Field("item", alias="as")
    set: dict[str, Any] = {}
    unit: str | None = None  # expression; default: the parent's unit
    on_all_final: Name | None = None  # trigger fired on the parent when all children are final
    then: Name | None = None  # trigger the system fires on each child right after it starts

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class InitialChoice(Strict):
    """The initial state chosen by a field: ``{by: direction, map: {grid_asks: raised}}``."""

    by: Name
    map: dict[str, Name]
    default: Name | None = None


class Check(Strict):
    """A rule the event must satisfy, else it is refused with ``message``."""

    that: str
    message: str


class State(Strict):
    label: Label | None = None
    final: bool = False
    description: str | None = None
    sla: Sla | None = None
    notify: list[Notify] = []  # on entering the state


class Transition(Strict):
    trigger: Name
    source: str | list[str]
    dest: str
    label: Label | None = None
    roles: list[str] = []  # empty: the system only (timers, fan-in)
    when: str | None = None  # guard: selects this transition among same-trigger ones
    checks: list[Check] = []  # must hold, else a refusal with the check's message
    requires: list[str] = []  # fields the event must supply
    accepts: list[str] = []  # further fields the event may supply
    set: dict[str, Any] = {}  # data updates: literals, or "{{ expression }}"
    comment_required: bool = False
    extend_clock: str | None = None  # "{{ expression }}" giving a duration like "3wd"
    notify: list[Notify] = []
    spawn: Spawn | None = None
    # at most this many steps of this trigger per case (counted from the case's history)
    max: Annotated[int, Field(ge=1)] | None = None

    @property
    def sources(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)


class Facets(Strict):
    """Data fields the engine also keeps in indexed columns of the case (and of each history
    row, as they were at that step), so reports can group and filter by them without reading
    the case data: ``{tag: direction, party: department, grade: satisfaction}``."""

    tag: Name | None = None  # a classifying field (string or enum), e.g. a direction
    party: Name | None = None  # the unit a case is with, e.g. its department
    grade: Name | None = None  # an assessment (enum or string), e.g. a satisfaction rating


class Workflow(Strict):
    """A workflow definition: one YAML file."""

    id: Name
    version: int | str = 1
    title: Label
    description: str | None = None
    roles: dict[Name, Role] = {}
    fields: dict[Name, FieldDef] = {}
    title_field: Name | None = None  # which field is the case's display title
    facets: Facets = Facets()  # fields kept in indexed case columns, for reports
    start_roles: list[str] = []  # who may start a case (empty: anyone in the directory)
    # notices in a language without its own template are rendered in this one
    fallback_language: Literal["zh-CN", "en"] | None = None
    kpis: KpiSpec = Field(default_factory=lambda: _kpi_spec())  # what its reports count
    initial: Name | InitialChoice
    states: dict[Name, State]
    transitions: list[Transition]

    @property
    def initial_states(self) -> list[str]:
        if isinstance(self.initial, str):
            return [self.initial]
        names = list(dict.fromkeys(self.initial.map.values()))
        default = self.initial.default
        return names + ([default] if default is not None and default not in names else [])

    def initial_for(self, data: Mapping[str, Any]) -> str:
        """The state a new case with ``data`` starts in."""
        if isinstance(self.initial, str):
            return self.initial
        chosen = self.initial.map.get(str(data.get(self.initial.by)), self.initial.default)
        return chosen or self.initial_states[0]

    @property
    def final_states(self) -> set[str]:
        return {name for name, st in self.states.items() if st.final}


def _kpi_spec() -> KpiSpec:
    from gridflow.domain.kpi_spec import KpiSpec

    return KpiSpec()


def _keys_checked(node: Any) -> None:
    """pydantic writes ``dict[Name, X]`` as ``patternProperties: {NAME: X}``, which leaves a
    key breaking the pattern unchecked (the loader refuses it): put the pattern into
    ``propertyNames`` too, everywhere in ``node``."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            node.setdefault("propertyNames", {})["pattern"] = next(iter(patterns))
        for value in node.values():
            _keys_checked(value)
    elif isinstance(node, list):
        for value in node:
            _keys_checked(value)


def json_schema() -> dict:
    """The JSON Schema (Draft 2020-12) of the workflow format, for editors.

    A document passes it exactly when the loader's schema stage would pass it; see the module
    docstring for what is left to ``gridflow validate``.
    """
    schema = Workflow.model_json_schema(by_alias=True)
    _keys_checked(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://gridflow.dev/schema/workflow.json"
    return schema


# the ``kpis:`` models live in their own module, which rebuilds ``Workflow`` when imported
import gridflow.domain.kpi_spec  # noqa: E402,F401  (after Workflow: it refers to it)
