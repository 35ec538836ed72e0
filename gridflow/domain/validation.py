"""Loading, stage 2: the parsed YAML against the format's models, every problem located.

Entry by entry (roles, fields, states, each transition, and in ``kpis:`` each section and
each figure), so one bad entry does not hide the problems of the rest; pydantic's errors
become ``Problem``s at the YAML path of the offending value, with a did-you-mean hint for
unknown keys and values. The names of the broken entries go on to the graph checks, which
count them as known (one mistake, one problem).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from gridflow.domain import definition as d
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.yamlsource import Located
from gridflow.errors import Problem

_SECTIONS = (("roles", d.Role), ("fields", d.FieldDef), ("states", d.State))


def validate_workflow(located: Located):
    """Validate section by section, so one bad state does not hide the graph checks of the
    rest. Returns (workflow or None, problems, names of broken entries, transition index map).
    """
    raw = located.value
    if not isinstance(raw, dict):
        return None, [located.problem((), "a workflow file is a mapping of keys")], {}, []
    problems: list[Problem] = []
    broken: dict[str, set[str]] = {name: set() for name, _ in _SECTIONS}
    clean = dict(raw)
    for section, model in _SECTIONS:
        items = raw.get(section)
        if not isinstance(items, dict):
            continue
        good = {}
        for name, item in items.items():
            _, found = validate_model(located, model, item, (section, name))
            if not re.match(d.NAME, name):
                found.append(
                    located.problem((section, name), f"{name!r} is not a lower_snake_case name")
                )
            if found:
                broken[section].add(name)
                problems += found
            else:
                good[name] = item
        clean[section] = good
    index_map: list[int] = []
    if isinstance(raw.get("transitions"), list):
        good_t = []
        for i, item in enumerate(raw["transitions"]):
            _value, found = validate_model(located, d.Transition, item, ("transitions", i))
            problems += found
            if not found:
                good_t.append(item)
                index_map.append(i)
        clean["transitions"] = good_t
    if isinstance(raw.get("kpis"), dict):
        clean["kpis"], found, broken["kpis"] = _kpis(located, raw["kpis"])
        problems += found
    model, found = validate_model(located, d.Workflow, clean)
    problems += found
    return model, problems, broken, index_map


def _kpis(located: Located, raw: dict[str, Any]) -> tuple[dict[str, Any], list[Problem], set[str]]:
    """The ``kpis:`` block with its broken sections and figures left out; their problems;
    the broken figures as ``section.figure`` (a broken section as ``section.*``)."""
    from gridflow.domain.kpi_spec import Figure, KpiSpec, Section

    problems: list[Problem] = []
    broken: set[str] = set()
    clean = dict(raw)
    sections = raw.get("sections")
    if isinstance(sections, dict):
        good_sections = {}
        for sid, section in sections.items():
            base = ("kpis", "sections", sid)
            if isinstance(section, dict) and isinstance(section.get("figures"), dict):
                figures = {}
                for key, figure in section["figures"].items():
                    _, found = validate_model(located, Figure, figure, (*base, "figures", key))
                    if found:
                        problems += found
                        broken.add(f"{sid}.{key}")
                    else:
                        figures[key] = figure
                section = {**section, "figures": figures}
            _, found = validate_model(located, Section, section, base)
            if found:
                problems += found
                broken.add(f"{sid}.*")
            else:
                good_sections[sid] = section
        clean["sections"] = good_sections
    _, found = validate_model(located, KpiSpec, clean, ("kpis",))
    if found:  # a bad key of the block itself: the block is left out
        problems += found
        return {}, problems, broken | {"*"}
    return clean, problems, broken


def validate_model(located: Located, model: type[BaseModel], value: Any = None, prefix: tuple = ()):
    """Validate ``value`` (default: the document) against a pydantic model; errors become
    located Problems under ``prefix``."""
    value = located.value if value is None and not prefix else value
    try:
        return model.model_validate(value), []
    except ValidationError as exc:
        problems, seen = [], set()
        for err in exc.errors(include_url=False):
            path = prefix + _data_path(value, err["loc"])
            message = _message(err, path[len(prefix) :], value, model)
            key = (path, message)
            if key not in seen:
                seen.add(key)
                problems.append(located.problem(path, message))
        return None, _drop_union_noise(problems)


def _data_path(value: Any, loc: Iterable) -> tuple:
    """Pydantic's loc, keeping only the parts that exist in the data (drops union tags)."""
    path, cur = [], value
    for part in loc:
        inside = (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and part < len(cur)
        )
        if inside:
            path.append(part)
            cur = cur[part]
        elif (
            isinstance(cur, dict)
            and isinstance(part, str)
            and part not in cur
            and part not in ("str", "int", "list[str]", "dict[str,str]")
            and "[" not in part
            and not part[:1].isupper()
            and not part.startswith("function")
        ):
            path.append(part)  # a missing key: point at its would-be place
            break
    return tuple(path)


def _message(err: Mapping[str, Any], path: tuple, value: Any, model: type[BaseModel]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        known = _fields_at(model, path[:-1], value)
        return f"unknown key {path[-1]!r}{did_you_mean(str(path[-1]), known)}"
    if kind == "missing":
        return f"missing required key {err['loc'][-1]!r}"
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        got = err.get("input")
        return f"{got!r} is not allowed; expected {allowed}" + did_you_mean(
            str(got), [a.strip(" '") for a in str(allowed).replace(" or ", ",").split(",")]
        )
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} is not a lower_snake_case name"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "greater_than_equal":
        return f"must be at least {err.get('ctx', {}).get('ge')} (got {err.get('input')!r})"
    return msg


def _drop_union_noise(problems: list[Problem]) -> list[Problem]:
    """Where one path got several messages (union members), keep the most specific ones."""
    by_path: dict[str, list[Problem]] = {}
    for p in problems:
        by_path.setdefault(p.path, []).append(p)
    out = []
    for group in by_path.values():
        if len(group) > 1:
            group = [
                p for p in group if not p.message.startswith(("Input should be a valid",))
            ] or group[:1]
        out.extend(group)
    return out


def _fields_at(model: type[BaseModel], path: tuple, value: Any) -> list[str]:
    """Field names (aliases) allowed at ``path`` inside ``model``, best effort."""
    import typing

    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if info is None:
                return []
            current = info.annotation
        # unwrap list[...], dict[str, X], Optional/Union to the first model class inside
        for _ in range(4):
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            args = [
                a
                for a in typing.get_args(current)
                if isinstance(a, type) and issubclass(a, BaseModel)
            ] or [a for a in typing.get_args(current) if typing.get_args(a)]
            if not args:
                break
            current = args[-1]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


# ---- stage 3: graph checks and compilation ----------------------------------------------
