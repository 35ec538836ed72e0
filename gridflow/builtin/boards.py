"""The boards of the built-in processes: which states make up which column (the pack).

This is the one place that maps the four-list workflow's states to the four lists the area
board shows, and says which raise-hand questions the two 举手 boards list. The web workbench
reads it; nothing else names these states. (A ``kpis:`` block with stages in the workflow
format may later say the same from the YAML.)

- **Area board (片区看板)**: four columns — 问题清单 problem (just listed), 协调清单
  coordination (accepted: the area coordinates, departments work, escalations and long-term
  holds), 反馈清单 feedback (results reported back), 销项清单 closure (inspected, and written
  off within the last ``closed_within_days`` days).
- **必答题 (must answer)**: grid questions addressed to a department and waiting for it.
- **抢答题 (race to claim)**: department questions open for claims; a grid raises its hand
  with ``trigger`` (and takes it back with ``withdraw``); places are ``places_field`` minus
  the hands in ``hands_field``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a board: ``key``, its label (zh, en), the states it holds and, for a
    column of closed cases, how many days back it looks."""

    key: str
    label: tuple[str, str]
    states: tuple[str, ...]
    closed_within_days: int | None = None


@dataclass(frozen=True)
class AreaBoard:
    """A board of one workflow's cases in columns. ``party_field``: the field the
    department filter reads (the workflow's ``party`` facet); ``reworks_field``: shown on
    cards; ``deadline_label``: what a card's deadline is called."""

    workflow: str
    title: tuple[str, str]
    columns: tuple[Column, ...]
    party_field: str | None = None
    reworks_field: str | None = None


@dataclass(frozen=True)
class QuestionList:
    """A list of questions of one workflow: those tagged ``tag`` in ``states``."""

    workflow: str
    tag: str
    states: tuple[str, ...]
    title: tuple[str, str]
    trigger: str | None = None  # the one-tap action (raise a hand)
    withdraw: str | None = None
    places_field: str | None = None
    hands_field: str | None = None


AREA_BOARD = AreaBoard(
    workflow="four_list",
    title=("片区看板", "Area board"),
    columns=(
        Column("problem", ("问题清单", "Problem list"), ("listed",)),
        Column(
            "coordination",
            ("协调清单", "Coordination list"),
            (
                "coordinating",
                "asking",
                "in_progress",
                "escalated",
                "at_district",
                "hold_requested",
                "on_hold",
                "review",
            ),
        ),
        Column("feedback", ("反馈清单", "Feedback list"), ("feedback",)),
        Column(
            "closure",
            ("销项清单", "Closure list"),
            ("verifying", "written_off"),
            closed_within_days=30,
        ),
    ),
    party_field="lead_department",
    reworks_field="reworks",
)

MUST_ANSWER = QuestionList(
    workflow="raise_hand",
    tag="grid_asks",
    states=("dispatched", "signed", "answering", "extension_requested", "supervised"),
    title=("必答题", "Must answer"),
)

RACE_TO_CLAIM = QuestionList(
    workflow="raise_hand",
    tag="dept_asks",
    states=("open",),
    title=("抢答题", "Race to claim"),
    trigger="raise_hand",
    withdraw="withdraw_hand",
    places_field="max_awardees",
    hands_field="hands",
)

__all__ = ["AREA_BOARD", "MUST_ANSWER", "RACE_TO_CLAIM", "AreaBoard", "Column", "QuestionList"]
