"""Running the API: uvicorn, the daemon beside it, signals (driver ring).

``serve`` runs one uvicorn server (one process; run several behind a balancer on one
PostgreSQL for more). ``--with-daemon`` runs the daemon's passes and cron jobs in a
background scheduler of the same process — the embedded default for a single machine.

Signals: SIGTERM/SIGINT stop (uvicorn finishes requests under way, streams close within
``GRACEFUL_SECONDS``); SIGHUP reloads the workflows, the org directory and the calendar
(through the daemon when it runs here, else directly).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridflow.drivers.config import Settings
    from gridflow.service.engine import Engine

log = logging.getLogger("gridflow.http.server")
GRACEFUL_SECONDS = 3


def start_daemon(engine: Engine, settings: Settings) -> Any:
    """The daemon's passes and cron jobs on a background scheduler; returns the daemon
    (its ``scheduler`` shuts it down)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from gridflow.drivers.daemon import Daemon
    from gridflow.drivers.notifiers.registry import build_dispatcher

    overrides = settings.calendar.overrides
    daemon = Daemon(
        engine,
        build_dispatcher(engine, settings),
        interval=float(settings.daemon.get("interval_seconds", 5)),
        cron=settings.daemon.get("cron", []),
        watch=settings.workflows_dir(),
        calendar_factory=settings.calendar.build,
        calendar_file=Path(overrides) if overrides else None,
    )
    daemon.scheduler = sched = BackgroundScheduler(timezone=str(engine.calendar.tz))
    daemon.schedule(sched)
    sched.start()
    log.info("daemon %s runs beside the server, every %.1fs", daemon.id, daemon.interval)
    return daemon


def serve(
    engine: Engine, settings: Settings, *, host: str, port: int, with_daemon: bool = False
) -> None:
    """Serve until SIGTERM/SIGINT."""
    import uvicorn

    from gridflow.drivers.http import logs
    from gridflow.drivers.http.app import create_app

    logs.configure(settings.http.log_format, debug=bool(os.environ.get("GRIDFLOW_DEBUG")))
    app = create_app(engine, settings.http, web=settings.web)
    daemon = start_daemon(engine, settings) if with_daemon else None

    def reload() -> None:
        try:
            engine.reload(settings.calendar.build())
            log.info("reloaded workflows and the org directory (SIGHUP)")
        except Exception as exc:  # a broken edit keeps the last good definitions
            log.error("reload refused; keeping the last good definitions: %s", exc)

    def on_hup(*_: object) -> None:
        if daemon is not None:
            daemon.request_reload()
        else:
            threading.Thread(target=reload, name="gf-reload", daemon=True).start()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )
    log.info("gridflow serving on http://%s:%d over %s", host, port, engine.store.safe_url)
    try:
        uvicorn.Server(config).run()
    finally:
        app.state.api.stopping.set()
        if daemon is not None:
            daemon.scheduler.shutdown(wait=True)
            daemon.dispatcher.close()
            daemon._stopped()
        engine.close()
