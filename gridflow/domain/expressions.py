"""Guard expressions and computed values, evaluated in the budgeted sandbox of the notices.

YAML never names Python code. A guard (``when``, ``checks[].that``, ``spawn.for_each``) is a
Jinja *expression* (``data.reworks >= 2``); a value in ``set`` (and a ``checks`` message, an
``sla.due``, ``extend_clock``) is a literal, or a string that is wholly ``{{ expression }}``
(a native value), or a string containing ``{{ }}`` / ``{% %}`` (rendered text).

One evaluator, one budget: everything runs in
:class:`~gridflow.domain.templates.sandbox.BudgetedSandbox` — the sandbox notice templates
run in — with no globals (no ``range``, ``lipsum``, ``namespace``), ``StrictUndefined``, no
attribute or item whose name starts with ``_``, an allow-list of callable methods, and a
resource budget (:data:`EXPRESSION_BUDGET`): values built by ``*``, ``+``, ``~``, ``%``,
``**``, ``|format``, ``|center``, ``join`` … are weighed before they are built (at most
``max_value`` characters, integers of at most 65,536 bits), loop iterations and calls (macros
too) are counted against ``max_steps``, rendered text is capped at ``max_output``.

Contract:

* Compiling (:func:`compile_expression`, :func:`compile_value`) never evaluates anything
  outside the budget: Jinja's optimizer is off, and the constant parts of an expression
  (``9**99999999``, ``'a'*10**9``, ``(['b','a']*5*10**6)|sort``) are evaluated *in the
  sandbox, under the budget* — an expression whose constant part is over the budget, is
  refused by the sandbox, or always fails, does not compile. A syntax error says where in
  the author's own text it is (``ExpressionError.offset``, a character index into the
  source), and names the author's token.
* Evaluating (``Expression.__call__``) returns a plain value or raises ``ExpressionError`` —
  never a Jinja exception, never an ``Undefined``. Every evaluation charges the budget of
  the current *scope* (:func:`evaluation_budget`): the engine opens one per decision
  (:func:`budgeted`), so all the guards, checks and values of one event share one budget
  and an event costs at most ``max_steps`` steps, whatever its workflow says.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.lexer import TOKEN_EOF, TokenStream
from jinja2.parser import Parser
from jinja2.runtime import Undefined

from gridflow.domain.templates.budget import _CURRENT, _Budget, _LimitExceeded
from gridflow.domain.templates.sandbox import BudgetedSandbox
from gridflow.errors import ExpressionError

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
MAX_SOURCE = 2_000


@dataclass(frozen=True)
class ExpressionBudget:
    """What one decision (all its guards, checks and values) may cost."""

    max_steps: int = 20_000  # loop iterations + calls + filter work
    max_value: int = 100_000  # characters any one built value may hold
    max_output: int = 20_000  # characters of rendered text (a ``text`` field's cap)

    def new(self) -> _Budget:
        return _Budget(self.max_output, self.max_value, self.max_steps)


EXPRESSION_BUDGET = ExpressionBudget()


class _ExpressionSandbox(BudgetedSandbox):
    """The notices' sandbox, with no globals at all and text rendered as Jinja does
    (``None`` prints as ``None``, blocks untrimmed: values keep what they were)."""

    def __init__(self) -> None:
        super().__init__(autoescape=False)
        self.globals.clear()  # no range/lipsum/cycler/joiner/namespace/dict in guards
        self._safe_globals = ()


_ENV = _ExpressionSandbox()


# ── the budget scope ────────────────────────────────────────────────────────────────────────


@contextmanager
def evaluation_budget(budget: ExpressionBudget = EXPRESSION_BUDGET) -> Iterator[_Budget]:
    """A budget for the evaluations inside the block; inside another scope (of a notice
    render or a decision), that one goes on being charged."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    fresh = budget.new()
    token = _CURRENT.set(fresh)
    try:
        yield fresh
    finally:
        _CURRENT.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def budgeted(func: F) -> F:
    """Decorator: ``func`` (a decision) runs in one :func:`evaluation_budget`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with evaluation_budget():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ── compiled expressions ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression. ``names`` are the top-level variables it reads."""

    source: str
    names: frozenset[str]
    attrs: frozenset[tuple[str, str]]  # (variable, attribute) pairs read, e.g. ("data", "x")
    _fn: Any
    native: bool = True  # False: a text template rendered to str

    def __call__(self, context: Mapping[str, Any]) -> Any:
        budget, token = _CURRENT.get(), None  # the decision's (the usual case), or its own
        if budget is None:
            budget = EXPRESSION_BUDGET.new()
            token = _CURRENT.set(budget)
        try:
            value = self._fn(**context) if self.native else _render(self._fn, context, budget)
        except ExpressionError:
            raise
        except Exception as exc:  # every failure is the author's or the data's
            raise _failure(self.source, exc) from None
        finally:
            if token is not None:
                _CURRENT.reset(token)
        if isinstance(value, Undefined):
            raise ExpressionError(f"{self.source!r}: {_undefined_reason(value)}", self.source)
        return value


def _render(template: Any, context: Mapping[str, Any], budget: _Budget) -> str:
    """A text value, streamed: its output may not pass ``budget.max_output``."""
    parts, size = [], 0
    for chunk in template.root_render_func(template.new_context(dict(context))):
        size += len(chunk)
        if size > budget.max_output:
            raise _LimitExceeded(f"text longer than {budget.max_output} characters")
        parts.append(chunk)
    return "".join(parts)


def _undefined_reason(value: Undefined) -> str:
    try:
        bool(value)  # StrictUndefined says what was undefined; a sandbox refusal says why
    except SecurityError as exc:
        return f"refused by the sandbox: {exc}"
    except UndefinedError as exc:
        return exc.message or "undefined"
    return "undefined"


def _failure(source: str, exc: BaseException) -> ExpressionError:
    if isinstance(exc, _LimitExceeded):
        return ExpressionError(f"{source!r} is over its budget: {exc}", source)
    if isinstance(exc, SecurityError):
        return ExpressionError(f"{source!r} refused by the sandbox: {exc}", source)
    if isinstance(exc, UndefinedError):
        return ExpressionError(f"{source!r}: {exc.message}", source)
    if isinstance(exc, RecursionError | MemoryError):
        return ExpressionError(f"{source!r} is over its budget: too deep or too big", source)
    # arithmetic on None, bad comparisons, …: a person's mistake
    return ExpressionError(f"{source!r} failed: {type(exc).__name__}: {exc}", source)


# ── parsing, located in the author's text ───────────────────────────────────────────────────


def _parse(source: str, state: str | None, base: int = 0) -> nodes.Node:
    """Parse ``source`` as an expression (``state="variable"``) or a template (None). A
    syntax error is an ``ExpressionError`` whose ``offset`` is where in ``source`` (plus
    ``base``) the offending token starts, and whose message quotes it."""
    lexer = _ENV.lexer
    where = {"pos": 0, "last": 0, "lexer": 0}
    offsets: dict[int, tuple[Any, int]] = {}

    def raw() -> Iterator[tuple[int, str, str]]:
        try:
            for lineno, kind, value in lexer.tokeniter(source, None, None, state):
                found = source.find(value, where["pos"]) if value else -1
                start = found if found >= 0 else where["pos"]
                where["last"], where["pos"] = start, start + len(value)
                yield lineno, kind, value
        except TemplateSyntaxError:
            where["lexer"] = 1  # stopped at text it could not read: just after the last token
            raise
        where["last"] = len(source)

    def tokens() -> Iterator[Any]:
        for token in lexer.wrap(raw(), None, None):
            offsets[id(token)] = (token, where["last"])
            yield token

    parser = Parser(_ENV, "", state=state)
    try:
        parser.stream = TokenStream(tokens(), None, None)  # reads the first token
        if state is None:
            tree: nodes.Node = parser.parse()
        else:
            tree = parser.parse_expression()
            if not parser.stream.eos:
                extra = parser.stream.current.value
                hint = " (did you mean '=='?)" if extra == "=" else ""
                parser.fail(f"unexpected {extra!r} after a complete expression{hint}")
    except TemplateSyntaxError as exc:
        current = parser.stream.current
        known = offsets.get(id(current))
        if where["lexer"]:
            offset = _skip_space(source, where["pos"])
        elif known is not None and known[0] is current:
            offset = known[1]
        elif current.type == TOKEN_EOF:
            offset = len(source)
        else:
            offset = where["pos"]
        message = f"does not compile: {_syntax_message(exc, source, offset)}"
        raise ExpressionError(message, source, offset=base + offset) from None
    tree.set_environment(_ENV)
    return tree


def _skip_space(source: str, pos: int) -> int:
    while pos < len(source) and source[pos].isspace():
        pos += 1
    return pos


# Jinja names some tokens by what they do; the author wrote the characters
_TOKEN_WORDS = {
    "'end of print statement'": "'}}'",
    "'begin of print statement'": "'{{'",
    "'end of statement block'": "'%}'",
    "'begin of statement block'": "'{%'",
}


def _syntax_message(exc: TemplateSyntaxError, source: str, offset: int) -> str:
    message = (exc.message or "syntax error").rstrip(".")
    message = re.sub(r"unexpected char (.+?) at \d+", r"unexpected character \1", message)
    for word, text in _TOKEN_WORDS.items():
        message = message.replace(word, text)
    ending = re.search(r"'?end of template'?[.,]?\s*", message, re.I)
    if ending is not None:
        rest = message[ending.end() :].replace("Jinja was looking for the following tags:", "")
        rest = rest.split(". The innermost", 1)[0].strip(" .")
        message = "it ends too soon" + (f" ({rest})" if rest else "")
    if offset >= len(source.rstrip()):
        near = source.rstrip()[-12:]
        return f"{message}, after {near!r}" if near else message
    return f"{message}, at {source[offset : offset + 12]!r}"


# ── static checks: names starting with "_", constant parts under the budget ─────────────────

_VARIABLE = (
    nodes.Name,
    nodes.ContextReference,
    nodes.DerivedContextReference,
    nodes.InternalName,
    nodes.ImportedName,
)


def _refuse_private(tree: nodes.Node, source: str, base: int) -> None:
    """Refuse ``x.__class__``, ``x['_y']`` … while compiling, at the first in the text."""
    found = []
    for node in (tree, *tree.find_all((nodes.Getattr, nodes.Getitem))):
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str) and key.startswith("_"):
                found.append((source.find(key) % (len(source) + 1), key))
    if found:
        at, key = min(found)
        raise ExpressionError(
            f"refused: {key!r} — names starting with '_' are internal and never allowed",
            source,
            offset=base + at,
        )


def _constant_parts(node: nodes.Node) -> Iterator[nodes.Expr]:
    """The largest sub-expressions that read no variable and are more than a literal."""
    if (
        isinstance(node, nodes.Expr)
        and not isinstance(node, _VARIABLE)
        and getattr(node, "node", True) is not None  # a {% filter %} block's filter
        and not any(True for _ in node.find_all(_VARIABLE))
        and not _literal(node)
    ):
        yield node
        return
    for child in node.iter_child_nodes():
        yield from _constant_parts(child)


def _literal(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const | nodes.TemplateData):
        return True
    if isinstance(node, nodes.List | nodes.Tuple):
        return all(_literal(item) for item in node.items)
    if isinstance(node, nodes.Dict):
        return all(_literal(p.key) and _literal(p.value) for p in node.items)
    return False


def _check_constants(tree: nodes.Node, source: str, base: int) -> None:
    """Evaluate each constant part in the sandbox, under the budget: Jinja would have
    folded it while compiling (unbounded); here one that is over the budget, refused, or
    bound to fail is a compile error."""
    with evaluation_budget():
        for part in _constant_parts(tree):
            try:
                _compile_native(part)()
            except Exception as exc:
                reason = str(_failure(source, exc)).removeprefix(repr(source)).lstrip(" :")
                raise ExpressionError(
                    f"refused: a constant part of the expression {reason}",
                    source,
                    offset=base,
                ) from None


def _compile_native(expr: nodes.Expr) -> TemplateExpression:
    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=expr.lineno or 1)]
    template = _ENV.from_string(nodes.Template(body, lineno=1))
    return TemplateExpression(template, undefined_to_none=False)


def _analyse(tree: nodes.Node) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    if not isinstance(tree, nodes.Template):
        tree = nodes.Template([nodes.Output([tree])], lineno=1)
        tree.set_environment(_ENV)
    names = frozenset(meta.find_undeclared_variables(tree))
    attrs = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if isinstance(node.node, nodes.Name):
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                attrs.add((node.node.name, key))
    return names, frozenset(attrs)


# ── compiling ───────────────────────────────────────────────────────────────────────────────


def compile_expression(source: str, *, base: int = 0) -> Expression:
    """Compile a guard/for_each expression, or raise ``ExpressionError`` (with ``offset``:
    where in the text, plus ``base``, the problem is)."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {source!r}", str(source))
    if len(source) > MAX_SOURCE:
        raise ExpressionError(
            f"expression longer than {MAX_SOURCE} characters", source[:100], offset=base
        )
    expr = _parse(source, "variable", base)
    assert isinstance(expr, nodes.Expr)
    _refuse_private(expr, source, base)
    _check_constants(expr, source, base)
    names, attrs = _analyse(expr)
    return Expression(source, names, attrs, _compile_native(expr))


def compile_value(value: Any) -> Any:
    """A ``set`` value: literals stay literals; ``{{ }}`` strings become Expressions."""
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    whole = _WHOLE.match(value)
    if whole and "}}" not in whole.group(1):
        inner = whole.group(1)
        start = whole.start(1) + len(inner) - len(inner.lstrip())
        try:
            return compile_expression(inner.strip(), base=start)
        except ExpressionError as exc:
            exc.source = value
            raise
    if len(value) > MAX_SOURCE:
        raise ExpressionError(f"template longer than {MAX_SOURCE} characters", value[:100])
    tree = _parse(value, None)
    _refuse_private(tree, value, 0)
    _check_constants(tree, value, 0)
    names, attrs = _analyse(tree)
    assert isinstance(tree, nodes.Template)
    return Expression(value, names, attrs, _ENV.from_string(tree), native=False)


def evaluate(value: Any, context: Mapping[str, Any]) -> Any:
    """The value of a compiled ``set`` entry (literal or Expression)."""
    return value(context) if isinstance(value, Expression) else value
