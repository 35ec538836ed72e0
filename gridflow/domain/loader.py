"""Staged loading of workflow YAML: safe parse → schema → graph checks → compile.

The stages live in their own modules: :mod:`~gridflow.domain.yamlsource` (safe parse, every
node located), :mod:`~gridflow.domain.validation` (the format's models),
:mod:`~gridflow.domain.graph_checks` (the graph and the expressions); this module runs them
over one text, a file, or a folder (with the checks across files).

Every stage reports *every* problem it finds, located as ``FILE:LINE:COL: yaml.path:
message``, in file and line order. The graph checks run over whatever the schema stage could
read (a broken entry is left out, and names it declared are still known), so one mistake
gives one problem and the others are not hidden behind it; the checks across files (ids,
spawned workflows, report sections) run over every file that could be read. The result is a
``CompiledWorkflow`` ready to run.

Validating chosen files of a folder: a spawned workflow that is not among them is looked for
with ``lookup`` (:func:`folder_lookup`: the files next to them, the configured folder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gridflow.domain.definition import Workflow
from gridflow.domain.graph_checks import GraphChecker
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.validation import validate_workflow
from gridflow.domain.yamlsource import Located, ParseCache, parse, read_text
from gridflow.errors import DefinitionError, Problem

Lookup = Callable[[str], Workflow | None]  # a workflow id → its definition, found elsewhere


@dataclass
class Checked:
    """One file as far as it could be read: the model (also when it has problems), the
    compiled workflow (only without errors), every problem, the names it declares."""

    file: str
    located: Located | None = None
    model: Workflow | None = None
    compiled: CompiledWorkflow | None = None
    problems: list[Problem] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)  # valid and broken
    states: set[str] = field(default_factory=set)  # valid and broken
    index_map: list[int] = field(default_factory=list)  # kept transition → written index

    def where(self, path: tuple) -> tuple[int, int]:
        return self.located.where(path) if self.located is not None else (0, 0)

    def problem(self, path: tuple, message: str) -> Problem:
        if self.located is not None:
            return self.located.problem(path, message)
        return Problem(self.file, 0, 0, "", message)


def by_place(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in file and line order (then column)."""
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_text(
    text: str, file: str = "<string>", *, cache: ParseCache | None = None
) -> CompiledWorkflow:
    """Load one workflow from YAML text, or raise ``DefinitionError`` with every problem."""
    compiled, problems = check_text(text, file, cache=cache)
    if compiled is None or any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    return compiled


def load_file(path: str | Path) -> CompiledWorkflow:
    path = Path(path)
    return load_text(_read(path), str(path))


def check_text(
    text: str, file: str = "<string>", *, cache: ParseCache | None = None
) -> tuple[CompiledWorkflow | None, list[Problem]]:
    """All problems of one file (errors and warnings), and the compiled workflow if clean.
    ``cache``: parsed texts kept between processes (see ``yamlsource.ParseCache``)."""
    checked = check_source(text, file, cache=cache)
    return checked.compiled, checked.problems


def check_source(text: str, file: str = "<string>", *, cache: ParseCache | None = None) -> Checked:
    """One file through every stage it can pass: problems in line order."""
    out = Checked(file)
    try:
        located = parse(text, file, cache=cache)
    except DefinitionError as exc:
        out.problems = exc.problems
        return out
    out.located = located
    model, problems, broken, index_map = validate_workflow(located)
    out.index_map = list(index_map)
    raw = located.value if isinstance(located.value, dict) else {}
    for section, names in (("fields", out.fields), ("states", out.states)):
        if isinstance(raw.get(section), dict):
            names.update(n for n in raw[section] if isinstance(n, str))
    out.model = model
    if model is None:
        out.problems = by_place(problems)
        return out
    checker = GraphChecker(model, located, broken, index_map)
    compiled_transitions = checker.run()
    problems += checker.problems
    out.problems = by_place(problems)
    if any(p.severity == "error" for p in problems):
        return out
    wf = CompiledWorkflow(
        model, compiled_transitions, source=text, content_hash=content_hash(text), file=file
    )
    wf.due_expressions = {base[1]: expr for base, expr in checker.due_exprs.items()}
    wf.warnings = [p for p in problems if p.severity != "error"]
    out.compiled = wf
    return out


def _read(path: Path) -> str:
    return read_text(path)  # bounded, located errors (yamlsource)


# ---- stage 2: schema --------------------------------------------------------------------
# ---- several files ----------------------------------------------------------------------
def load_dir(folder: str | Path, *, cache: ParseCache | None = None) -> dict[str, CompiledWorkflow]:
    """Every ``*.yaml``/``*.yml`` workflow directly in ``folder``; ``DefinitionError`` lists
    every problem of every file (and cross-file ones: duplicate ids, unknown spawn targets)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DefinitionError([Problem(str(folder), 0, 0, "", "no such folder")])
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix in (".yaml", ".yml")
        and p.stem not in ("org", "calendar-overrides")
        and p.is_file()
    )
    return load_files(files, cache=cache)


def load_files(
    files: Iterable[str | Path],
    *,
    lookup: Lookup | None = None,
    cache: ParseCache | None = None,
) -> dict[str, CompiledWorkflow]:
    """Every workflow of ``files``; ``DefinitionError`` lists every problem of every file and
    across them (in file and line order). ``lookup``: where to find a spawned workflow that
    is not among ``files``."""
    checked = check_files(files, cache=cache)
    problems = [p for c in checked for p in c.problems] + cross_checks(checked, lookup)
    if any(p.severity == "error" for p in problems):
        raise DefinitionError(by_place(problems))
    return {c.compiled.id: c.compiled for c in checked if c.compiled is not None}


def check_files(files: Iterable[str | Path], *, cache: ParseCache | None = None) -> list[Checked]:
    """Each file through :func:`check_source` (an unreadable one: its one problem)."""
    out = []
    for path in files:
        path = Path(path)
        try:
            text = _read(path)
        except DefinitionError as exc:
            out.append(Checked(str(path), problems=exc.problems))
            continue
        out.append(check_source(text, str(path), cache=cache))
    return out


def cross_checks(checked: list[Checked], lookup: Lookup | None = None) -> list[Problem]:
    """Across files: a workflow id defined twice, a report section id declared twice, a
    spawned workflow that does not exist (looked for with ``lookup`` when not among them)
    or lacks the ``then`` trigger. Files whose model could not be read take no part."""
    problems: list[Problem] = []
    models: dict[str, tuple[Checked, Workflow]] = {}
    for c in checked:
        if c.model is None:
            continue
        if c.model.id in models:
            problems.append(
                c.problem(
                    ("id",),
                    f"workflow id {c.model.id!r} also defined in {models[c.model.id][0].file}",
                )
            )
            continue
        models[c.model.id] = (c, c.model)
    sections: dict[str, str] = {}
    for c, wf in models.values():
        declared = list(wf.kpis.sections) or [wf.id]
        for sid in declared:
            path = ("kpis", "sections", sid) if wf.kpis.sections else ("id",)
            if sid in sections:
                problems.append(
                    c.problem(
                        path, f"report section {sid!r} also declared by workflow {sections[sid]}"
                    )
                )
            else:
                sections[sid] = wf.id
    found: dict[str, Workflow | None] = {}
    for c, wf in models.values():
        for i, t in enumerate(wf.transitions):
            if t.spawn is None:
                continue
            target_id = t.spawn.workflow
            target = models[target_id][1] if target_id in models else None
            if target is None and lookup is not None:
                if target_id not in found:
                    found[target_id] = lookup(target_id)
                target = found[target_id]
            base = ("transitions", _index(c, i), "spawn")
            if target is None:
                known = getattr(lookup, "known", None)
                pool = [*models, *(known() if callable(known) else [])]
                problems.append(
                    c.problem(
                        (*base, "workflow"),
                        f"unknown workflow {target_id!r}" + did_you_mean(target_id, pool),
                    )
                )
            elif t.spawn.then:
                child = {x.trigger for x in target.transitions}
                if t.spawn.then not in child:
                    problems.append(
                        c.problem(
                            (*base, "then"),
                            f"{target_id} has no trigger {t.spawn.then!r}"
                            + did_you_mean(t.spawn.then, child),
                        )
                    )
    return problems


def _index(c: Checked, i: int) -> int:
    """The written index of the i-th transition the schema stage kept."""
    return c.index_map[i] if i < len(c.index_map) else i


class FolderLookup:
    """Find a workflow by id among the workflow files of ``folders`` (not ``exclude``d), the
    first folder first: what validating a file that spawns another needs. Files are read
    lazily, as ids are asked for; :meth:`known` reads them all (for a "did you mean")."""

    def __init__(self, folders: Iterable[str | Path], exclude: Iterable[str | Path] = ()):
        skip = {Path(p).resolve() for p in exclude}
        self._cache: dict[str, Workflow] = {}
        self._pending = [
            p
            for folder in folders
            if Path(folder).is_dir()
            for p in sorted(Path(folder).iterdir())
            if p.suffix in (".yaml", ".yml")
            and p.stem not in ("org", "calendar-overrides")
            and p.is_file()
            and p.resolve() not in skip
        ]

    def _read_one(self) -> None:
        path = self._pending.pop(0)
        try:
            model = check_source(_read(path), str(path)).model
        except DefinitionError:
            return
        if model is not None:
            self._cache.setdefault(model.id, model)

    def __call__(self, workflow_id: str) -> Workflow | None:
        while workflow_id not in self._cache and self._pending:
            self._read_one()
        return self._cache.get(workflow_id)

    def known(self) -> list[str]:
        while self._pending:
            self._read_one()
        return list(self._cache)


def folder_lookup(
    folders: Iterable[str | Path], exclude: Iterable[str | Path] = ()
) -> FolderLookup:
    """A :class:`FolderLookup` over ``folders``."""
    return FolderLookup(folders, exclude)
