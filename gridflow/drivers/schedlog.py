"""Quieter scheduler logs: one line per long pass, not one per skipped run (driver ring).

APScheduler runs the daemon's pass every few seconds with ``max_instances=1``; while one pass
runs longer than the interval, every due run is skipped with a WARNING ("Execution of job …
skipped: maximum number of running instances reached"), and a run that starts late is a
WARNING too ("Run time of job … was missed by …") — a long pass filled the log with one line a
second. :class:`QuietSkips`, a filter on the daemon's log handler, lets the first such line of
a job through, reworded to say what it means, and holds back the others for ``window``
seconds, then says how many it held back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

__all__ = ["QuietSkips"]

_SKIP = re.compile(r'^Execution of job "(?P<job>.*)" skipped: maximum number of running')
_MISSED = re.compile(r'^Run time of job "(?P<job>.*)" was missed by')


class QuietSkips(logging.Filter):
    """A handler filter: at most one "skipped"/"missed" line per job every ``window``
    seconds, with the count of those held back since the last one."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window, self.clock = window, clock
        self._until: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self.held_back = 0  # lines dropped so far (for tests and status)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apscheduler"):
            return True
        message = record.getMessage()
        match = _SKIP.match(message) or _MISSED.match(message)
        if match is None:
            return True
        job, now = match["job"].split(" (trigger", 1)[0], self.clock()
        if now < self._until.get(job, 0.0):
            self._held[job] = self._held.get(job, 0) + 1
            self.held_back += 1
            return False
        held = self._held.pop(job, 0)
        self._until[job] = now + self.window
        what = (
            "the previous run is still going, so runs are skipped until it ends"
            if _SKIP.match(message)
            else "it started late (the process was busy)"
        )
        since = f"; {held} such lines held back" if held else ""
        record.msg = f"job {job}: {what} (said once a {self.window:.0f} s{since})"
        record.args = ()
        return True
