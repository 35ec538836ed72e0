"""Boards (service ring): cases in columns of states, with exact counts, under a principal's
visibility scope — the area board and the 举手 lists of the web workbench.

Which states make up which column is the caller's to say (for the built-in processes:
``gridflow.builtin.boards``); this part reads every column of one board in one read
transaction, so counts and cards agree with each other, and counts the open children of the
cases shown (a four-list problem's questions to departments still open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from gridflow.domain.access import CaseScope
from gridflow.domain.cases import Case
from gridflow.service.queries import CaseReader
from gridflow.service.runtime import Runtime
from gridflow.storage.browse import CaseFilter

MAX_CARDS = 200


@dataclass(frozen=True)
class ColumnSpec:
    """The states of one column and, for one holding closed cases, how far back it looks."""

    states: tuple[str, ...]
    closed_within: timedelta | None = None


@dataclass(frozen=True)
class ColumnCases:
    cases: list[Case]
    total: int  # every case of the column the scope sees and the filter keeps


@dataclass(frozen=True)
class Board:
    columns: list[ColumnCases]
    open_children: dict[int, int] = field(default_factory=dict)  # case id → open children


class Boards:
    """Read boards."""

    def __init__(self, rt: Runtime, reader: CaseReader):
        self.rt, self.reader = rt, reader

    def board(
        self,
        scope: CaseScope,
        f: CaseFilter,
        columns: Sequence[ColumnSpec],
        *,
        limit: int = 50,
        children: bool = True,
    ) -> Board:
        """Each column's first ``limit`` cards and its exact count, and (``children``) the
        open children of every case shown; one snapshot."""
        limit = max(1, min(limit, MAX_CARDS))
        now = self.rt.now()
        store = self.rt.store
        with store.read() as tx:
            found = [
                store.boards.column(
                    tx,
                    f,
                    scope,
                    spec.states,
                    limit=limit,
                    closed_since=None if spec.closed_within is None else now - spec.closed_within,
                )
                for spec in columns
            ]
            ids = [r.id for rows, _ in found for r in rows]
            kids = store.boards.open_children(tx, ids) if children else {}
        return Board(
            [ColumnCases([self.reader.case(r) for r in rows], n) for rows, n in found], kids
        )

    def counts(
        self, scope: CaseScope, filters: Sequence[CaseFilter], columns: Sequence[ColumnSpec]
    ) -> list[list[int]]:
        """For each filter (e.g. one per area of a street), each column's count; one
        snapshot."""
        now = self.rt.now()
        store = self.rt.store
        with store.read() as tx:
            return [
                [
                    store.boards.count(
                        tx,
                        f,
                        scope,
                        spec.states,
                        closed_since=None
                        if spec.closed_within is None
                        else now - spec.closed_within,
                    )
                    for spec in columns
                ]
                for f in filters
            ]

    def column(
        self, scope: CaseScope, f: CaseFilter, spec: ColumnSpec, *, limit: int = 50
    ) -> ColumnCases:
        """One column (a list of questions)."""
        return self.board(scope, f, [spec], limit=limit, children=False).columns[0]
