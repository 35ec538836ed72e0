"""``gridflow daemon``: APScheduler as the heartbeat of timers, delivery and digests.

APScheduler (3.11, in-memory job store only: its SQL job store pickles jobs and cannot be
shared) runs two jobs, each in its own thread, each scheduling its next pass ``interval``
seconds after the last one ended (a long pass never overlaps itself, and nothing is logged
as skipped): **timers** — a reload when workflow files changed, then ``engine.tick`` (due SLA
timers); **delivery** — the outbox dispatcher. Each beats on its own (``gf_daemon``:
``timers_at``, ``delivery_at``), so a slow webhook can hold up neither the timers nor the
evidence that they run. Cron jobs come from configuration (``[[daemon.cron]] job =
"digest", cron = "30 8 * * mon-fri"``: the overdue digest per unit). Durable state lives in
the database, never in the scheduler, so any number of daemons can run against one
PostgreSQL and a killed daemon loses nothing.

Signals: SIGTERM/SIGINT stop after the current pass; SIGHUP reloads workflows and the org.
A broken edit is logged with its located errors and the last good definitions stay.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridflow.errors import DefinitionError, GridflowError

log = logging.getLogger("gridflow.drivers.daemon")


class Daemon:
    def __init__(
        self,
        engine,
        dispatcher,
        *,
        interval: float = 5.0,
        cron: list | None = None,
        watch: Path | None = None,
        once: bool = False,
        calendar_factory=None,
        calendar_file: Path | None = None,
    ):
        """``calendar_factory`` builds the calendar again on reload (a new override file, or
        a chinesecalendar upgrade), and provisional deadlines are then recomputed;
        ``calendar_file`` (the override file) is watched like the workflow files."""
        self.engine, self.dispatcher = engine, dispatcher
        if not engine.definitions.loaded:  # a daemon does not start on broken files, and a
            engine.load_workflows()  # pass never reads a file it was not asked to reload
        self.calendar_factory, self.calendar_file = calendar_factory, calendar_file
        self.interval, self.cron, self.watch, self.once = interval, cron or [], watch, once
        self.id = engine.owner
        self._reload = threading.Event()
        self._mtimes = self._snapshot()
        self.scheduler = None
        self.passes = 0

    # ---- one pass -----------------------------------------------------------------------
    def run_pass(self) -> None:
        """One pass of each job, in turn (``--once``, tests). Never raises."""
        self.timers_pass()
        self.delivery_pass()
        self.passes += 1

    def timers_pass(self) -> None:
        """Reload if asked or files changed; act on due timers; beat. Never raises."""
        try:
            if self._reload.is_set() or self._changed():
                self._reload.clear()
                self.reload()
            ticked = self.engine.tick(self.engine.now())
            self._beat("timers", fired=ticked.fired)
            if ticked.fired:
                log.info("timers: %d acted on (%d late)", ticked.fired, ticked.late)
            for err in ticked.errors:
                log.warning("%s", err)
        except GridflowError as exc:
            log.error("timer pass failed: %s", exc)
        except Exception:
            log.exception("timer pass failed")

    def delivery_pass(self) -> None:
        """Deliver due notices; beat. Never raises."""
        try:
            sent = self.dispatcher.run_once(self.engine.now())
            self._beat("delivery", sent=sent.sent)
            if sent.claimed:
                log.info(
                    "delivery: %d sent, %d retried, %d dead", sent.sent, sent.retried, sent.dead
                )
            for err in sent.errors:
                log.warning("%s", err)
        except GridflowError as exc:
            log.error("delivery pass failed: %s", exc)
        except Exception:
            log.exception("delivery pass failed")

    def reload(self) -> None:
        """Load changed files. Whatever goes wrong — located errors, or anything a loader
        should never raise — is logged and the last good definitions stay; passes go on
        (and the same broken files are not tried again until they change)."""
        try:
            calendar = self.calendar_factory() if self.calendar_factory else None
            self.engine.reload(calendar)
            log.info("reloaded workflows: %s", ", ".join(sorted(self.engine.workflows)))
        except DefinitionError as exc:
            log.error(
                "reload refused; keeping the last good definitions:\n%s",
                "\n".join(str(p) for p in exc.problems),
            )
        except GridflowError as exc:
            log.error("reload refused; keeping the last good definitions: %s", exc)
        except Exception:
            log.exception("reload failed; keeping the last good definitions")
        self._mtimes = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        files = list(self.watch.rglob("*.yaml")) if self.watch and self.watch.is_dir() else []
        if self.calendar_file is not None and self.calendar_file.is_file():
            files.append(self.calendar_file)
        return {str(p): p.stat().st_mtime for p in files}

    def _changed(self) -> bool:
        return self._snapshot() != self._mtimes

    def _beat(self, job: str, *, fired: int = 0, sent: int = 0) -> None:
        store = self.engine.store
        with store.write() as tx:
            # liveness is wall time, whatever the engine's clock says
            store.heartbeat.beat(
                tx,
                self.id,
                job=job,
                host=socket.gethostname(),
                pid=os.getpid(),
                at=datetime.now(UTC),
                fired=fired,
                sent=sent,
            )

    def _stopped(self) -> None:
        store = self.engine.store
        with store.write() as tx:
            store.heartbeat.stopped(tx, self.id, datetime.now(UTC))

    # ---- scheduling --------------------------------------------------------------------
    def digest(self) -> None:
        try:
            n = self.engine.digest()
            log.info("digest: %d notices", n)
        except Exception:
            log.exception("digest failed")

    def _again(self, name: str, job: Callable[[], None]) -> Callable[[], None]:
        """``job``, then its next run ``interval`` seconds after this one ended."""

        def run_and_reschedule() -> None:
            job()
            if name == "timers":
                self.passes += 1
            sched = self.scheduler
            if sched is not None and sched.running:
                later = datetime.now(UTC) + timedelta(seconds=self.interval)
                try:
                    sched.add_job(run_and_reschedule, "date", run_date=later, id=name)
                except Exception:  # shutting down: no next run
                    log.debug("%s: not rescheduled (stopping)", name)

        return run_and_reschedule

    def run(self) -> None:
        """Block until SIGTERM/SIGINT; the passes under way are finished first."""
        if self.once:
            self.run_pass()
            self._stopped()
            return
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.scheduler = sched = BlockingScheduler(timezone=str(self.engine.calendar.tz))
        self.schedule(sched)

        def stop(signum, _frame):
            log.info("signal %s: stopping after the current pass", signal.Signals(signum).name)
            threading.Thread(target=sched.shutdown, kwargs={"wait": True}, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        log.info(
            "daemon %s: every %.1fs over %s", self.id, self.interval, self.engine.store.safe_url
        )
        try:
            sched.start()
        finally:
            self.dispatcher.close()
            self._stopped()
            log.info("daemon %s stopped after %d passes", self.id, self.passes)

    def request_reload(self) -> None:
        """Reload before the next pass (what SIGHUP does)."""
        self._reload.set()

    def schedule(self, sched) -> None:
        """Add the timer and delivery jobs and the configured cron jobs to an APScheduler
        scheduler (the blocking one of ``run``, or a background one beside ``gridflow
        serve``)."""
        from apscheduler.triggers.cron import CronTrigger

        self.scheduler = sched
        for name, loop in (("timers", self.timers_pass), ("delivery", self.delivery_pass)):
            sched.add_job(self._again(name, loop), "date", run_date=datetime.now(UTC), id=name)
        jobs = {"digest": self.digest}
        for i, entry in enumerate(self.cron):
            job = jobs.get(entry.get("job", ""))
            if job is None:
                raise GridflowError(
                    f"daemon.cron[{i}]: unknown job {entry.get('job')!r} (known: {', '.join(jobs)})"
                )
            sched.add_job(
                job,
                CronTrigger.from_crontab(entry["cron"], timezone=str(self.engine.calendar.tz)),
                id=f"cron-{i}",
                max_instances=1,
                coalesce=True,
            )
