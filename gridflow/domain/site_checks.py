"""Everything ``gridflow validate`` checks over a set of workflow files (domain: it reads only
the files it checks and their templates).

:func:`validate_site` runs every file through every loading stage it can pass, the checks
across files (ids, report sections, spawned workflows — looked for with ``lookup`` when not
among the files), and each workflow's notice templates: their syntax, names, ``case.*``
attributes and helper macros, and one template per notice in every language the org's people
read (or in the workflow's ``fallback_language``). Templates are checked for every file whose
model could be read, errors elsewhere in it or not. Every problem comes back in file and line
order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gridflow.domain.loader import Lookup, by_place, check_files, cross_checks
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.org import Directory
from gridflow.domain.templates.checks import missing_languages
from gridflow.domain.templates.renderer import LANGUAGES, TemplateRenderer
from gridflow.errors import Problem


def languages_of(directory: Directory) -> set[str]:
    """The notice languages the directory's people read (``zh``… → zh-CN, ``en``… → en)."""
    out = set()
    for person in directory.people.values():
        lang = (person.lang or "zh-CN").replace("_", "-")
        base = next(
            (x for x in LANGUAGES if lang.lower().startswith(x.split("-")[0].lower())), lang
        )
        out.add(base)
    return out or {"zh-CN"}


def validate_site(
    files: Iterable[str | Path],
    *,
    template_roots: Iterable[str | Path],
    languages: Iterable[str],
    lookup: Lookup | None = None,
) -> tuple[dict[str, CompiledWorkflow], list[Problem]]:
    """The workflows of ``files`` that load, and every problem (errors and warnings) of the
    files, across them, and of their templates, in file and line order."""
    checked = check_files(files)
    problems = [p for c in checked for p in c.problems] + cross_checks(checked, lookup)
    renderer = TemplateRenderer([Path(r) for r in template_roots if Path(r).is_dir()])
    langs = sorted(set(languages))
    for c in checked:
        wf = c.model
        if wf is None:
            continue
        problems += renderer.check(wf.id, fields=c.fields, states=c.states)
        for path, message in missing_languages(renderer, wf, langs, wf.fallback_language):
            problems.append(c.problem(path, message))
    failed = {p.file for p in problems if p.severity == "error"}
    loaded = {
        c.compiled.id: c.compiled
        for c in checked
        if c.compiled is not None and c.file not in failed
    }
    return loaded, by_place(problems)
