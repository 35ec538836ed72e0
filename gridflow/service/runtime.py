"""What every part of the engine shares: the store, the clock, the calendar, who we are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gridflow.domain.calendar import BusinessCalendar
from gridflow.storage.store import Store


@dataclass
class Runtime:
    """The engine's shared state. ``calendar`` may be replaced (a reload with a new override
    file): parts read it from here on every use, never keep their own copy.

    ``clock`` returns the current time (inject a virtual one to run months in seconds);
    ``owner`` names this engine in leases (host:pid:random); ``base_url`` is where a case's
    page lives (notice links); ``default_channel`` takes notices of people who name none."""

    store: Store
    clock: Callable[[], datetime]
    calendar: BusinessCalendar
    owner: str
    base_url: str = "http://localhost/cases"
    default_channel: str = "console"

    def now(self) -> datetime:
        """The clock's time, as an aware datetime (a naive one is read as UTC)."""
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def case_url(self, case_id: int | None) -> str:
        return f"{self.base_url.rstrip('/')}/{case_id}"
