"""The ``gridflow demo`` command: run the simulation, then print and write its reports."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from gridflow.builtin.demo import DemoResult
    from gridflow.service.engine import Engine


@click.command()
@click.option("--seed", default=1, show_default=True, help="Same seed, same quarter.")
@click.option("--quarter", default="2026Q3", show_default=True, help="Quarter to simulate.")
@click.option(
    "--days", type=click.IntRange(1, 366), help="Simulate only the first N days (a short run)."
)
@click.option(
    "--out",
    "out_dir",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the database and outputs.",
)
@click.option(
    "--db",
    "demo_db",
    metavar="URL",
    help="Database for the demo [default: sqlite:///OUT/demo.db, recreated].",
)
@click.option("--lang", default="zh-CN", show_default=True)
def demo(
    seed: int, quarter: str, days: int | None, out_dir: str, demo_db: str | None, lang: str
) -> None:
    """Replay a quarter of Fenglin Street on a virtual clock and report on it."""
    run_demo(seed=seed, quarter=quarter, days=days, out_dir=out_dir, db=demo_db, lang=lang)


def run_demo(
    *, seed: int, quarter: str, days: int | None, out_dir: str, db: str | None, lang: str
) -> None:
    """Simulate the quarter into a fresh database, then print and write its reports."""
    import re

    from gridflow.builtin import demo
    from gridflow.drivers.notifiers.registry import build_channels
    from gridflow.service.engine import Engine

    if not re.fullmatch(r"\d{4}Q[1-4]", quarter):
        raise click.BadParameter("write the quarter like 2026Q3", param_hint="--quarter")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if db is None:
        db_file = out / "demo.db"
        for stale in (db_file, out / "demo.db-wal", out / "demo.db-shm"):
            stale.unlink(missing_ok=True)
        for old in (out / "notices").glob("**/*.jsonl") if (out / "notices").exists() else []:
            old.unlink()
        db = f"sqlite:///{db_file}"
    else:
        probe = Engine(db)
        try:
            if probe.find(limit=1):
                raise click.ClickException(
                    f"{probe.store.safe_url} already holds cases; the demo needs an empty database"
                )
        finally:
            probe.close()
    start, end = demo.quarter_bounds(quarter, _tz())
    total_days = days if days is not None else (end - start).days
    click.echo(f"simulating {quarter} of 枫林路街道 (seed {seed}) into {db} …", err=True)
    channels = build_channels(
        {"file": {"type": "file", "path": str(out / "notices"), "format": "jsonl"}}
    )
    with _progress(total_days) as step:
        result = demo.run(
            db_url=db, seed=seed, quarter=quarter, days=days, progress=step, channels=channels
        )
    engine = Engine(db)
    try:
        _report(engine, result, out, lang, period_label(quarter, days, *result.period))
    finally:
        engine.close()


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing at all in a pipe or a log."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=total, label="days", file=sys.stderr) as bar:
        yield bar.update


def _tz() -> ZoneInfo:
    return ZoneInfo("Asia/Shanghai")


def period_label(quarter: str, days: int | None, start: datetime, end: datetime) -> str:
    """What the reports call the simulated period: the quarter, or its first days."""
    if days is None:
        return quarter
    last = (end - timedelta(microseconds=1)).astimezone(_tz())
    return f"{start.astimezone(_tz()):%Y-%m-%d}..{last:%Y-%m-%d}"


def _report(engine: Engine, result: DemoResult, out: Path, lang: str, label: str) -> None:
    from gridflow import report
    from gridflow.domain.period import Period

    start, end = result.period
    period = Period(start, end, label, _tz().key)
    figures = engine.kpis(unit="fenglin", period=period, now=end)
    click.echo("")
    for line in report.headlines(figures, lang):  # what the workflows declare the street quotes
        click.echo(line)
    click.echo("")
    click.echo(report.as_table(figures, lang=lang))
    xlsx = out / "report.xlsx"
    report.write_xlsx(figures, xlsx)
    unit = _busiest_microgrid(engine) or "wannan-r1-m1"
    year = start.astimezone(_tz()).year
    page = out / f"yearly-{unit}.html"
    page.write_text(report.yearly_html(engine, unit, year, lang=lang), encoding="utf-8")
    notices = out / "notices"
    count = sum(1 for f in notices.glob("**/*.jsonl") for _ in f.open(encoding="utf-8"))
    click.echo("")
    click.echo(f"workbook      {xlsx}")
    click.echo(f"yearly report {page}")
    click.echo(f"notices       {count} in {notices}/")
    refused = sum(result.refusals.values())
    if refused:
        click.echo(
            f"refusals      {refused} events refused along the way "
            f"({', '.join(f'{k} ×{v}' for k, v in result.refusals.most_common(3))})"
        )


def _busiest_microgrid(engine: Engine) -> str | None:
    """The micro-grid that took the most steps (ties: the first by id)."""
    micro = sorted(u.id for u in engine.directory.units.values() if u.kind == "microgrid")
    with engine.reports.snapshot() as snap:
        counts = snap.main.steps_of_units(micro)
    return max(sorted(counts), key=counts.__getitem__) if counts else None


COMMANDS = [demo]
