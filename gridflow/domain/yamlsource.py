"""Safe YAML parsing that remembers where every value came from.

Why PyYAML's *composer* rather than ``yaml.safe_load`` or ruamel: composing yields the node
graph with a start mark (line, column) on every key and value, and with each node's tag
visible *before* anything is constructed. So we refuse non-standard tags (``!!python/...``)
without ever running a constructor, cap aliases while composing (the "billion laughs" bomb is
stopped at the N-th alias event, before any expansion), and build plain values ourselves
while recording ``path -> (line, column)`` for error messages.

Contract: :func:`parse` (and :func:`compose`, for callers that walk the node graph themselves)
either returns or raises ``DefinitionError`` whose problems are located (line and column ≥ 1)
— never another exception, whatever the text: control characters, NUL and non-characters
(PyYAML's ``ReaderError``), nesting deeper than ``MAX_DEPTH`` (refused while composing, long
before Python's recursion limit), more than ``MAX_NODES`` nodes or ``MAX_ALIASES`` aliases,
scalars longer than ``MAX_SCALAR`` characters, files over ``MAX_BYTES``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from gridflow.errors import DefinitionError, Problem

MAX_BYTES = 1_000_000
MAX_ALIASES = 50
MAX_NODES = 100_000
MAX_DEPTH = 64  # collections inside collections (PyYAML's composer recurses: ~330 is fatal)
MAX_SCALAR = 100_000  # characters in one value

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
    """A parsed document plus where each path in it starts in the source (and, for a
    scalar, where it ends and how it is quoted: a problem can point *into* it)."""

    value: object
    file: str
    built: int = 0
    marks: dict[Path, tuple[int, int]] = field(default_factory=dict)
    source: str = ""
    # path -> (start index, end index, style, line, column) of a scalar value
    scalars: dict[Path, tuple[int, int, str | None, int, int]] = field(default_factory=dict)

    def where(self, path: Path) -> tuple[int, int]:
        """The (line, column) of ``path``, or of its nearest located ancestor."""
        path = tuple(path)
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (1, 1))

    def where_in(self, path: Path, offset: int) -> tuple[int, int]:
        """The (line, column) of character ``offset`` of the scalar value at ``path`` — exact
        for a value on one line (plain, '…' or "…"); else where the value starts."""
        path = tuple(path)
        span = self.scalars.get(path)
        if span is None:
            return self.where(path)
        start, end, style, line, col = span
        raw = self.source[start:end]
        if "\n" in raw or style not in (None, "'", '"'):
            return line, col
        i = 0 if style is None else 1
        for _ in range(max(0, offset)):
            if i >= len(raw):
                break
            if style == "'" and raw.startswith("''", i):
                i += 2
            elif style == '"' and raw[i] == "\\":
                i += {"x": 4, "u": 6, "U": 10}.get(raw[i + 1 : i + 2], 2)
            else:
                i += 1
        last = len(raw) - (0 if style is None else 1)  # just past the text, inside quotes
        return line, col + max(0, min(i, last))

    def problem(
        self, path: Path, message: str, severity: str = "error", *, offset: int | None = None
    ) -> Problem:
        """A located problem at ``path`` (at character ``offset`` of its value, if given)."""
        line, col = self.where(path) if offset is None else self.where_in(path, offset)
        return Problem(self.file, line, col, dotted(path), message, severity)


class _CappedComposer(yaml.SafeLoader):
    """SafeLoader whose composer counts alias references, nodes and nesting while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_count = 0
        self.node_count = 0
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                message = f"more than {MAX_ALIASES} aliases: refused (alias bomb?)"
                raise _Stop(event.start_mark, message)
        self.node_count += 1
        if self.node_count > MAX_NODES:
            raise _Stop(event.start_mark, f"more than {MAX_NODES} nodes: refused")
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR:
            raise _Stop(
                event.start_mark,
                f"a value of {len(event.value)} characters: the limit is {MAX_SCALAR}",
            )
        collection = isinstance(event, yaml.CollectionStartEvent)
        if collection:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _Stop(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            if collection:
                self.depth -= 1


class _Stop(Exception):
    def __init__(self, mark, message: str):
        self.mark, self.message = mark, message


class ParseCache(Protocol):
    """Parsed documents kept by their text (a driver's: on disk, across processes). ``get``
    returns what ``put`` was given for the same text, as a new ``Located`` named ``file``,
    or None; it never raises."""

    def get(self, text: str, file: str) -> Located | None: ...

    def put(self, text: str, located: Located) -> None: ...


def compose(text: str, file: str = "<string>", *, max_bytes: int = MAX_BYTES) -> yaml.Node | None:
    """The node graph of one YAML document (None when it is empty), composed under the caps
    of this module. Raises ``DefinitionError`` with one located problem."""
    if not isinstance(text, str):
        raise DefinitionError([Problem(file, 1, 1, "", "expected text")])
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DefinitionError([Problem(file, 1, 1, "", f"file is {size} bytes; limit {max_bytes}")])
    loader = None
    try:
        loader = _CappedComposer(text)  # the reader checks every character here
        return loader.get_single_node()
    except _Stop as stop:
        raise DefinitionError([_at(file, stop.mark, stop.message)]) from None
    except yaml.reader.ReaderError as exc:
        raise DefinitionError([_reader_problem(file, text, exc)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(x for x in (exc.context, exc.problem) if x) or str(exc)
        raise DefinitionError([_at(file, mark, _one_line(msg))]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(file, 1, 1, "", _one_line(str(exc)))]) from None
    except RecursionError:  # not reached under MAX_DEPTH; a last line of defence
        raise DefinitionError([Problem(file, 1, 1, "", "nesting too deep")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a definition file, reading at most ``max_bytes`` + 1 bytes (a huge
    file is refused without being read). Raises ``DefinitionError`` for a file that is
    missing, unreadable, too big or not UTF-8, located at the file."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
            size = max(len(data), os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise DefinitionError([Problem(file, 1, 1, "", exc.strerror or str(exc))]) from None
    if len(data) > max_bytes:
        raise DefinitionError([Problem(file, 1, 1, "", f"file is {size} bytes; limit {max_bytes}")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be read"
        raise DefinitionError([Problem(file, line, column, "", message)]) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """PyYAML refuses a character (a control character, NUL, U+FFFE …): where, and which."""
    position = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return Problem(
        file,
        line,
        column,
        "",
        f"character U+{code:04X} is not allowed in YAML (control characters, NUL and "
        "non-characters cannot appear; use an escape in a double-quoted string)",
    )


def parse(
    text: str,
    file: str = "<string>",
    *,
    max_bytes: int = MAX_BYTES,
    cache: ParseCache | None = None,
) -> Located:
    """Parse one YAML document safely. Raises ``DefinitionError`` with located problems.
    With ``cache``, a text parsed before (and clean) is not parsed again."""
    if cache is not None:
        hit = cache.get(text, file)
        if hit is not None:
            return hit
        located = parse(text, file, max_bytes=max_bytes)
        cache.put(text, located)
        return located
    node = compose(text, file, max_bytes=max_bytes)
    located = Located(None, file, source=text)
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
        return Problem(file, 1, 1, "", message)
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
        start, end = node.start_mark, node.end_mark
        span = (start.index, end.index, node.style, start.line + 1, start.column + 1)
        loc.scalars.setdefault(path, span)
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
    except (yaml.constructor.ConstructorError, ValueError, OverflowError, TypeError) as exc:
        reason = _one_line(str(exc))
        problems.append(loc.problem(path, f"bad {node.tag.rsplit(':', 1)[-1]} value: {reason}"))
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
