"""Whether one render of a notice can serve every recipient (domain, pure).

A notice goes to several people; most templates differ between them only where they print the
recipient's name (``{{ recipient.name or recipient.id }}``, a greeting). Such a template is
rendered once with placeholders in the recipient's place and the placeholders are replaced
per person — a render saved per extra recipient. A template that does anything else with
``recipient`` (tests it, compares it, filters it, passes it to a macro) is rendered per
person. The decision is static: every template of the chain (``extends``, ``include``,
``import``) is parsed and each use of ``recipient`` inspected.
"""

from __future__ import annotations

from collections.abc import Iterator

import jinja2
from jinja2 import meta, nodes

from gridflow.domain.notice import PLACEHOLDERS

_SEEN: dict[tuple[str, str], tuple[bool, tuple[str | None, ...]]] = {}
"""What one template's text says, by (name, text): whether it only prints ``recipient``,
and the templates it references. Layouts and helpers are shared by every notice, so each
is parsed once, not once per notice; an edited file has another text, so another entry
(the memo is emptied past :data:`_SEEN_MAX` entries)."""
_SEEN_MAX = 1024


def recipient_placeholders(env: jinja2.Environment, name: str) -> bool:
    """True when template ``name`` and every template it references use ``recipient`` only
    as ``{{ recipient.id }}`` / ``{{ recipient.name }}`` output (alone, or joined with
    ``or``/``and``): then a render with :data:`PLACEHOLDERS` serves every recipient."""
    seen: set[str] = set()
    queue = [name]
    while queue:
        current = queue.pop()
        if current in seen:
            continue
        seen.add(current)
        assert env.loader is not None
        try:
            source, _filename, _uptodate = env.loader.get_source(env, current)
        except jinja2.TemplateNotFound:
            return False
        key = (current, source)
        if key not in _SEEN:
            try:
                ast = env.parse(source, current)
            except jinja2.TemplateSyntaxError:
                return False
            if len(_SEEN) >= _SEEN_MAX:
                _SEEN.clear()
            _SEEN[key] = (_only_printed(ast), tuple(meta.find_referenced_templates(ast)))
        only_printed, refs = _SEEN[key]
        if not only_printed:
            return False
        for ref in refs:
            if ref is None:  # a computed name: cannot tell what it does
                return False
            queue.append(ref)
    return True


def _only_printed(ast: nodes.Template) -> bool:
    for node, parents in _walk(ast, ()):
        if not (isinstance(node, nodes.Name) and node.name == "recipient"):
            continue
        if node.ctx != "load":
            return False  # assigned to: a different thing altogether
        if not parents or not isinstance(parents[-1], nodes.Getattr):
            return False
        if parents[-1].attr not in PLACEHOLDERS:
            return False
        # every node between the Getattr and the Output printing it is Or/And
        i = len(parents) - 2
        while i >= 0 and isinstance(parents[i], (nodes.Or, nodes.And)):
            i -= 1
        if i < 0 or not isinstance(parents[i], nodes.Output):
            return False
    return True


def _walk(
    node: nodes.Node, parents: tuple[nodes.Node, ...]
) -> Iterator[tuple[nodes.Node, tuple[nodes.Node, ...]]]:
    yield node, parents
    for child in node.iter_child_nodes():
        yield from _walk(child, (*parents, node))
