"""The sandbox every notice template runs in (its budget is in ``budget.py``).

Contract: a template is untrusted input. Whatever it does, it either renders within its budget
or fails with a ``GridflowError`` (via :func:`_translate`); it never reaches host internals and
never calls anything that is not allow-listed.

Security model:

* An ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``; autoescape for ``.html`` only.
* Attributes starting with ``_``, internals (frames, code, ``mro``, modules) and ``str.format`` /
  ``str.format_map`` are refused *at access time* (CVE-2024-56326, CVE-2025-27516 style
  indirections never get a callable to hold on to).
* Only an allow-list of callables may be called: macros, ``caller``/``super``/``loop``, the
  Jinja globals, read-only methods of ``str``/``list``/``dict``/``set``/``datetime``, and functions
  marked with :func:`template_callable`. Anything else in the context is inert data.
* Resource caps, per render: total output ``max_output`` (streamed; exceeding it raises
  :class:`TemplateLimitError` — nothing is truncated silently), every buffer (``{% set %}``
  blocks, macros, ``{% filter %}``) likewise; values built by ``*``, ``+``, ``~``, ``%``, ``**``,
  size-growing string methods and filters are capped at ``max_value``; ``range`` yields at most
  ``MAX_RANGE`` items; loop iterations plus calls are capped at ``max_steps``.

The budget (:mod:`~gridflow.domain.templates.budget`) of the current render is a
``_Budget`` installed in the ``_CURRENT`` context
variable by whoever streams the template (``renderer._render``, which also enforces the cap on
the streamed top-level output); outside a render a fresh default budget applies.

Every failure is a ``GridflowError``: :class:`TemplateSecurityError` (the sandbox refused),
:class:`TemplateLimitError` (a cap was hit), :class:`TemplateError` (undefined variable, type
error…), or ``DefinitionError`` for syntax errors — see :func:`_translate`.

Names with a leading underscore are internal to the ``gridflow.domain.templates`` package.
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import BlockReference, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, is_internal_attribute
from jinja2.utils import Cycler, Joiner

from gridflow.domain.templates.budget import (
    _CHARS_PER_STEP,
    _CONTAINERS,
    _SAFE_METHODS,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_VALUE,
    MAX_RANGE,
    Guard,
    _allow,
    _Budget,
    _budget,
    _check_binop,
    _check_value,
    _guard_filter,
    _LimitExceeded,
    _safe_lipsum,
    _safe_range,
    _size,
    template_callable,
)
from gridflow.errors import (
    DefinitionError,
    GridflowError,
    Problem,
    TemplateError,
    TemplateLimitError,
    TemplateSecurityError,
)

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_VALUE",
    "MAX_RANGE",
    "BudgetedSandbox",
    "Guard",
    "NoticeSandbox",
    "template_callable",
]

# ── the sandbox ─────────────────────────────────────────────────────────────────────────────


_LOOP_FILTER = "gridflow_counted"


_VERDICTS_MAX = 4096  # attribute verdicts kept per sandbox (types x names a template uses)


class _BoundedBuffer(list):
    """The buffer of ``{% set %}`` blocks, macros, filters: refuses to grow past max_output."""

    def __init__(self, limit: int):
        super().__init__()
        self._size, self._limit = 0, limit

    def append(self, item: Any) -> None:
        self._size += len(item) if isinstance(item, str) else 0
        if self._size > self._limit:
            raise _LimitExceeded(f"template output exceeds {self._limit} characters")
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)


class _BudgetedCodeGenerator(CodeGenerator):
    """Routes ``~``, loop iterables and output buffers through the sandbox's guards, and
    evaluates nothing while compiling: Jinja would otherwise call filters on constant
    arguments at compile time (``{{ [..]|sort }}``), outside any budget."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return str(super()._output_child_to_const(node, frame, finalize))

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.gf_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            func = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func = "markup_join"
        else:
            func = "str_join"
        self.write(f"environment.gf_concat({func}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):  # count iterations: `for x in (iter|_LOOP_FILTER)`
            it = loop.iter
            if not (isinstance(it, nodes.Filter) and it.name == _LOOP_FILTER):
                loop.iter = nodes.Filter(it, _LOOP_FILTER, [], [], None, None, lineno=it.lineno)
        super().visit_Template(node, frame)


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """The rules of the module docstring — attribute and call allow-lists, guarded ``*``,
    ``+``, ``%``, ``**``, ``~``, filters, loops and buffers, all charged to the budget in
    ``budget._CURRENT`` — with Jinja's optimizer off and no compile-time evaluation. Notice
    templates (:class:`NoticeSandbox`) and workflow expressions
    (:mod:`gridflow.domain.expressions`) both run in it."""

    code_generator_class = _BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, **options: Any):
        options.setdefault("undefined", jinja2.StrictUndefined)
        options.setdefault("finalize", self._checked_output)
        options["optimized"] = False  # the optimizer folds constants while compiling
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = self.gf_iter
        self._safe_globals = tuple(self.globals.values())
        self._attribute_verdicts: dict[tuple[type, str], bool] = {}

    def _checked_output(self, value: Any) -> Any:
        """Every ``{{ }}`` output: a container is weighed against the budget first."""
        if isinstance(value, _CONTAINERS):
            _check_value(value, _budget(), "an output value")
        return value

    # attribute access: refuse, never hand out an "unsafe undefined"
    def _refuse_attribute(self, obj: Any, attr: str) -> None:
        raise SecurityError(
            f"access to attribute {attr!r} of {type(obj).__name__!r} object is not allowed"
        )

    def _checked(self, obj: Any, attr: str, value: Any) -> Any:
        """``value`` (``obj.attr``) when the sandbox lets a template have it. Whether an
        attribute is internal, mutating or ``str.format`` depends only on the type of
        ``obj`` and the name (Jinja's checks look at nothing else), so that verdict is kept
        per (type, name); a module value is refused whatever it came from."""
        key = (type(obj), attr)
        allowed = self._attribute_verdicts.get(key)
        if allowed is None:
            allowed = not (
                is_internal_attribute(obj, attr)
                or (attr in ("format", "format_map") and isinstance(obj, str))
                or not self.is_safe_attribute(obj, attr, value)
            )
            if len(self._attribute_verdicts) < _VERDICTS_MAX:
                self._attribute_verdicts[key] = allowed
        if not allowed or isinstance(value, types.ModuleType):
            self._refuse_attribute(obj, attr)
        return value

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute.startswith("_"):
            self._refuse_attribute(obj, attribute)
        try:
            value = getattr(obj, attribute)
        except AttributeError:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        return self._checked(obj, attribute, value)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_") and not isinstance(obj, Mapping):
            self._refuse_attribute(obj, argument)
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                if argument.startswith("_"):
                    self._refuse_attribute(obj, argument)
                try:
                    value = getattr(obj, argument)
                except AttributeError:
                    pass
                else:
                    return self._checked(obj, argument, value)
        return self.undefined(obj=obj, name=argument)

    def wrap_str_format(self, value: Any) -> None:  # never reached; refused in _checked
        return None

    # calls: allow-list only
    def _call_guard(self, obj: Any) -> Guard | None:
        if isinstance(obj, (Undefined, Macro, BlockReference, LoopContext, Cycler, Joiner)):
            return _allow
        if any(obj is g for g in self._safe_globals):
            return _allow
        if getattr(obj, "gridflow_template_safe", False) is True:
            return _allow
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", None)
        if not isinstance(
            obj, (types.BuiltinMethodType, types.MethodType, types.MethodWrapperType)
        ) or not isinstance(name, str):
            return None
        if isinstance(owner, (Cycler, Joiner, LoopContext)) and not name.startswith("_"):
            return _allow
        for kinds, table in _SAFE_METHODS:
            if isinstance(owner, kinds) and name in table:
                return table[name]
        return None

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        b = _budget()
        guard = __self._call_guard(__obj)
        if guard is None:
            raise SecurityError(f"calling {__obj!r} is not allowed in notice templates")
        owner = getattr(__obj, "__self__", None)
        work = sum(_size(v, b) for v in (owner, *args, *kwargs.values()))
        b.charge(1 + work // _CHARS_PER_STEP)
        args, kwargs = guard(b, owner, args, kwargs)
        return __context.call(__obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right, _budget())
        try:
            return self.binop_table[operator](left, right)
        except OverflowError as err:
            raise _LimitExceeded(f"numeric overflow: {err}") from None

    # hooks used by the generated code
    def gf_buffer(self) -> _BoundedBuffer:
        return _BoundedBuffer(_budget().max_output)

    def gf_concat(self, join: Callable[[Iterable[Any]], str], items: tuple) -> str:
        b = _budget()
        b.check(sum(_size(i, b) for i in items), "a ~ concatenation")
        return join(items)

    def gf_iter(self, iterable: Any) -> Any:
        if isinstance(iterable, Undefined):
            return iterable
        b = _budget()
        if isinstance(iterable, Sized):
            b.charge(len(iterable))
            return iterable
        return self._counted(iterable, b)

    @staticmethod
    def _counted(iterable: Iterable[Any], b: _Budget) -> Iterator[Any]:
        for item in iterable:
            b.charge(1)
            yield item


class NoticeSandbox(BudgetedSandbox):
    """The sandbox every notice template runs in (see the module docstring for the rules):
    ``range`` and ``lipsum`` capped, blocks trimmed, ``None`` printed as nothing."""

    def __init__(self, **options: Any):
        options.setdefault("trim_blocks", True)
        options.setdefault("lstrip_blocks", True)
        super().__init__(finalize=self._finalize, **options)
        self.globals["range"] = _safe_range
        self.globals["lipsum"] = _safe_lipsum
        self._safe_globals = tuple(self.globals.values())

    def _finalize(self, value: Any) -> Any:
        return "" if value is None else self._checked_output(value)


# ── error translation ───────────────────────────────────────────────────────────────────────


def _template_location(exc: BaseException, fallback: str | None) -> tuple[str | None, int]:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if name == "<template>" or name.endswith((".txt", ".html")):
            return name, frame.lineno or 0
    return fallback, 0


def _translate(
    exc: Exception, file: str | None, shown: Callable[[str], str] | None = None
) -> GridflowError:
    """Map anything raised while rendering to a GridflowError, located when possible.
    ``shown`` turns a template's file path into the name errors give it (the renderer's:
    relative to its root, so no notice or log names the server's folders)."""
    if isinstance(exc, GridflowError):
        return exc
    show = shown or (lambda path: path)
    if isinstance(exc, TemplateSyntaxError):
        origin = show(exc.filename or exc.name or file or "<template>")
        return DefinitionError([Problem(origin, exc.lineno or 1, 1, "template", exc.message or "")])
    where, line = _template_location(exc, file)
    where = show(where) if where else where
    if isinstance(exc, _LimitExceeded):
        err: GridflowError = TemplateLimitError(str(exc), file=where, line=line)
    elif isinstance(exc, SecurityError):
        err = TemplateSecurityError(f"refused by the sandbox: {exc}", file=where, line=line)
    elif isinstance(exc, RecursionError | MemoryError):
        err = TemplateLimitError(
            f"{type(exc).__name__}: recursion or memory limit", file=where, line=line
        )
    elif isinstance(exc, UndefinedError):
        err = TemplateError(f"undefined: {exc}", file=where, line=line)
    elif isinstance(exc, jinja2.TemplateNotFound):
        err = TemplateError(f"referenced template not found: {exc.name}", file=where, line=line)
    else:
        err = TemplateError(f"{type(exc).__name__}: {exc}", file=where, line=line)
    err.__cause__ = exc
    return err
