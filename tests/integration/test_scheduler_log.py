"""Issue #17, finding 7: APScheduler logged a warning every second while a long pass ran
(113 in one run). With the daemon's log filter, a real scheduler whose job outlasts its
interval many times over says so once."""

from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from waiting import wait_for_progress

from gridflow.drivers.schedlog import QuietSkips


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def test_a_long_pass_is_one_warning_not_one_per_skipped_run():
    handler, quiet = _Lines(), QuietSkips(window=60)
    handler.addFilter(quiet)
    logger = logging.getLogger("apscheduler")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    release, started = threading.Event(), threading.Event()

    def long_pass() -> None:
        started.set()
        release.wait(120)  # the pass runs until the test has seen runs skipped

    scheduler = BackgroundScheduler()
    scheduler.add_job(long_pass, "interval", seconds=0.05, max_instances=1, coalesce=True)
    try:
        scheduler.start()
        assert started.wait(60)
        wait_for_progress(lambda: quiet.held_back, lambda n: n >= 20)  # 20 runs skipped
    finally:
        release.set()
        scheduler.shutdown(wait=True)
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    warnings = [line for line in handler.lines if line.startswith("WARNING")]
    assert len(warnings) == 1, warnings
    assert "the previous run is still going, so runs are skipped until it ends" in warnings[0]
    assert "said once a 60 s" in warnings[0]


def test_other_lines_pass_and_the_count_is_told_after_the_window():
    clock = [0.0]
    quiet = QuietSkips(window=60, clock=lambda: clock[0])

    def record(message: str, name: str = "apscheduler.scheduler") -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), None)

    skip = 'Execution of job "pass (trigger: interval[0:00:05])" skipped: maximum number of running instances reached (1)'
    assert quiet.filter(record(skip))
    assert not any(quiet.filter(record(skip)) for _ in range(50))
    assert quiet.filter(record("Job x executed successfully"))
    assert quiet.filter(record(skip, name="gridflow.drivers.daemon"))  # not the scheduler's
    clock[0] = 61
    later = record(skip)
    assert quiet.filter(later) and "50 such lines held back" in later.getMessage()
