"""``gridflow daemon | tick | status``: time passing, by the scheduler or by hand."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import tzinfo

import click

from gridflow.drivers.cli.context import Context, echo_json, parse_when, pass_ctx


@click.command()
@click.option("--now", "now_text", metavar="ISO", help="Virtual time for this pass.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def tick(obj: Context, now_text: str | None, as_json: bool) -> None:
    """Run one pass over due timers by hand."""
    engine = obj.engine()
    now = parse_when(now_text, obj.tz) if now_text else None
    result = engine.tick(now)
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps(asdict(result), ensure_ascii=False))
    else:
        click.echo(
            f"claimed {result.claimed}, acted on {result.fired} ({result.late} late), "
            f"skipped {result.skipped}, errors {len(result.errors)}"
        )
        for e in result.errors:
            click.echo(f"  {e}", err=True)
    if result.errors:
        sys.exit(1)


class _ZonedFormatter(logging.Formatter):
    """Log lines stamped in the business timezone (``Context.tz``), not the host's."""

    def __init__(self, fmt: str, tz: tzinfo):
        super().__init__(fmt)
        self.tz = tz

    def converter(self, seconds: float | None) -> time.struct_time:
        from datetime import datetime

        return datetime.fromtimestamp(seconds or 0.0, self.tz).timetuple()


@click.command()
@click.option("--interval", type=float, help="Seconds between passes [default: 5].")
@click.option("--once", is_flag=True, help="Run one pass and exit.")
@click.option("-v", "--verbose", is_flag=True)
@pass_ctx
def daemon(obj: Context, interval: float | None, once: bool, verbose: bool) -> None:
    """Run the scheduler: SLA timers, notice delivery, digests, reloads. SIGTERM stops.
    Log lines are stamped in the business timezone."""
    import signal
    from pathlib import Path

    # A stop asked for while the daemon is still starting is a clean stop: nothing is under
    # way yet (any open transaction rolls back). ``Daemon.run`` installs its own handlers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from gridflow.drivers.daemon import Daemon
    from gridflow.drivers.notifiers.registry import build_dispatcher
    from gridflow.drivers.schedlog import QuietSkips

    handler = logging.StreamHandler()
    handler.setFormatter(_ZonedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", obj.tz))
    handler.addFilter(QuietSkips())  # a long pass: one line, not one per skipped run
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    engine = obj.engine()
    conf = obj.settings.daemon
    every = interval or float(conf.get("interval_seconds", 5))
    overrides = obj.settings.calendar.overrides
    Daemon(
        engine,
        build_dispatcher(engine, obj.settings),
        interval=every,
        cron=conf.get("cron", []),
        watch=obj.settings.workflows_dir(),
        once=once,
        calendar_factory=obj.settings.calendar.build,
        calendar_file=Path(overrides) if overrides else None,
    ).run()


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Live daemons, due timers, notice backlog, calendar coverage."""
    from datetime import UTC, datetime, timedelta

    engine = obj.engine()
    info = engine.status()
    now = datetime.now(UTC)
    uncovered = engine.calendar.uncovered_years_between(now, now + timedelta(days=60))
    info["calendar_uncovered_years"] = uncovered
    if as_json:
        echo_json(info)
        return
    from tabulate import tabulate

    live = [d for d in info["daemons"] if d["live"]]
    click.echo(f"database     {engine.store.safe_url}")
    click.echo(
        f"daemons      {len(live)} live"
        + (
            f", {len(info['daemons']) - len(live)} silent"
            if len(live) < len(info["daemons"])
            else ""
        )
    )
    if info["daemons"]:
        rows = [
            (
                d["id"],
                d["pid"],
                "live" if d["live"] else "silent",
                _age(d["timers_age_s"]),
                _age(d["delivery_age_s"]),
                d["ticks"],
                d["timers_fired"],
                d["notices_sent"],
            )
            for d in info["daemons"]
        ]
        click.echo(
            tabulate(
                rows,
                headers=[
                    "daemon",
                    "pid",
                    "",
                    "timers beat",
                    "delivery beat",
                    "passes",
                    "timers",
                    "notices",
                ],
            )
        )
    n = info["notices"]
    click.echo(f"timers       {info['timers_due']} due now, {info['timers_pending']} pending")
    click.echo(
        f"notices      {n.get('pending', 0)} pending, {n.get('sent', 0)} sent, "
        f"{n.get('dead', 0)} dead"
    )
    if info["provisional_deadlines"]:
        click.echo(
            f"deadlines    {info['provisional_deadlines']} open case(s) have PROVISIONAL "
            "deadlines (holiday data missing)"
        )
    for year in uncovered:
        click.echo(
            f"warning: the business calendar has no holiday data for {year}; deadlines "
            "reaching into it are provisional — add the year to the override file",
            err=True,
        )


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds}s ago"


COMMANDS = [daemon, tick, status]
