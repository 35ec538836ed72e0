"""The ``gridflow demo`` command: run the simulation, then print and write its reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def run_demo(
    *, seed: int, quarter: str, days: int | None, out_dir: str, db: str | None, lang: str
) -> None:
    import re

    from gridflow.builtin import demo
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
        if probe.find(limit=1):
            probe.close()
            raise click.ClickException(
                f"{probe.store.safe_url} already holds cases; the demo needs an empty database"
            )
        probe.close()
    start, end = demo.quarter_bounds(quarter, _tz())
    total_days = days if days is not None else (end - start).days
    click.echo(f"simulating {quarter} of 枫林路街道 (seed {seed}) into {db} …", err=True)
    with click.progressbar(length=total_days, label="days", file=sys.stderr) as bar:
        result = demo.run(
            db_url=db, out=out, seed=seed, quarter=quarter, days=days, progress=bar.update
        )
    engine = Engine(db)
    try:
        _report(engine, result, out, lang)
    finally:
        engine.close()


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def _report(engine, result, out: Path, lang: str) -> None:
    from gridflow.report import kpi_report as report
    from gridflow.service import kpi

    start, end = result.period
    period = kpi.Period(start, end)
    figures = kpi.compute(engine, unit="fenglin", period=period, now=end)
    fl = figures["four_list"]
    listed, solved = fl["listed"], fl["written_off"]
    in_progress = fl["in_progress"]
    click.echo("")
    if lang.startswith("zh"):
        click.echo(
            f"本季度共梳理片区疑难问题{listed}个，解决{solved}个，正在推进中{in_progress}个。"
        )
    else:
        click.echo(
            f"This quarter: {listed} difficult problems listed, {solved} solved, "
            f"{in_progress} in progress."
        )
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


def _busiest_microgrid(engine) -> str | None:
    import sqlalchemy as sa

    from gridflow.storage import tables as t

    h = t.history_t
    with engine.store.read() as conn:
        row = conn.execute(
            sa.select(h.c.actor_unit, sa.func.count().label("n"))
            .where(h.c.actor_unit.like("%-m%"))
            .group_by(h.c.actor_unit)
            .order_by(sa.desc("n"))
            .limit(1)
        ).first()
    return row.actor_unit if row else None
