"""Forms generated from the workflow YAML, and posted forms read back (driver ring).

An action's form has the fields its transition ``requires`` (required inputs) and
``accepts`` (optional), each drawn by its declared type: text and long text (with the
field's ``max_length``), numbers, a checkbox for ``bool``, date and date-time pickers, a
duration box (``3wd``, ``4wh``) with common choices, enum choices with their
``value_labels`` (radio buttons for a few, a select for more), unit pickers limited to the
field's ``kind`` (checkboxes for a list of units), people, and file inputs (photos from the
phone's camera) for ``file``/``files``; plus a comment box, required when the transition
says ``comment_required``. The start form has the workflow's fields that no transition
asks for or sets (required first), the rest folded away.

Reading a posted form gives the values as the engine takes them (strings it coerces and
checks itself: its refusal is what the page shows). A local date-time is read in the
calendar's timezone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

from gridflow.domain.definition import FieldDef, Workflow
from gridflow.domain.org import Directory
from gridflow.drivers.web.i18n import t

RADIO_MAX = 4  # enum choices shown as radio buttons (one tap); more: a select
DURATIONS = ("1wd", "2wd", "3wd", "5wd", "10wd", "20wd", "4wh")
MAX_VALUE = 20_000  # characters of one posted value the engine is even shown


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    """One input of a generated form."""

    name: str
    label: str
    type: str  # the field's type in the workflow
    widget: str  # text | textarea | number | checkbox | date | datetime | duration | radio
    # | select | checkboxes | file | files
    required: bool = False
    choices: list[Choice] = field(default_factory=list)
    value: Any = None
    max_length: int | None = None
    step: str = "1"
    error: str | None = None

    def chosen(self, value: str) -> bool:
        v = self.value
        return value in v if isinstance(v, list) else value == v


def _choices(spec: FieldDef, kind: str, directory: Directory, lang: str) -> list[Choice]:
    if kind == "enum":
        return [Choice(v, spec.choice_label(v, lang)) for v in spec.values or []]
    if kind == "unit":
        units = [u for u in directory.units.values() if spec.kind is None or u.kind == spec.kind]
        units.sort(key=lambda u: u.path)
        return [Choice(u.id, (u.name_en or u.name) if lang == "en" else u.name) for u in units]
    if kind == "person":
        people = sorted(directory.people.values(), key=lambda p: p.id)
        return [Choice(p.id, f"{p.name}（{p.id}）") for p in people]
    return []


def form_field(
    d: Workflow,
    name: str,
    *,
    required: bool,
    directory: Directory,
    lang: str,
    value: Any = None,
    error: str | None = None,
) -> FormField:
    """The input for field ``name`` of workflow ``d``."""
    spec = d.fields[name]
    label = spec.label.get(lang) if spec.label else name
    kind = spec.items if spec.type == "list" and spec.items else spec.type
    multiple = spec.type == "list"
    widget = {
        "string": "text",
        "text": "textarea",
        "int": "number",
        "float": "number",
        "bool": "checkbox",
        "date": "date",
        "datetime": "datetime",
        "duration": "duration",
        "file": "file",
        "files": "files",
    }.get(kind, "text")
    choices: list[Choice] = []
    if kind in ("enum", "unit", "person"):
        choices = _choices(spec, kind, directory, lang)
        if multiple:
            widget = "checkboxes"
        elif kind == "enum" and len(choices) <= RADIO_MAX:
            widget = "radio"
        else:
            widget = "select"
    elif multiple:
        widget = "textarea"  # a list of texts or numbers: one per line
    if value is None and spec.default is not None and not multiple:
        value = spec.default
    return FormField(
        name=name,
        label=label,
        type=spec.type,
        widget=widget,
        required=required,
        choices=choices,
        value=value,
        max_length=spec.max_length or (200 if kind == "string" else None),
        step="any" if kind == "float" else "1",
        error=error,
    )


def action_fields(
    d: Workflow,
    requires: list[str],
    accepts: list[str],
    *,
    directory: Directory,
    lang: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> list[FormField]:
    """The inputs of an action: required fields first, then optional ones."""
    values, errors = values or {}, errors or {}
    out = []
    for names, required in ((requires, True), (accepts, False)):
        for name in names:
            if name in d.fields:
                out.append(
                    form_field(
                        d,
                        name,
                        required=required,
                        directory=directory,
                        lang=lang,
                        value=values.get(name),
                        error=errors.get(name),
                    )
                )
    return out


def start_fields(
    d: Workflow,
    *,
    directory: Directory,
    lang: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> tuple[list[FormField], list[FormField]]:
    """The start form: (shown, folded). Shown: required fields, fields no transition asks
    for or sets, the field choosing the initial state, and file fields; folded: the rest
    that no transition sets (computed fields are never asked for)."""
    values, errors = values or {}, errors or {}
    asked: set[str] = set()
    set_by: set[str] = set()
    for tr in d.transitions:
        asked.update(tr.requires, tr.accepts)
        set_by.update(tr.set or {})
    initial_by = getattr(d.initial, "by", None)
    shown: list[FormField] = []
    folded: list[FormField] = []
    for name, spec in d.fields.items():
        if name in set_by and not spec.required:
            continue
        f = form_field(
            d,
            name,
            required=spec.required,
            directory=directory,
            lang=lang,
            value=values.get(name),
            error=errors.get(name),
        )
        primary = (
            spec.required
            or name == initial_by
            or spec.type in ("file", "files")
            or name not in asked
        )
        (shown if primary else folded).append(f)
    shown.sort(key=lambda f: not f.required)
    return shown, folded


def read(fields: list[FormField], form: Any, tz: tzinfo) -> dict[str, Any]:
    """The values a posted ``form`` gives ``fields`` (file inputs are the caller's): empty
    inputs are left out, so the engine applies defaults and names what is missing."""
    data: dict[str, Any] = {}
    for f in fields:
        if f.widget in ("file", "files"):
            continue
        if f.widget == "checkboxes" or (f.widget == "textarea" and f.type == "list"):
            raw = [str(v) for v in form.getlist(f.name) if isinstance(v, str)]
            if f.widget == "textarea":
                raw = [line for v in raw for line in v.splitlines()]
            items = [v.strip()[:MAX_VALUE] for v in raw if v.strip()]
            if items:
                data[f.name] = items
            continue
        value = form.get(f.name)
        if f.widget == "checkbox":
            if value is not None:
                data[f.name] = True
            continue
        if not isinstance(value, str) or not value.strip():
            continue
        text = value.strip()[:MAX_VALUE] if f.widget != "textarea" else value[:MAX_VALUE]
        if f.widget == "datetime":
            try:
                local = datetime.fromisoformat(text)
                text = (local if local.tzinfo else local.replace(tzinfo=tz)).isoformat()
            except ValueError:
                pass  # the engine refuses it, naming the field
        data[f.name] = text
    return data


def with_errors(
    fields: list[FormField], errors: dict[str, str], values: dict[str, Any]
) -> list[FormField]:
    """``fields`` showing what was posted and each field's error."""
    return [replace(f, value=values.get(f.name, f.value), error=errors.get(f.name)) for f in fields]


def duration_hint(lang: str) -> str:
    return t("duration_hint", lang)
