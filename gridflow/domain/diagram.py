"""Workflow diagrams, drawn by ``transitions``' own GraphMachine (Mermaid, or Graphviz dot)."""

from __future__ import annotations

import re


def draw(wf, fmt: str = "mermaid", *, current: str | None = None, lang: str = "zh-CN") -> str:
    """The diagram source of a compiled workflow; ``current`` highlights a case's state."""
    from transitions.extensions.diagrams import GraphMachine

    d = wf.definition

    class _Model:
        pass

    model = _Model()
    engine = "mermaid" if fmt == "mermaid" else "graphviz"
    machine = GraphMachine(
        model=model,
        states=list(d.states),
        initial=current or d.initial_states[0],
        auto_transitions=False,
        graph_engine=engine,
        title=f"{d.title.get(lang)} ({d.id})",
        show_conditions=False,
    )
    for t in d.transitions:
        label = t.trigger + (f" [{t.when}]" if t.when else "")
        machine.add_transition(label, "*" if t.source == "*" else t.sources, t.dest)
    g = model.get_graph()
    source = g.draw(None) if engine == "mermaid" else g.source
    for name, state in d.states.items():
        text = (state.label.get(lang) if state.label else name) + (" ◉" if state.final else "")
        if engine == "mermaid":
            source = source.replace(f'state "{name}" as {name}\n', f'state "{text}" as {name}\n')
        else:
            source = re.sub(
                rf'(\n\t{re.escape(name)} \[label=")[^"]*"',
                lambda m, t=text: f'{m.group(1)}{t}"',
                source,
            )
    return source
