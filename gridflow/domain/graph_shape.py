"""Loading, stage 3: the shape of a workflow's graph — unreachable states, dead ends, no final
state — drawn over what the author wrote (pure).

Nodes are every state written (broken ones too); edges every transition written (the ones
the schema stage refused, as written); an unknown state name stands for the state its "did
you mean" names. Where that leaves a transition's source or dest unknown, the check it could
change is not made: one mistake, one problem — and the shape is still checked when other
problems exist.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from gridflow.domain.suggest import closest

if TYPE_CHECKING:
    from gridflow.domain.graph_checks import GraphChecker


def check_shape(checker: GraphChecker) -> None:
    """Unreachable states, dead ends, no final state. Nodes are every state written
    (broken ones too); edges every transition written (dropped ones as written); an
    unknown state name stands for the state its "did you mean" names. Where that leaves
    a transition's source or dest unknown, the check it could change is not made."""
    wf = checker.wf
    nodes = checker.known_states

    def resolve(name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        return name if name in nodes else closest(name, nodes)

    def sources(value: Any) -> list[str | None]:
        if value == "*":
            return list(nodes)
        items = value if isinstance(value, list) else [value]
        return [resolve(s) for s in items]

    written: list[tuple[Any, Any]] = [(t.source, t.dest) for t in wf.transitions]
    written += [(t.get("source"), t.get("dest")) for t in checker.dropped]
    edges: dict[str, set[str]] = {s: set() for s in nodes}
    dest_unknown = source_unknown = False
    for source, dest in written:
        to = resolve(dest)
        froms = sources(source)
        dest_unknown |= to is None
        source_unknown |= None in froms or not froms
        for s in froms:
            if s is not None and to is not None:
                edges[s].add(to)
    starts = [s for s in (resolve(x) for x in wf.initial_states) if s is not None]
    raw_initial = checker.loc.value.get("initial") if isinstance(checker.loc.value, dict) else None
    if not starts and isinstance(raw_initial, str):
        starts = [s for s in [resolve(raw_initial)] if s is not None]
    finals = wf.final_states | checker._raw_finals()
    if starts and not dest_unknown:
        reached, todo = set(starts), deque(starts)
        while todo:
            for nxt in edges[todo.popleft()]:
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        for name in _state_order(checker):
            if name not in reached:
                checker.error(
                    ("states", name),
                    f"state {name!r} cannot be reached from {' or '.join(map(repr, starts))}",
                )
    if not source_unknown:
        for name in _state_order(checker):
            if name in checker.broken_states or name in finals:
                continue
            if not edges[name]:
                checker.error(("states", name), f"state {name!r} is not final and has no way out")
    if not finals:
        checker.error(("states",), "no state is final: cases could never close")


def _state_order(checker: GraphChecker) -> list[str]:
    """Every state written, in file order."""
    raw = checker.loc.value.get("states") if isinstance(checker.loc.value, dict) else None
    if isinstance(raw, dict):
        return [n for n in raw if isinstance(n, str) and n in checker.known_states]
    return list(checker.wf.states)
