"""``gridflow report``: KPIs as a table, JSON, CSV or XLSX, and the yearly report (driver ring).

    gridflow report [--unit U] [--period 2026Q1 | --from D --to D] [--format table|json|csv|xlsx]
                    [--out FILE] [--lang zh-CN|en]
    gridflow report yearly --unit MICROGRID --year 2026 [--out report.html] [--lang zh-CN|en]

The engine comes from the ``gridflow`` root command (``--db``, settings, ``GRIDFLOW_NOW``).
Progress goes to stderr; the report to stdout or ``--out``. Errors are one-line messages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

FORMATS = ("table", "json", "csv", "xlsx")
LANGS = ("zh-CN", "en")


def _engine(ctx: click.Context):
    """The Engine of this invocation: the root ``Context`` builds it (``gridflow --db …``);
    a test may also put an Engine itself in ``ctx.obj``."""
    obj = ctx.find_root().obj
    if obj is not None and hasattr(obj, "engine") and callable(obj.engine):
        return obj.engine()
    if obj is not None and hasattr(obj, "store") and hasattr(obj, "directory"):
        return obj
    raise click.ClickException("no database: run this as `gridflow [--db URL] report …`")


@contextmanager
def _errors() -> Iterator[None]:
    """GridflowError → a clean one-line message (exit 1), never a traceback."""
    from gridflow.errors import GridflowError

    try:
        yield
    except GridflowError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _progress(length: int, label: str) -> Iterator[Callable[[str], None]]:
    """A click progress bar on stderr; yields the ``progress(step)`` callback."""
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:

        def step(_name: str) -> None:
            bar.update(1)

        yield step


def _emit(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text)
        return
    from gridflow.errors import ReportError

    try:
        with open(out, "w", encoding="utf-8", newline="") as f:
            f.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}", err=True)


@click.group("report", invoke_without_command=True)
@click.option("--unit", metavar="UNIT", help="A unit (with its subtree) [default: all].")
@click.option("--period", metavar="P", help="2026, 2026H1, 2026Q1 or 2026-03 (local time).")
@click.option("--from", "start", metavar="DATE", help="First day (or ISO datetime).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive [default: now].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE (xlsx: required).")
@click.option("--lang", type=click.Choice(LANGS), default="zh-CN", show_default=True)
@click.pass_context
def report(
    ctx: click.Context,
    unit: str | None,
    period: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    out: str | None,
    lang: str,
) -> None:
    """KPIs of a unit over a period: one section per workflow (as its YAML declares), and
    the cases overdue now.

    Without a period: the current year so far. `gridflow report yearly --unit MICROGRID`:
    a micro-grid's yearly report (HTML). Formulas: docs/kpis.md."""
    if ctx.invoked_subcommand is not None:
        return
    if fmt == "xlsx" and not out:
        raise click.UsageError("--format xlsx needs --out FILE.xlsx")
    from gridflow import report as rp
    from gridflow.domain.period import Period
    from gridflow.service.kpi import COMPUTE_STEPS

    engine = _engine(ctx)
    with _errors():
        p = Period.parse(period, start, end, tz=engine.calendar.tz.key, now=engine.now())
        with _progress(COMPUTE_STEPS, "computing KPIs") as step:
            kpis = engine.kpis(unit=unit, period=p, progress=step)
        if fmt == "table":
            _emit(rp.as_table(kpis, lang), out)
        elif fmt == "json":
            _emit(rp.as_json(kpis), out)
        elif fmt == "csv":
            if out:
                rp.write_csv(kpis, out)
                click.echo(f"wrote {out}", err=True)
            else:
                click.echo(rp.as_csv(kpis), nl=False)
        else:
            assert out is not None  # --format xlsx without --out is refused above
            rp.write_xlsx(kpis, out, lang=lang)
            click.echo(f"wrote {out}", err=True)


@report.command("yearly")
@click.option("--unit", required=True, metavar="UNIT", help="The micro-grid (or any unit).")
@click.option("--year", type=click.IntRange(1, 9999), help="The year [default: the current one].")
@click.option("--out", type=click.Path(dir_okay=False), help="HTML file [default: stdout].")
@click.option("--lang", type=click.Choice(LANGS), default="zh-CN", show_default=True)
@click.pass_context
def yearly(ctx: click.Context, unit: str, year: int | None, out: str | None, lang: str) -> None:
    """The yearly report (民情报告) of UNIT: its cases, raised hands and results, with charts."""
    from gridflow.report import YEARLY_STEPS, yearly_html

    engine = _engine(ctx)
    with _errors():
        if year is None:
            year = engine.now().astimezone(engine.calendar.tz).year
        if not 1900 < year < 10000:
            raise click.BadParameter(f"{year} is not a plausible year", param_hint="--year")
        with _progress(YEARLY_STEPS, f"yearly report {unit} {year}") as step:
            html = yearly_html(engine, unit, year, lang, progress=step)
        _emit(html, out)


COMMANDS = [report]
