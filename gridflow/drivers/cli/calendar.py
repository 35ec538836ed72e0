"""``gridflow calendar``: working-day deadlines and the holiday calendar, from the command line.

    gridflow calendar due --from 2026-09-28 --add 5wd [--json]
    gridflow calendar show 2026-10 [--json]

The calendar comes from the settings (``[calendar]`` in gridflow.toml, GRIDFLOW_TIMEZONE,
GRIDFLOW_CALENDAR_OVERRIDES). Heavy modules are imported inside the commands so that
``gridflow --help`` stays fast.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gridflow.domain.calendar import BusinessCalendar, DayInfo

_MARKS = {"holiday": "休", "makeup": "班"}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _calendar(ctx: click.Context) -> BusinessCalendar:
    """The configured calendar (the root command's settings: ``--config``, environment);
    settings or override-file mistakes become a ClickException."""
    from gridflow.drivers.cli.context import Context
    from gridflow.drivers.config import load_settings
    from gridflow.errors import GridflowError

    try:
        root = ctx.find_object(Context)
        settings = root.settings if root is not None else load_settings()
        return settings.calendar.build()
    except GridflowError as exc:
        raise click.ClickException(str(exc)) from None


def _parse_start(text: str | None, cal: BusinessCalendar) -> datetime:
    """A date (local midnight) or ISO datetime (naive = calendar-local); default: now."""
    if text is None:
        return datetime.now(UTC)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), cal.tz)
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date or ISO datetime (e.g. 2026-09-28 or 2026-09-28T09:00)",
            param_hint="--from",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=cal.tz)


def _local(dt: datetime, cal: BusinessCalendar) -> str:
    local = dt.astimezone(cal.tz)
    return f"{local:%Y-%m-%d %H:%M} {_WEEKDAYS[local.weekday()]}"


def _not_covered(years: list[int], cal: BusinessCalendar) -> str:
    first, last = cal.covered_years()
    listed = ", ".join(str(y) for y in years)
    return (
        f"no holiday data for {listed} (covered: {first}–{last}); working days there are a "
        "Monday–Friday guess, so holidays and make-up days (调休) are missing. Add the year to "
        "the calendar override file (years: [...]) or update chinesecalendar."
    )


@click.group("calendar")
def calendar() -> None:
    """Business calendar: holidays, make-up days and working-time deadlines."""


@calendar.command("due")
@click.option(
    "--from", "start", metavar="DATE|DATETIME", help="Start (default: now). Naive = local."
)
@click.option(
    "--add", "add", required=True, metavar="DURATION", help="e.g. 5wd, 4wh, 48h, 3d, 30m."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def due(ctx: click.Context, start: str | None, add: str, as_json: bool) -> None:
    """Print the deadline START + DURATION in working time (次日起算 for wd)."""
    from gridflow.domain.duration import Duration

    try:
        duration = Duration.parse(add)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--add") from None
    cal = _calendar(ctx)
    begin = _parse_start(start, cal)
    try:
        deadline = cal.add(begin, duration)
    except (OverflowError, ValueError) as exc:
        raise click.ClickException(f"cannot compute {begin:%Y-%m-%d} + {duration}: {exc}") from None
    uncovered = cal.uncovered_years_between(begin, deadline.at) if deadline.provisional else []
    if as_json:
        out: dict[str, Any] = {
            "start": begin.astimezone(cal.tz).isoformat(),
            "duration": str(duration),
            "due": deadline.at.astimezone(cal.tz).isoformat(),
            "due_utc": deadline.at.isoformat(),
            "timezone": cal.tz.key,
            "provisional": deadline.provisional,
            "uncovered_years": uncovered,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    info = cal.day(deadline.at)
    note = (
        f"  [{info.kind}{' ' + info.name if info.name else ''}]" if info.kind != "workday" else ""
    )
    click.echo(f"start:     {_local(begin, cal)} ({cal.tz.key})")
    click.echo(f"add:       {duration}")
    click.echo(f"deadline:  {_local(deadline.at, cal)} ({cal.tz.key}){note}")
    if deadline.provisional:
        click.echo(f"PROVISIONAL: {_not_covered(uncovered, cal)}")


def _parse_month(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise click.BadParameter(f"{text!r} is not a month like 2026-10", param_hint="MONTH")
    return int(match.group(1)), int(match.group(2))


def _grid(days: list[DayInfo]) -> list[str]:
    """A Monday-first month grid; each cell is the day number plus 休/班 (or blank)."""
    lines = ["  ".join(f"{name:>4}" for name in _WEEKDAYS)]
    cells = ["    "] * days[0].day.weekday()
    for info in days:
        cells.append(f"{info.day.day:>2}{_MARKS.get(info.kind, '  ')}")
        if len(cells) == 7:
            lines.append("  ".join(cells).rstrip())
            cells = []
    if cells:
        lines.append("  ".join(cells).rstrip())
    return lines


@calendar.command("show")
@click.argument("month", metavar="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def show(ctx: click.Context, month: str, as_json: bool) -> None:
    """Print a month: holidays 休, make-up working days 班, weekends in the Sat/Sun columns."""
    year, number = _parse_month(month)
    cal = _calendar(ctx)
    days = cal.month(year, number)
    covered = cal.covers(year)
    if as_json:
        out = {
            "month": f"{year:04d}-{number:02d}",
            "timezone": cal.tz.key,
            "covered": covered,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "working": d.working,
                    "kind": d.kind,
                    "name": d.name,
                    "source": d.source,
                }
                for d in days
            ],
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"{year:04d}-{number:02d}  ({cal.tz.key})")
    for line in _grid(days):
        click.echo(line)
    click.echo("休 = holiday (day off)   班 = make-up working day (调休)")
    special = [d for d in days if d.kind in _MARKS or (d.name and d.kind != "weekend")]
    for d in special:
        label = "休 holiday" if d.kind == "holiday" else "班 working"
        name = f"  {d.name}" if d.name else ""
        click.echo(
            f"  {d.day.isoformat()} {_WEEKDAYS[d.day.weekday()]}  {label}{name}  ({d.source})"
        )
    if not covered:
        click.echo(f"NOT COVERED: {_not_covered([year], cal)} The days above are that guess.")


@calendar.command("recompute")
@click.pass_context
def recompute(ctx: click.Context) -> None:
    """Recompute provisional deadlines with the calendar as configured now."""
    from gridflow.drivers.cli.context import Context

    root = ctx.find_object(Context)
    if root is None:
        raise click.ClickException("no database: run this as `gridflow [--db URL] calendar …`")
    done, kept = root.engine().recompute_provisional()
    click.echo(
        f"{done} provisional deadline(s) recomputed, {kept} kept (paused or extended "
        "since their clock started)"
    )


COMMANDS = [calendar]
