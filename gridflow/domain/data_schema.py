"""The JSON Schema of a workflow's case data (pure domain): what an app may send as
``data`` when it starts a case or fires an event, field by field."""

from __future__ import annotations

from typing import Any

from gridflow.domain.definition import DURATION_PATTERN, FieldDef, Workflow

FILE_PATTERN = r"^f_[A-Za-z0-9_-]{8,64}$"


def field_schema(f: FieldDef, item: str | None = None) -> dict[str, Any]:
    """One field's JSON Schema (``item``: the element type of a list)."""
    kind = item or f.type
    out: dict[str, Any]
    if kind in ("string", "text"):
        out = {"type": "string", "maxLength": f.max_length or (200 if kind == "string" else 20000)}
    elif kind == "int":
        out = {"type": "integer"}
    elif kind == "float":
        out = {"type": "number"}
    elif kind == "bool":
        out = {"type": "boolean"}
    elif kind == "date":
        out = {"type": "string", "format": "date"}
    elif kind == "datetime":
        out = {"type": "string", "format": "date-time"}
    elif kind == "duration":
        out = {"type": "string", "pattern": DURATION_PATTERN}
    elif kind == "enum":
        out = {"type": "string", "enum": list(f.values or [])}
    elif kind == "list":
        out = {"type": "array", "items": field_schema(f, f.items or "string")}
    elif kind == "file":
        out = {"type": "string", "pattern": FILE_PATTERN, "description": "an uploaded file's id"}
    elif kind == "files":
        out = {"type": "array", "items": {"type": "string", "pattern": FILE_PATTERN}}
    elif kind == "unit":
        out = {"type": "string", "description": f"a unit id{f' ({f.kind})' if f.kind else ''}"}
    else:  # person
        out = {"type": "string", "description": "a person id"}
    if f.label is not None and item is None:
        out["title"] = f.label.zh
        if f.label.en:
            out["description"] = f.label.en
    return out


def data_schema(d: Workflow) -> dict[str, Any]:
    """The case data of workflow ``d``: an object of its fields (those ``required`` must be
    given when a case starts)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": d.title.zh,
        "type": "object",
        "properties": {name: field_schema(f) for name, f in d.fields.items()},
        "required": [name for name, f in d.fields.items() if f.required],
        "additionalProperties": False,
    }
