"""Typed case fields: turning what a person or app supplied into JSON-native case data.

Case data is always JSON-native (str, int, float, bool, None, lists): dates are ISO
strings, so the database, guards and templates all see the same thing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from gridflow.domain.definition import FieldDef
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import FieldValueError

_TRUE = {"true", "yes", "y", "1", "on", "是"}
_FALSE = {"false", "no", "n", "0", "off", "否"}


def coerce(name: str, spec: FieldDef, value: Any, units: dict | None = None) -> Any:
    """``value`` as field ``name`` of type ``spec`` wants it, or ``FieldValueError``.

    ``units`` (id → Unit) checks unit references when given.
    """
    if value is None:
        return None
    if spec.type == "files":  # attachments: ids of uploaded files (see service.files)
        refs = value if isinstance(value, (list, tuple)) else [value]
        return [_file_ref(name, v) for v in refs]
    if spec.type == "list":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise FieldValueError(f"{name}: expected a list, got {value!r}")
        item_spec = FieldDef(type=spec.items, values=spec.values, kind=spec.kind)
        return [
            _scalar(name, item_spec, v.strip() if isinstance(v, str) else v, units)
            for v in items
            if not (isinstance(v, str) and not v.strip())
        ]
    return _scalar(name, spec, value, units)


def _scalar(name: str, spec: FieldDef, value: Any, units: dict | None) -> Any:
    t = spec.type
    try:
        if t in ("string", "text"):
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise FieldValueError(f"{name}: expected text, got {value!r}")
            text = str(value)
            limit = spec.max_length or (200 if t == "string" else 20_000)
            if len(text) > limit:
                raise FieldValueError(f"{name}: longer than {limit} characters")
            return text
        if t == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if t == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if t == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in _TRUE | _FALSE:
                return word in _TRUE
            raise ValueError
        if t == "date":
            if isinstance(value, datetime):
                return value.date().isoformat()
            return (
                value.isoformat()
                if isinstance(value, date)
                else date.fromisoformat(str(value)).isoformat()
            )
        if t == "datetime":
            dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()
        if t == "duration":
            from gridflow.domain.duration import Duration

            try:
                return str(Duration.parse(str(value)))
            except ValueError as exc:
                raise FieldValueError(f"{name}: {exc}") from None
        if t == "enum":
            text = str(value)
            if text not in (spec.values or []):
                hint = did_you_mean(text, spec.values or [])
                raise FieldValueError(
                    f"{name}: {text!r} is not one of {', '.join(spec.values or [])}{hint}"
                )
            return text
        if t == "file":
            return _file_ref(name, value)
        if t in ("unit", "person"):
            text = str(value)
            if t == "unit" and units is not None:
                unit = units.get(text)
                if unit is None:
                    raise FieldValueError(f"{name}: no unit {text!r}{did_you_mean(text, units)}")
                if spec.kind and unit.kind != spec.kind:
                    raise FieldValueError(f"{name}: {text!r} is a {unit.kind}, not a {spec.kind}")
            return text
    except FieldValueError:
        raise
    except (ValueError, TypeError):
        raise FieldValueError(f"{name}: {value!r} is not a valid {t}") from None
    raise FieldValueError(f"{name}: unknown type {t}")


FILE_REF = re.compile(r"^f_[A-Za-z0-9_-]{8,64}$")  # an uploaded file's id


def _file_ref(name: str, value: Any) -> str:
    """An uploaded file's id (``f_…``); whether it exists is the service's to check."""
    if not isinstance(value, str) or not FILE_REF.match(value):
        raise FieldValueError(f"{name}: {value!r} is not an uploaded file's id (f_…)")
    return value


def defaults(fields: dict[str, FieldDef]) -> dict[str, Any]:
    """Every declared field with its default (None when it has none): guards can rely on keys."""
    return {
        name: (list(spec.default) if isinstance(spec.default, list) else spec.default)
        if spec.default is not None
        else ([] if spec.type in ("list", "files") else None)
        for name, spec in fields.items()
    }
