"""The calendar override file: local holidays, make-up days, and years the package lacks.

Read with PyYAML's composer so that every mistake keeps its line and column; a file with
mistakes is a ``DefinitionError`` listing every one of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from gridflow.domain.suggest import did_you_mean
from gridflow.errors import DefinitionError, Problem

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OVERRIDE_KEYS = ("years", "holidays", "workdays")


def _problem(file: str, node: yaml.Node | None, path: str, message: str) -> Problem:
    mark = node.start_mark if node is not None else None
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    return Problem(file=file, line=line, column=col, path=path, message=message)


@dataclass(frozen=True)
class CalendarOverrides:
    """Local calendar changes, usually read from YAML::

        years: [2027]            # years this file fully specifies (they count as covered)
        holidays:                # days off (also local changes in covered years)
          2027-01-01: 元旦
        workdays:                # make-up working days (调休), working even on a weekend
          2027-02-07: 春节调休

    Entries beat package data; for days without an entry the package (where it has the
    year) or the plain Monday–Friday rule applies. Listing a year in ``years`` is what marks
    it as covered: entries in an undeclared, package-less year still leave it provisional.
    """

    years: frozenset[int] = frozenset()
    holidays: Mapping[date, str | None] = field(default_factory=dict)
    workdays: Mapping[date, str | None] = field(default_factory=dict)
    source: str = "<overrides>"

    @classmethod
    def load(cls, path: str | Path) -> CalendarOverrides:
        """Read an override file; ``DefinitionError`` if it is missing or has mistakes."""
        from gridflow.domain.yamlsource import read_text

        file = str(path)
        try:
            text = read_text(path)
        except DefinitionError as exc:
            raise _prefixed(exc, "cannot read calendar override file") from None
        return cls.parse(text, file=file)

    @classmethod
    def parse(cls, text: str, file: str = "<string>") -> CalendarOverrides:
        """Parse override YAML (safely, with the caps of :mod:`~gridflow.domain.yamlsource`).
        Raises ``DefinitionError`` listing every problem, each located."""
        from gridflow.domain.yamlsource import compose

        try:
            root = compose(text, file)  # the caps of workflow files: size, depth, characters
        except DefinitionError as exc:
            raise _prefixed(exc, "not valid YAML") from None
        if root is None:
            return cls(source=file)
        parser = _OverrideParser(file)
        overrides = parser.parse(root)
        if parser.problems:
            raise DefinitionError(parser.problems)
        return overrides


class _OverrideParser:
    """Walks the composed YAML node tree so every mistake keeps its line and column."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node | None, path: str, message: str) -> None:
        self.problems.append(_problem(self.file, node, path, message))

    def parse(self, root: yaml.Node) -> CalendarOverrides:
        years: set[int] = set()
        days: dict[str, dict[date, str | None]] = {"holidays": {}, "workdays": {}}
        marks: dict[tuple[str, date], yaml.Node] = {}
        if not isinstance(root, yaml.MappingNode):
            self.fail(root, "", "expected a mapping with keys: years, holidays, workdays")
            return CalendarOverrides(source=self.file)
        seen: set[str] = set()
        for key_node, value in root.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in seen:
                self.fail(key_node, key, f"duplicate key {key!r}")
                continue
            seen.add(key)
            if key == "years":
                years |= self.years(value)
            elif key in days:
                self.days(value, key, days[key], marks)
            else:
                hint = did_you_mean(key, _OVERRIDE_KEYS)
                self.fail(
                    key_node, key, f"unknown key {key!r}{hint}; expected years, holidays, workdays"
                )
        for d in sorted(days["holidays"].keys() & days["workdays"].keys()):
            self.fail(
                marks["workdays", d],
                f"workdays.{d.isoformat()}",
                f"{d.isoformat()} is listed both as a holiday and as a workday",
            )
        return CalendarOverrides(
            years=frozenset(years),
            holidays=days["holidays"],
            workdays=days["workdays"],
            source=self.file,
        )

    def years(self, node: yaml.Node) -> set[int]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return set()
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        found: set[int] = set()
        for i, item in enumerate(items):
            path = f"years[{i}]" if isinstance(node, yaml.SequenceNode) else "years"
            text = item.value if isinstance(item, yaml.ScalarNode) else None
            if not (isinstance(text, str) and re.fullmatch(r"\d{4}", text.strip())):
                self.fail(item, path, f"expected a year like 2027, got {_show(item)}")
                continue
            found.add(int(text))
        return found

    def days(
        self,
        node: yaml.Node,
        section: str,
        out: dict[date, str | None],
        marks: dict[tuple[str, date], yaml.Node],
    ) -> None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, section, "expected a mapping of YYYY-MM-DD: name")
            return
        for key_node, value in node.value:
            raw = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else _show(key_node)
            path = f"{section}.{raw}"
            try:
                if not _DATE.match(raw):
                    raise ValueError("expected YYYY-MM-DD")
                d = date.fromisoformat(raw)
            except ValueError as exc:
                self.fail(key_node, path, f"{raw!r} is not a valid date ({exc})")
                continue
            if d in out:
                self.fail(key_node, path, f"{raw} is listed twice")
                continue
            if not isinstance(value, yaml.ScalarNode):
                self.fail(value, path, "expected a name (text), e.g. 元旦")
                continue
            out[d] = None if value.tag.endswith(":null") else str(value.value)
            marks[section, d] = key_node


def _prefixed(exc: DefinitionError, prefix: str) -> DefinitionError:
    return DefinitionError(
        [dataclasses.replace(p, message=f"{prefix}: {p.message}") for p in exc.problems]
    )


def _show(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


# --------------------------------------------------------------------------- settings helpers
