"""Workflow diagrams, drawn by ``transitions``' own GraphMachine (Mermaid, or Graphviz dot)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def draw(wf: Any, fmt: str = "mermaid", *, current: str | None = None, lang: str = "zh-CN") -> str:
    """The diagram source of a compiled workflow ``wf``.

    Exactly ``current`` (a case's state) is styled as active; without it no state is. The
    start arrow (Mermaid's ``[*] -->``) points at the workflow's first initial state, never at
    ``current``. State boxes carry their labels in ``lang``, final states a ``◉``.
    """
    from transitions.extensions.diagrams import GraphMachine

    d = wf.definition
    engine = "mermaid" if fmt == "mermaid" else "graphviz"
    # no model: the library styles a model's state as the active one, and the diagram of a
    # workflow has no state of its own (the graph below is built straight from the machine)
    machine = GraphMachine(
        model=None,
        states=list(d.states),
        initial=d.initial_states[0],
        auto_transitions=False,
        graph_engine="mermaid" if engine == "mermaid" else "graphviz",
        title=f"{d.title.get(lang)} ({d.id})",
        show_conditions=False,
    )
    for t in d.transitions:
        label = t.trigger + (f" [{t.when}]" if t.when else "")
        machine.add_transition(label, "*" if t.source == "*" else list(t.sources), t.dest)
    graph = machine.graph_cls(machine)
    if current is not None:
        graph.set_node_style(current, "active")
    g: Any = graph.get_graph(title=machine.title)  # Mermaid's own object, or graphviz.Digraph
    source: str = g.draw(None) if engine == "mermaid" else g.source
    for name, state in d.states.items():
        text = (state.label.get(lang) if state.label else name) + (" ◉" if state.final else "")
        if engine == "mermaid":
            source = source.replace(f'state "{name}" as {name}\n', f'state "{text}" as {name}\n')
        else:
            source = re.sub(rf'(\n\t{re.escape(name)} \[label=")[^"]*"', _label(text), source)
    return source


def _label(text: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement putting ``text`` in a dot node's ``label="…"``."""
    return lambda m: f'{m.group(1)}{text}"'
