"""Guard expressions and computed values, evaluated in Jinja's sandbox.

YAML never names Python code. A guard (``when``, ``checks[].that``, ``spawn.for_each``) is a
Jinja *expression* (``data.reworks >= 2``); a value in ``set`` is a literal, or a string that
is wholly ``{{ expression }}`` (a native value), or a string containing ``{{ }}`` (rendered
text). Everything runs in an ``ImmutableSandboxedEnvironment``: no attribute walks to
dunders, no mutation of the case data, capped ranges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from gridflow.errors import ExpressionError

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
MAX_SOURCE = 2_000


def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()  # no range/lipsum/cycler/joiner/namespace/dict in guards
    return env


_ENV = _env()


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression. ``names`` are the top-level variables it reads."""

    source: str
    names: frozenset[str]
    attrs: frozenset[tuple[str, str]]  # (variable, attribute) pairs read, e.g. ("data", "x")
    _fn: Any
    native: bool = True  # False: a text template rendered to str

    def __call__(self, context: Mapping[str, Any]) -> Any:
        try:
            return self._fn(**context) if self.native else self._fn.render(**context)
        except SecurityError as exc:
            raise ExpressionError(
                f"{self.source!r} refused by the sandbox: {exc}", self.source
            ) from None
        except UndefinedError as exc:
            raise ExpressionError(f"{self.source!r}: {exc.message}", self.source) from None
        except Exception as exc:  # arithmetic on None, bad comparisons, …: a person's mistake
            raise ExpressionError(f"{self.source!r} failed: {exc}", self.source) from None


def _analyse(template_source: str, source: str) -> tuple[frozenset[str], frozenset]:
    try:
        tree = _ENV.parse(template_source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not compile: {exc.message}", source) from None
    names = frozenset(meta.find_undeclared_variables(tree))
    attrs = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, (nodes.Getattr, nodes.Getitem))
        if isinstance(node.node, nodes.Name):
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                attrs.add((node.node.name, key))
    return names, frozenset(attrs)


def compile_expression(source: str) -> Expression:
    """Compile a guard/for_each expression. Raises ``ExpressionError`` with Jinja's reason."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression longer than {MAX_SOURCE} characters", source)
    names, attrs = _analyse("{{ (" + source + ") }}", source)
    try:
        fn = _ENV.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not compile: {exc.message}", source) from None
    return Expression(source, names, attrs, fn)


def compile_value(value: Any) -> Any:
    """A ``set`` value: literals stay literals; ``{{ }}`` strings become Expressions."""
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    whole = _WHOLE.match(value)
    if whole and "}}" not in whole.group(1):
        return compile_expression(whole.group(1).strip())
    names, attrs = _analyse(value, value)
    try:
        template = _ENV.from_string(value)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not compile: {exc.message}", value) from None
    return Expression(value, names, attrs, template, native=False)


def evaluate(value: Any, context: Mapping[str, Any]) -> Any:
    """The value of a compiled ``set`` entry (literal or Expression)."""
    return value(context) if isinstance(value, Expression) else value
