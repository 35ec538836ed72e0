"""Static checks of notice templates: located problems without rendering anything.

Contract: :func:`check_templates` parses (and compiles) every template file of a workflow and
every layout or macro file they reference (``{% extends %}``, ``{% include %}``, ``{% import %}``)
and returns each problem as a :class:`~gridflow.errors.Problem`: a bad template is reported,
not raised, and nothing is rendered. It reports:

* file names that are not ``<notice>.<lang>.txt|html`` and unknown languages (warnings), HTML
  twins without their ``.txt``;
* syntax errors (with a "did you mean" for unknown filters and tests);
* names that are not notice context names (:data:`NOTICE_CONTEXT_NAMES`), Jinja globals, or
  declared by the template and the layouts it extends;
* ``case.data.<field>`` for fields the workflow does not have, and comparisons of ``case.state``
  with states it does not have;
* attributes the notice context does not have (``case.titel``, ``sla.dew`` …:
  :data:`NOTICE_ATTRIBUTES`), unless the template gives that name a value of its own;
* macros an imported template does not define (``h.zh_whenn`` after ``{% import
  "_layouts/helpers.txt" as h %}``, in the template or a layout it extends; ``{% from … import
  x %}``);
* references to templates that do not exist (or are not constant: a warning);
* notices that define no ``{% block subject %}`` / ``{% block body %}``.

:func:`notices_sent` lists every notice a workflow sends (state and transition ``notify``,
reminders, overdue rungs, escalations) with where it is named; :func:`missing_languages`
reports, at that place, each language the org's people read that has no template for it
(or, with the workflow's ``fallback_language``, when the fallback has none either).

File lookup is the renderer's (:class:`~gridflow.domain.templates.renderer.TemplateRenderer`);
``TemplateRenderer.check`` delegates here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import TemplateSyntaxError

from gridflow.domain.suggest import did_you_mean
from gridflow.domain.templates.renderer import (
    _FILE_RE,
    LANGUAGES,
    NOTICE_CONTEXT_NAMES,
    TemplateRenderer,
)
from gridflow.errors import Problem

__all__ = ["NOTICE_ATTRIBUTES", "check_templates", "missing_languages", "notices_sent"]

# What a notice template sees under each context name (``NoticeService.context``); a test
# keeps the two together. ``digest`` is the digest's own and not checked here.
NOTICE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "case": frozenset(
        {
            "id",
            "title",
            "workflow",
            "workflow_title",
            "state",
            "state_label",
            "data",
            "unit",
            "unit_name",
            "url",
        }
    ),
    "event": frozenset({"trigger", "comment", "actor", "actor_name", "from_state", "at"}),
    "sla": frozenset(
        {"clock", "due", "remaining", "overdue", "overdue_by", "paused", "provisional", "started"}
    ),
    "recipient": frozenset({"id", "name", "lang"}),
    "notice": frozenset({"kind", "label", "late_by"}),
}

_ALWAYS_ALLOWED_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
_Reference = nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport
_REFERENCES: tuple[type[_Reference], ...] = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
)


def check_templates(
    renderer: TemplateRenderer, workflow_id: str, *, fields: set[str], states: set[str]
) -> list[Problem]:
    """Every located problem in the workflow's templates (and the layouts they use).

    Problems are sorted by file and line; nothing is rendered.
    """
    files = renderer._workflow_files(workflow_id)
    problems: list[Problem] = []
    texts = {n.rsplit(".", 1)[0] for n in files if n.endswith(".txt")}
    for name, path in files.items():
        m = _FILE_RE.match(path.name)
        if not m:
            problems.append(
                Problem(
                    str(path),
                    0,
                    0,
                    "template",
                    "file name is not <notice>.<lang>.txt|html",
                    "warning",
                )
            )
            continue
        if m["lang"] not in LANGUAGES:
            problems.append(
                Problem(
                    str(path),
                    0,
                    0,
                    "template",
                    f"language {m['lang']!r} is not one of {', '.join(LANGUAGES)}"
                    + did_you_mean(m["lang"], LANGUAGES),
                    "warning",
                )
            )
        if m["ext"] == "html" and name.rsplit(".", 1)[0] not in texts:
            problems.append(
                Problem(str(path), 0, 0, "template", f"HTML twin without {path.stem}.txt")
            )
    queue = [(name, path, True) for name, path in files.items()]
    seen = set(files)
    while queue:
        name, path, is_notice = queue.pop(0)
        for ref, ref_path in _check_file(renderer, name, path, is_notice, fields, states, problems):
            if ref not in seen:
                seen.add(ref)
                queue.append((ref, ref_path, False))
    return sorted(problems, key=lambda p: (p.file, p.line))


def _check_file(
    renderer: TemplateRenderer,
    name: str,
    path: Path,
    is_notice: bool,
    fields: set[str],
    states: set[str],
    problems: list[Problem],
) -> list[tuple[str, Path]]:
    """Add the problems of one file to ``problems``; return the templates it references."""
    file = str(path)

    def add(line: int, message: str, severity: str = "error") -> None:
        problems.append(Problem(file, line, 0, "template", message, severity))

    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        add(0, f"cannot read: {exc}")
        return []
    try:
        ast = renderer.env.parse(source, name, file)
        renderer.env.compile(source, name, file)
    except TemplateSyntaxError as exc:
        add(
            exc.lineno or 0,
            (exc.message or "syntax error") + _hint(renderer.env, exc.message or ""),
        )
        return []
    defined_blocks, declared = _chain(renderer, ast)
    allowed = NOTICE_CONTEXT_NAMES | set(renderer.env.globals) | _ALWAYS_ALLOWED_NAMES | declared
    for var in sorted(meta.find_undeclared_variables(ast) - allowed):
        line = next(
            (n.lineno for n in ast.find_all(nodes.Name) if n.name == var and n.ctx == "load"), 0
        )
        add(
            line,
            f"unknown name {var!r}{did_you_mean(var, allowed)}; notices may use "
            + ", ".join(sorted(NOTICE_CONTEXT_NAMES)),
        )
    for line, message in _field_and_state_problems(ast, workflow_fields=fields, states=states):
        add(line, message)
    for line, message in _attribute_problems(ast, declared):
        add(line, message)
    for line, message in _macro_problems(renderer, ast):
        add(line, message)
    refs: list[tuple[str, Path]] = []
    for node in ast.find_all(_REFERENCES):
        target = node.template
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
            add(node.lineno, "template name is not a constant; it cannot be checked", "warning")
            continue
        ref_path = renderer._find(target.value)
        if ref_path is None:
            hint = did_you_mean(target.value, renderer.env.list_templates())
            add(node.lineno, f"no template {target.value!r}{hint}")
            continue
        refs.append((target.value, ref_path))
    if is_notice:
        needed = ("subject", "body") if name.endswith(".txt") else ("body",)
        for block in needed:
            if block not in defined_blocks:
                add(1, f"defines no {{% block {block} %}}")
    return refs


def _chain(
    renderer: TemplateRenderer, ast: nodes.Template, depth: int = 0
) -> tuple[set[str], set[str]]:
    """Blocks and names defined by ``ast`` and the layouts it extends (statically)."""
    blocks, names = {b.name for b in ast.find_all(nodes.Block)}, _declared_names(ast)
    for ext in ast.find_all(nodes.Extends):
        parent = ext.template.value if isinstance(ext.template, nodes.Const) else None
        path = renderer._find(parent) if isinstance(parent, str) and depth < 10 else None
        if path is None:
            continue
        try:
            parent_ast = renderer.env.parse(path.read_text(encoding="utf-8"), parent, str(path))
        except (OSError, UnicodeDecodeError, TemplateSyntaxError):
            continue
        more_blocks, more_names = _chain(renderer, parent_ast, depth + 1)
        blocks |= more_blocks
        names |= more_names
    return blocks, names


def _hint(env: jinja2.Environment, message: str) -> str:
    """`` (did you mean …?)`` for an unknown filter or test in a syntax error message."""
    m = re.search(r"No (filter|test) named '([^']+)'", message)
    if not m:
        return ""
    known = env.filters if m[1] == "filter" else env.tests
    return did_you_mean(m[2], known)


def _declared_names(ast: nodes.Template) -> set[str]:
    """Names a template assigns, imports or defines as macros (anywhere in it)."""
    names = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names |= {n.target for n in ast.find_all(nodes.Import)}
    names |= {n.name for n in ast.find_all(nodes.Macro)}
    for node in ast.find_all(nodes.FromImport):
        names |= {item[1] if isinstance(item, tuple) else item for item in node.names}
    return names


def _walk(node: nodes.Node, parent: nodes.Node | None = None) -> Iterator[tuple[nodes.Node, Any]]:
    stack: list[tuple[nodes.Node, Any]] = [(node, parent)]
    while stack:
        current, up = stack.pop()
        yield current, up
        stack.extend((child, current) for child in current.iter_child_nodes())


def _is_case_attr(node: nodes.Node, attr: str) -> bool:
    if isinstance(node, nodes.Getattr):
        key: object = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        key = node.arg.value
    else:
        return False
    return key == attr and isinstance(node.node, nodes.Name) and node.node.name == "case"


def _const_strings(node: nodes.Node) -> list[str] | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [i.value for i in node.items if isinstance(i, nodes.Const)]
        return [i for i in items if isinstance(i, str)]
    return None


def _field_and_state_problems(
    ast: nodes.Template, *, workflow_fields: set[str], states: set[str]
) -> Iterator[tuple[int, str]]:
    for node, parent in _walk(ast):
        data_field: object = None
        if isinstance(node, nodes.Getattr) and _is_case_attr(node.node, "data"):
            data_field = node.attr
            if (
                node.attr in _DICT_METHODS
                and isinstance(parent, nodes.Call)
                and parent.node is node
            ):
                first = parent.args[0] if parent.args else None
                is_key = node.attr == "get" and isinstance(first, nodes.Const)
                data_field = first.value if is_key else None  # type: ignore[union-attr]
        elif (
            isinstance(node, nodes.Getitem)
            and _is_case_attr(node.node, "data")
            and isinstance(node.arg, nodes.Const)
        ):
            data_field = node.arg.value
        if isinstance(data_field, str) and data_field not in workflow_fields:
            yield (
                node.lineno,
                (
                    f"case.data.{data_field} is not a field of this workflow"
                    + did_you_mean(data_field, workflow_fields)
                ),
            )
        if isinstance(node, nodes.Compare):
            sides = [node.expr, *(op.expr for op in node.ops)]
            if any(_is_case_attr(s, "state") for s in sides):
                for side in sides:
                    for value in _const_strings(side) or []:
                        if value not in states:
                            yield (
                                node.lineno,
                                (f"case.state is never {value!r}" + did_you_mean(value, states)),
                            )


def _attribute_problems(ast: nodes.Template, declared: set[str]) -> Iterator[tuple[int, str]]:
    """``case.titel`` and the like: an attribute the notice context does not give. A name
    the template (or its layouts) assigns or takes as a parameter is its own: not checked."""
    for node in ast.find_all(nodes.Getattr):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.ctx == "load"):
            continue
        known = NOTICE_ATTRIBUTES.get(target.name)
        if known is None or target.name in declared or node.attr in known:
            continue
        if node.attr in _DICT_METHODS:
            continue
        yield (
            node.lineno,
            f"{target.name} has no {node.attr!r}{did_you_mean(node.attr, known)}; "
            f"{target.name} has " + ", ".join(sorted(known)),
        )


def _imports(renderer: TemplateRenderer, ast: nodes.Template, depth: int = 0) -> dict[str, str]:
    """``{% import "x" as alias %}`` of the template and the layouts it extends: alias → x."""
    out = {
        n.target: n.template.value
        for n in ast.find_all(nodes.Import)
        if isinstance(n.template, nodes.Const) and isinstance(n.template.value, str)
    }
    for ext in ast.find_all(nodes.Extends):
        parent = ext.template.value if isinstance(ext.template, nodes.Const) else None
        path = renderer._find(parent) if isinstance(parent, str) and depth < 10 else None
        if path is None:
            continue
        try:
            parent_ast = renderer.env.parse(path.read_text(encoding="utf-8"), parent, str(path))
        except (OSError, UnicodeDecodeError, TemplateSyntaxError):
            continue
        for alias, name in _imports(renderer, parent_ast, depth + 1).items():
            out.setdefault(alias, name)
    return out


def _exported(renderer: TemplateRenderer, name: str) -> set[str] | None:
    """Macros and top-level names a template exports (None: it cannot be read)."""
    path = renderer._find(name)
    if path is None:
        return None
    try:
        ast = renderer.env.parse(path.read_text(encoding="utf-8"), name, str(path))
    except (OSError, UnicodeDecodeError, TemplateSyntaxError):
        return None
    names = {m.name for m in ast.body if isinstance(m, nodes.Macro)}
    names |= {
        t.name for a in ast.body if isinstance(a, nodes.Assign) for t in a.find_all(nodes.Name)
    }
    return names


def _macro_problems(renderer: TemplateRenderer, ast: nodes.Template) -> Iterator[tuple[int, str]]:
    """A macro an imported template does not define."""
    cache: dict[str, set[str] | None] = {}

    def exported(name: str) -> set[str] | None:
        if name not in cache:
            cache[name] = _exported(renderer, name)
        return cache[name]

    aliases = _imports(renderer, ast)
    for node in ast.find_all(nodes.Getattr):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name in aliases):
            continue
        source = aliases[target.name]
        macros = exported(source)
        if macros is not None and node.attr not in macros:
            hint = did_you_mean(node.attr, macros)
            yield node.lineno, f"{source} has no macro {node.attr!r}{hint}"
    for imp in ast.find_all(nodes.FromImport):
        if not (isinstance(imp.template, nodes.Const) and isinstance(imp.template.value, str)):
            continue
        macros = exported(imp.template.value)
        for item in imp.names:
            name = item[0] if isinstance(item, tuple) else item
            if macros is not None and name not in macros:
                hint = did_you_mean(name, macros)
                yield imp.lineno, f"{imp.template.value} has no macro {name!r}{hint}"


# ---- which notices a workflow sends, in which languages ---------------------------------------
def notices_sent(wf: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """(notice, YAML path naming it) for every notice ``wf`` (a ``Workflow``) sends: state and
    transition ``notify``, reminders and overdue rungs that notify someone (their
    ``template``, default ``reminder`` / ``overdue``), and ``escalation`` for a rung that
    escalates."""
    out: list[tuple[str, tuple[Any, ...]]] = []
    for name, state in wf.states.items():
        for i, n in enumerate(state.notify):
            out.append((n.template, ("states", name, "notify", i, "template")))
        if state.sla is None:
            continue
        base = ("states", name, "sla")
        for i, r in enumerate(state.sla.remind):
            if r.notify:
                out.append((r.template, (*base, "remind", i)))
        for i, step in enumerate(state.sla.overdue):
            if step.notify:
                out.append((step.template, (*base, "overdue", i)))
            if step.escalate:
                out.append(("escalation", (*base, "overdue", i, "escalate")))
    for i, t in enumerate(wf.transitions):
        for j, n in enumerate(t.notify):
            out.append((n.template, ("transitions", i, "notify", j, "template")))
    return out


def missing_languages(
    renderer: TemplateRenderer,
    wf: Any,
    languages: Iterable[str],
    fallback: str | None = None,
) -> list[tuple[tuple[Any, ...], str]]:
    """(YAML path, message) for each notice ``wf`` sends that has no template in a language
    of ``languages`` — first place named only — unless ``fallback`` has one."""
    have = renderer.available(wf.id)
    langs = sorted(set(languages))
    out: list[tuple[tuple[Any, ...], str]] = []
    seen: set[str] = set()
    for notice, path in notices_sent(wf):
        if notice in seen:
            continue
        seen.add(notice)
        present = have.get(notice, set())
        missing = [lang for lang in langs if lang not in present]
        if not missing:
            continue
        where = f"templates/{wf.id}/{notice}.<lang>.txt"
        if fallback is not None:
            if fallback not in present:
                out.append(
                    (
                        path,
                        f"notice {notice!r} has no template in {fallback} (the fallback "
                        f"language), so people reading {', '.join(missing)} get none ({where})",
                    )
                )
            continue
        out.append(
            (
                path,
                f"notice {notice!r} has no template in {', '.join(missing)} ({where}); "
                f"the org's people read {', '.join(langs)} — write it, or set "
                "fallback_language",
            )
        )
    return out
