"""The ranges of what callers pass the engine: case ids, page sizes (service ring).

Ids are 64-bit in both databases: an id past ``MAX_ID`` names no case (``NotFound``), it is
never sent to the database (SQLite's driver raises ``OverflowError`` on it). A page holds at
most ``MAX_PAGE`` cases. Out-of-range arguments are an ``InvalidArgument`` naming the
argument and its range, so every driver (CLI, HTTP API) says the same.
"""

from __future__ import annotations

from gridflow.errors import InvalidArgument, NotFound

MAX_ID = 2**63 - 1
MAX_PAGE = 10_000

__all__ = ["MAX_ID", "MAX_PAGE", "case_id", "page"]


def case_id(value: object) -> int:
    """``value`` as a case id: an int; one outside 1..``MAX_ID`` is ``NotFound``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument("case id", value, "a whole number")
    if not 1 <= value <= MAX_ID:
        raise NotFound("case", value)
    return value


def page(limit: object, offset: object = 0) -> tuple[int, int]:
    """``(limit, offset)`` checked: 1 ≤ limit ≤ ``MAX_PAGE``, 0 ≤ offset ≤ ``MAX_ID``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument("limit", limit, f"a whole number from 1 to {MAX_PAGE}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_ID:
        raise InvalidArgument("offset", offset, f"a whole number from 0 to {MAX_ID}")
    return limit, offset
