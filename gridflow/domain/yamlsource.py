"""Safe YAML parsing that remembers where every value came from.

Why PyYAML's *composer* rather than ``yaml.safe_load`` or ruamel: composing yields the node
graph with a start mark (line, column) on every key and value, and with each node's tag
visible *before* anything is constructed. So we refuse non-standard tags (``!!python/...``)
without ever running a constructor, cap aliases while composing (the "billion laughs" bomb is
stopped at the N-th alias event, before any expansion), and build plain values ourselves
while recording ``path -> (line, column)`` for error messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from gridflow.errors import DefinitionError, Problem

MAX_BYTES = 1_000_000
MAX_ALIASES = 50
MAX_NODES = 100_000

Path = tuple[str | int, ...]

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_ALLOWED_TAGS = _SCALAR_TAGS | {f"{_STD}map", f"{_STD}seq"}


def dotted(path: Path) -> str:
    """``('states', 'triage', 'sla', 'due')`` → ``states.triage.sla.due``; ints as ``[i]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Located:
    """A parsed document plus where each path in it starts in the source."""

    value: object
    file: str
    built: int = 0
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path) -> tuple[int, int]:
        """The (line, column) of ``path``, or of its nearest located ancestor."""
        path = tuple(path)
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, path: Path, message: str, severity: str = "error") -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, dotted(path), message, severity)


class _CappedComposer(yaml.SafeLoader):
    """SafeLoader whose composer counts alias references and nodes while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_count = 0
        self.node_count = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Stop(mark, f"more than {MAX_ALIASES} aliases: refused (alias bomb?)")
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise _Stop(self.peek_event().start_mark, f"more than {MAX_NODES} nodes: refused")
        return super().compose_node(parent, index)


class _Stop(Exception):
    def __init__(self, mark, message: str):
        self.mark, self.message = mark, message


class ParseCache(Protocol):
    """Parsed documents kept by their text (a driver's: on disk, across processes). ``get``
    returns what ``put`` was given for the same text, as a new ``Located`` named ``file``,
    or None; it never raises."""

    def get(self, text: str, file: str) -> Located | None: ...

    def put(self, text: str, located: Located) -> None: ...


def parse(
    text: str,
    file: str = "<string>",
    *,
    max_bytes: int = MAX_BYTES,
    cache: ParseCache | None = None,
) -> Located:
    """Parse one YAML document safely. Raises ``DefinitionError`` with a located problem.
    With ``cache``, a text parsed before (and clean) is not parsed again."""
    if cache is not None:
        hit = cache.get(text, file)
        if hit is not None:
            return hit
        located = parse(text, file, max_bytes=max_bytes)
        cache.put(text, located)
        return located
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DefinitionError([Problem(file, 1, 1, "", f"file is {size} bytes; limit {max_bytes}")])
    loader = _CappedComposer(text)
    try:
        node = loader.get_single_node()
    except _Stop as stop:
        raise DefinitionError([_at(file, stop.mark, stop.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
        raise DefinitionError([_at(file, mark, msg)]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, 0, 0, "", str(exc))]) from None
    finally:
        loader.dispose()
    located = Located(None, file)
    if node is None:
        raise DefinitionError([Problem(file, 1, 1, "", "the file is empty")])
    problems: list[Problem] = []
    located.built = 0
    located.value = _build(node, (), located, problems, depth=0)
    if problems:
        raise DefinitionError(problems)
    return located


def _at(file: str, mark, message: str) -> Problem:
    if mark is None:
        return Problem(file, 0, 0, "", message)
    return Problem(file, mark.line + 1, mark.column + 1, "", message)


def _build(node, path: Path, loc: Located, problems: list[Problem], depth: int):
    loc.built += 1
    if loc.built > MAX_NODES:
        if loc.built == MAX_NODES + 1:
            problems.append(
                loc.problem(path, f"expands to more than {MAX_NODES} values: refused (alias bomb?)")
            )
        return None
    loc.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if depth > 64:
        problems.append(loc.problem(path, "nesting deeper than 64 levels"))
        return None
    if node.tag not in _ALLOWED_TAGS:
        problems.append(loc.problem(path, f"tag {node.tag!r} is not allowed (plain YAML only)"))
        return None
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, path, loc, problems)
    if isinstance(node, yaml.SequenceNode):
        return [_build(n, (*path, i), loc, problems, depth + 1) for i, n in enumerate(node.value)]
    out: dict = {}
    for key_node, value_node in node.value:
        if key_node.tag == f"{_STD}merge":
            problems.append(_at(loc.file, key_node.start_mark, "merge keys (<<) are not supported"))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(_at(loc.file, key_node.start_mark, "keys must be plain scalars"))
            continue
        if key_node.tag not in _SCALAR_TAGS:
            problems.append(
                _at(
                    loc.file,
                    key_node.start_mark,
                    f"tag {key_node.tag!r} is not allowed (plain YAML only)",
                )
            )
            continue
        key = _scalar(key_node, path, loc, problems)
        key = key if isinstance(key, str) else str(key)
        kpath = (*path, key)
        mark = key_node.start_mark
        if key in out:
            problems.append(
                Problem(
                    loc.file,
                    mark.line + 1,
                    mark.column + 1,
                    dotted(kpath),
                    f"duplicate key {key!r}",
                )
            )
            continue
        loc.marks[kpath] = (mark.line + 1, mark.column + 1)
        out[key] = _build(value_node, kpath, loc, problems, depth + 1)
        loc.marks[kpath] = (mark.line + 1, mark.column + 1)
    return out


def _scalar(node, path: Path, loc: Located, problems: list[Problem]):
    constructor = yaml.SafeLoader.yaml_constructors.get(node.tag)
    try:
        value = constructor(_NULL_LOADER, node) if constructor else node.value
    except (yaml.constructor.ConstructorError, ValueError) as exc:
        problems.append(loc.problem(path, f"bad {node.tag.rsplit(':', 1)[-1]} value: {exc}"))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(loc.problem(path, "infinite or NaN numbers are not allowed"))
        return None
    return value


class _NullLoader(yaml.SafeLoader):
    def __init__(self):  # constructors for scalars need no stream
        pass


_NULL_LOADER = _NullLoader()


def walk(value: object, path: Path = ()) -> Iterator[tuple[Path, object]]:
    """Every (path, value) pair in a built document, parents first."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*path, i))
