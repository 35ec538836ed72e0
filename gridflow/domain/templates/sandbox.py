"""The sandbox every notice template runs in, and the per-render resource budget.

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

The budget of the current render is a :class:`_Budget` installed in the ``_CURRENT`` context
variable by whoever streams the template (``renderer._render``, which also enforces the cap on
the streamed top-level output); outside a render a fresh default budget applies.

Every failure is a ``GridflowError``: :class:`TemplateSecurityError` (the sandbox refused),
:class:`TemplateLimitError` (a cap was hit), :class:`TemplateError` (undefined variable, type
error…), or ``DefinitionError`` for syntax errors — see :func:`_translate`.

Names with a leading underscore are internal to the ``gridflow.domain.templates`` package.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import traceback
import types
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import BlockReference, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, is_internal_attribute
from jinja2.utils import Cycler, Joiner, Namespace, generate_lorem_ipsum

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
    "Guard",
    "NoticeSandbox",
    "template_callable",
]

DEFAULT_MAX_OUTPUT = 64_000
DEFAULT_MAX_VALUE = 1_000_000  # characters (roughly) any single template-built value may hold
DEFAULT_MAX_STEPS = 200_000  # loop iterations + calls + filter work per render
MAX_RANGE = 10_000
_CHARS_PER_STEP = 1024  # work on this many characters counts as one step


# ── errors ──────────────────────────────────────────────────────────────────────────────────


class _LimitExceeded(SecurityError):
    """Internal: raised inside the sandbox when a cap is hit."""


def template_callable(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a host function as callable from notice templates (everything else is refused)."""
    func.gridflow_template_safe = True  # type: ignore[attr-defined]
    return func


# ── per-render budget ───────────────────────────────────────────────────────────────────────


@dataclass
class _Budget:
    max_output: int = DEFAULT_MAX_OUTPUT
    max_value: int = DEFAULT_MAX_VALUE
    max_steps: int = DEFAULT_MAX_STEPS
    steps: int = 0
    weights: dict[int, tuple[object, int]] = field(default_factory=dict)

    def charge(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise _LimitExceeded(f"template does too much work (more than {self.max_steps} steps)")

    def check(self, size: int, what: str) -> None:
        """Refuse building a value of ``size`` characters over the cap; charge the work."""
        if size > self.max_value:
            raise _LimitExceeded(f"{what} would exceed {self.max_value} characters")
        self.charge(size // _CHARS_PER_STEP)


_CURRENT: ContextVar[_Budget | None] = ContextVar("gridflow_template_budget", default=None)


def _budget() -> _Budget:
    current = _CURRENT.get()
    return current if current is not None else _Budget()


_CONTAINERS = (list, tuple, set, frozenset, dict, deque, range, Namespace, Mapping)


def _weight(obj: object, b: _Budget) -> int:
    """Approximate ``len(str(obj))`` of a possibly shared nested structure, capped at limit+1.

    Shared sub-structures are weighed once per render (memo by identity, the object is kept
    alive by the memo), so a "billion laughs" list costs as much as its distinct parts.
    """
    limit = b.max_value

    def weigh(o: object, depth: int) -> int:
        if isinstance(o, str | bytes | bytearray):
            return len(o) + 2
        if isinstance(o, int):
            return o.bit_length() // 3 + 2
        if isinstance(o, float | None):
            return 8
        if isinstance(o, range):
            return len(o) * 8
        if depth > 100:
            raise _LimitExceeded("value is nested too deeply")
        if isinstance(o, Namespace):  # mutable: weigh afresh each time, never memoise
            attrs = o._Namespace__attrs  # type: ignore[attr-defined]
            return 2 + sum(weigh(v, depth + 1) for v in attrs.values()) + 8 * len(attrs)
        if not isinstance(o, list | tuple | set | frozenset | dict | deque | Mapping):
            return 24
        hit = b.weights.get(id(o))
        if hit is not None and hit[0] is o:
            return hit[1]
        b.weights[id(o)] = (o, 8)  # provisional: breaks cycles
        total = 2 + 2 * len(o)
        parts = [*o.keys(), *o.values()] if isinstance(o, Mapping) else o
        for part in parts:
            if total > limit:
                break
            total += weigh(part, depth + 1)
        total = min(total, limit + 1)
        b.weights[id(o)] = (o, total)
        return total

    return weigh(obj, 0)


def _size(obj: object, b: _Budget) -> int:
    if isinstance(obj, str):
        return len(obj)
    if isinstance(obj, _CONTAINERS):
        return _weight(obj, b)
    return 8


def _check_value(obj: object, b: _Budget, what: str) -> int:
    size = _size(obj, b)
    b.check(size, what)
    return size


# ── guards for size-growing operations ──────────────────────────────────────────────────────

_PCT_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)")
_MAX_INT_BITS = 65_536


def _check_percent(fmt: str, args: object, b: _Budget) -> None:
    extra = 0
    for width, precision, _conv in _PCT_RE.findall(fmt):
        if "*" in (width, precision):
            raise _LimitExceeded("'*' widths are not allowed in % formats")
        extra += int(width or 0) + int(precision or 0)
        b.check(extra, "a % format width")
    b.check(len(fmt) + extra + _size(args, b), "a % format result")


def _int_too_big(op: str, left: int, right: int) -> bool:
    if op == "*":
        return left.bit_length() + right.bit_length() > _MAX_INT_BITS
    return op == "**" and right > 0 and max(left.bit_length(), 1) * right > _MAX_INT_BITS


def _check_binop(op: str, left: Any, right: Any, b: _Budget) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if _int_too_big(op, left, right):
            raise _LimitExceeded("integer too large")
    elif op == "*":
        seq, n = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(n, int) and isinstance(seq, str | list | tuple) and n > 0:
            b.check(n * max(len(seq), 1), "a repetition")
            b.check(n * _size(seq, b), "a repetition")
    elif (
        op == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
    ):
        b.check(_size(left, b) + _size(right, b), "a concatenation")
    elif op == "%" and isinstance(left, str):
        _check_percent(left, right, b)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _as_list(value: Any, b: _Budget) -> Any:
    """Materialise an unsized iterable (a generator from a filter) so its size can be checked."""
    if isinstance(value, Sized | Undefined):
        return value
    items = []
    for item in value:
        items.append(item)
        if len(items) > b.max_value:
            raise _LimitExceeded("iterable too long")
    b.charge(len(items) // 64)
    return items


def _joined_size(sep: object, items: Any, b: _Budget) -> int:
    n = len(items) if isinstance(items, Sized) else 0
    return _size(items, b) + n * _size(sep, b)


def _replaced_size(s: str, old: object, new: object, count: object) -> int:
    if not (isinstance(old, str) and isinstance(new, str)):
        return len(s)
    occurrences = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    return len(s) + occurrences * max(len(new) - len(old), 0)


Guard = Callable[[_Budget, Any, tuple, dict], tuple[tuple, dict]]


def _g_width(b: _Budget, owner: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    width = _arg(args, kwargs, 0, "width", 0)
    if isinstance(width, int):
        b.check(width, "a padded string")
    return args, kwargs


def _g_expandtabs(b: _Budget, owner: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    tab = _arg(args, kwargs, 0, "tabsize", 8)
    if isinstance(tab, int):
        b.check(len(owner) + owner.count("\t") * tab, "expandtabs()")
    return args, kwargs


def _g_replace(b: _Budget, owner: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    count = _arg(args, kwargs, 2, "count", -1)
    b.check(_replaced_size(owner, old, new, count), "replace()")
    return args, kwargs


def _g_join(b: _Budget, owner: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if len(args) == 1 and not kwargs:
        items = _as_list(args[0], b)
        b.check(_joined_size(owner, items, b), "join()")
        return (items,), kwargs
    return args, kwargs


def _g_strftime(b: _Budget, owner: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    fmt = _arg(args, kwargs, 0, "format", "")
    if isinstance(fmt, str):
        b.check(len(fmt) * 32, "strftime()")
    return args, kwargs


def _allow(b: _Budget, owner: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return args, kwargs


def _methods(names: str, **guards: Guard) -> dict[str, Guard]:
    table: dict[str, Guard] = dict.fromkeys(names.split(), _allow)
    table.update(guards)
    return table


_STR_METHODS = _methods(
    "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip partition "
    "removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines startswith "
    "strip swapcase title upper striptags unescape",
    center=_g_width,
    ljust=_g_width,
    rjust=_g_width,
    zfill=_g_width,
    expandtabs=_g_expandtabs,
    replace=_g_replace,
    join=_g_join,
)
_SAFE_METHODS: tuple[tuple[type | tuple[type, ...], dict[str, Guard]], ...] = (
    (str, _STR_METHODS),
    ((list, tuple), _methods("count index")),
    (Mapping, _methods("get items keys values")),
    (
        (set, frozenset),
        _methods(
            "union intersection difference symmetric_difference issubset issuperset isdisjoint"
        ),
    ),
    ((int, float), _methods("bit_length is_integer")),
    (
        (_dt.date, _dt.time),
        _methods(
            "isoformat weekday isoweekday isocalendar date time timetz timestamp astimezone "
            "utcoffset tzname ctime toordinal replace",
            strftime=_g_strftime,
        ),
    ),
    (_dt.timedelta, _methods("total_seconds")),
)


# filter guards: (budget, params, kwargs) where params[0] is the filtered value
def _fg_center(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    width = _arg(p, k, 1, "width", 80)
    if isinstance(width, int):
        b.check(width, "|center")
    return p, k


def _fg_indent(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    width = _arg(p, k, 1, "width", 4)
    unit = width if isinstance(width, int) else len(str(width))
    text = p[0] if isinstance(p[0], str) else ""
    b.check(_size(p[0], b) + (text.count("\n") + 1) * unit, "|indent")
    return p, k


def _fg_wordwrap(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    width, wrap = _arg(p, k, 1, "width", 79), _arg(p, k, 3, "wrapstring", None)
    text = p[0] if isinstance(p[0], str) else ""
    if isinstance(width, int) and width > 0:
        breaks = len(text) // width + text.count("\n") + 1
        b.check(len(text) + breaks * len(str(wrap or "\n")), "|wordwrap")
    return p, k


def _fg_replace(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    if isinstance(p[0], str):
        old, new = _arg(p, k, 1, "old"), _arg(p, k, 2, "new")
        b.check(_replaced_size(p[0], old, new, _arg(p, k, 3, "count", -1)), "|replace")
    return p, k


def _fg_join(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    items = _as_list(p[0], b)
    b.check(_joined_size(_arg(p, k, 1, "d", ""), items, b), "|join")
    return (items, *p[1:]), k


def _fg_format(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    if isinstance(p[0], str):
        _check_percent(p[0], k or p[1:], b)
    return p, k


def _fg_count(index: int, name: str, cap: int) -> Callable[[_Budget, tuple, dict], Any]:
    def guard(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
        n = _arg(p, k, index, name, 0)
        if isinstance(n, int) and n > cap:
            raise _LimitExceeded(f"{name}={n} is over the limit of {cap}")
        return p, k

    return guard


def _fg_urlize(b: _Budget, p: tuple, k: dict) -> tuple[tuple, dict]:
    for index, name in ((3, "target"), (4, "rel")):
        value = _arg(p, k, index, name)
        if value is not None and len(str(value)) > 256:
            raise _LimitExceeded(f"|urlize {name} is too long")
    return p, k


_FILTER_GUARDS: dict[str, Callable[[_Budget, tuple, dict], tuple[tuple, dict]]] = {
    "center": _fg_center,
    "indent": _fg_indent,
    "wordwrap": _fg_wordwrap,
    "replace": _fg_replace,
    "join": _fg_join,
    "format": _fg_format,
    "batch": _fg_count(1, "linecount", MAX_RANGE),
    "slice": _fg_count(1, "slices", MAX_RANGE),
    "tojson": _fg_count(1, "indent", 16),
    "urlize": _fg_urlize,
}


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    special = _FILTER_GUARDS.get(name)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        b = _budget()
        head, params = args[:skip], args[skip:]
        work = 0
        for value in (*params, *kwargs.values()):
            work += _check_value(value, b, f"the input of |{name}")
        b.charge(1 + work // _CHARS_PER_STEP)
        if special is not None and params:
            params, kwargs = special(b, params, kwargs)
        return func(*head, *params, **kwargs)

    return guarded


def _safe_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise _LimitExceeded(f"range() of {len(rng)} items; the limit is {MAX_RANGE}")
    return rng


def _safe_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n > 20 or max > 200:
        raise _LimitExceeded("lipsum() is limited to n<=20, max<=200")
    return generate_lorem_ipsum(n, html, min, max)


# ── the sandbox ─────────────────────────────────────────────────────────────────────────────


_LOOP_FILTER = "gridflow_counted"


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


class _NoticeCodeGenerator(CodeGenerator):
    """Routes ``~``, loop iterables and output buffers through the sandbox's guards."""

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


class NoticeSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every notice template runs in (see the module docstring for the rules)."""

    code_generator_class = _NoticeCodeGenerator
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, **options: Any):
        options.setdefault("undefined", jinja2.StrictUndefined)
        options.setdefault("trim_blocks", True)
        options.setdefault("lstrip_blocks", True)
        super().__init__(optimized=False, finalize=self._finalize, **options)
        self.globals["range"] = _safe_range
        self.globals["lipsum"] = _safe_lipsum
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = self.gf_iter
        self._safe_globals = tuple(self.globals.values())

    # attribute access: refuse, never hand out an "unsafe undefined"
    def _refuse_attribute(self, obj: Any, attr: str) -> None:
        raise SecurityError(
            f"access to attribute {attr!r} of {type(obj).__name__!r} object is not allowed"
        )

    def _checked(self, obj: Any, attr: str, value: Any) -> Any:
        if (
            is_internal_attribute(obj, attr)
            or isinstance(value, types.ModuleType)
            or (attr in ("format", "format_map") and isinstance(obj, str))
            or not self.is_safe_attribute(obj, attr, value)
        ):
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

    def _finalize(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, _CONTAINERS):
            _check_value(value, _budget(), "an output value")
        return value


# ── error translation ───────────────────────────────────────────────────────────────────────


def _template_location(exc: BaseException, fallback: str | None) -> tuple[str | None, int]:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if name == "<template>" or name.endswith((".txt", ".html")):
            return name, frame.lineno or 0
    return fallback, 0


def _translate(exc: Exception, file: str | None) -> GridflowError:
    """Map anything raised while rendering to a GridflowError, located when possible."""
    if isinstance(exc, GridflowError):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        origin = exc.filename or exc.name or file or "<template>"
        return DefinitionError([Problem(origin, exc.lineno or 0, 0, "template", exc.message or "")])
    where, line = _template_location(exc, file)
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
