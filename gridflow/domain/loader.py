"""Staged loading of workflow YAML: safe parse → schema → graph checks → compile.

The stages live in their own modules: :mod:`~gridflow.domain.yamlsource` (safe parse, every
node located), :mod:`~gridflow.domain.validation` (the format's models),
:mod:`~gridflow.domain.graph_checks` (the graph and the expressions); this module runs them
over one text, a file, or a folder (with the checks across files).

Every stage reports *every* problem it finds, located as ``FILE:LINE:COL: yaml.path:
message``; a later stage runs only when the earlier ones were clean (a schema error makes
graph checks meaningless). The result is a ``CompiledWorkflow`` ready to run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from gridflow.domain.graph_checks import GraphChecker
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.suggest import did_you_mean
from gridflow.domain.validation import validate_workflow
from gridflow.domain.yamlsource import parse, read_text
from gridflow.errors import DefinitionError, Problem


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_text(text: str, file: str = "<string>") -> CompiledWorkflow:
    """Load one workflow from YAML text, or raise ``DefinitionError`` with every problem."""
    compiled, problems = check_text(text, file)
    if compiled is None or any(p.severity == "error" for p in problems):
        raise DefinitionError(problems)
    return compiled


def load_file(path: str | Path) -> CompiledWorkflow:
    path = Path(path)
    return load_text(_read(path), str(path))


def check_text(text: str, file: str = "<string>") -> tuple[CompiledWorkflow | None, list[Problem]]:
    """All problems of one file (errors and warnings), and the compiled workflow if clean."""
    try:
        located = parse(text, file)
    except DefinitionError as exc:
        return None, exc.problems
    model, problems, broken, index_map = validate_workflow(located)
    if model is None:
        return None, problems
    checker = GraphChecker(model, located, broken, index_map)
    compiled_transitions = checker.run()
    problems += checker.problems
    if any(p.severity == "error" for p in problems):
        return None, problems
    wf = CompiledWorkflow(
        model, compiled_transitions, source=text, content_hash=content_hash(text), file=file
    )
    wf.due_expressions = {base[1]: expr for base, expr in checker.due_exprs.items()}
    wf.warnings = [p for p in problems if p.severity != "error"]
    return wf, problems


def _read(path: Path) -> str:
    return read_text(path)  # bounded, located errors (yamlsource)


# ---- stage 2: schema --------------------------------------------------------------------
# ---- several files ----------------------------------------------------------------------
def load_dir(folder: str | Path) -> dict[str, CompiledWorkflow]:
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
    return load_files(files)


def load_files(files: Iterable[str | Path]) -> dict[str, CompiledWorkflow]:
    problems: list[Problem] = []
    loaded: dict[str, CompiledWorkflow] = {}
    warnings: list[Problem] = []
    for path in files:
        path = Path(path)
        try:
            text = _read(path)
        except DefinitionError as exc:
            problems += exc.problems
            continue
        wf, found = check_text(text, str(path))
        problems += [p for p in found if p.severity == "error"]
        warnings += [p for p in found if p.severity != "error"]
        if wf is None:
            continue
        if wf.id in loaded:
            problems.append(
                Problem(
                    str(path),
                    *_mark(wf, ("id",)),
                    "id",
                    f"workflow id {wf.id!r} also defined in {loaded[wf.id].file}",
                )
            )
            continue
        loaded[wf.id] = wf
    for wf in loaded.values():
        for i, t in enumerate(wf.definition.transitions):
            if t.spawn and t.spawn.workflow not in loaded:
                problems.append(
                    Problem(
                        wf.file,
                        *_mark(wf, ("transitions", i, "spawn", "workflow")),
                        f"transitions[{i}].spawn.workflow",
                        f"unknown workflow {t.spawn.workflow!r}"
                        + did_you_mean(t.spawn.workflow, loaded),
                    )
                )
            elif t.spawn and t.spawn.then:
                child = {x.trigger for x in loaded[t.spawn.workflow].transitions}
                if t.spawn.then not in child:
                    problems.append(
                        Problem(
                            wf.file,
                            *_mark(wf, ("transitions", i, "spawn", "then")),
                            f"transitions[{i}].spawn.then",
                            f"{t.spawn.workflow} has no trigger {t.spawn.then!r}"
                            + did_you_mean(t.spawn.then, child),
                        )
                    )
    if problems:
        raise DefinitionError(problems + warnings)
    return loaded


def _mark(wf: CompiledWorkflow, path: tuple) -> tuple[int, int]:
    try:
        return parse(wf.source, wf.file).where(path)
    except DefinitionError:
        return (0, 0)
