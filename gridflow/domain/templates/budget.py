"""The per-render resource budget of the sandbox, and the guards that charge it.

Values built by ``*``, ``+``, ``~``, ``%``, ``**``, size-growing string methods and filters
are weighed before they are built and refused past ``max_value``; ``range`` yields at most
``MAX_RANGE`` items; loop iterations plus calls are charged against ``max_steps``. A cap hit
raises ``_LimitExceeded`` (a Jinja ``SecurityError``), which the sandbox turns into
``TemplateLimitError``. Names with a leading underscore are internal to the package.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections import deque
from collections.abc import Callable, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Undefined
from jinja2.utils import Namespace, generate_lorem_ipsum

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
            attrs = o._Namespace__attrs
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
