"""Waiting in tests on progress, never on a wall clock.

A loaded machine makes everything slower, so a fixed deadline fails tests that were going
fine. ``wait_for_progress`` waits as long as the thing watched keeps moving: it gives up only
when it has not changed for ``stall`` seconds (the work is stuck, not slow), or at once when
a process it depends on has died (with that process's story in the message).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def wait_for_progress(
    measure: Callable[[], T],
    done: Callable[[T], bool],
    *,
    stall: float = 90.0,
    alive: Iterable[subprocess.Popen] = (),
    why: Callable[[], str] = lambda: "",
    poll: float = 0.1,
) -> T:
    """Poll ``measure()`` until ``done(value)``; fail if the value stops changing for
    ``stall`` seconds or a process in ``alive`` exits. Returns the last value."""
    procs = list(alive)
    value = measure()
    moved = time.monotonic()
    while not done(value):
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"process {p.pid} exited ({p.returncode}); {why()}")
        if time.monotonic() - moved > stall:
            raise AssertionError(f"no progress for {stall:.0f} s (last: {value!r}); {why()}")
        time.sleep(poll)
        now = measure()
        if now != value:
            value, moved = now, time.monotonic()
    return value
