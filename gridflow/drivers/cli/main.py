"""The ``gridflow`` command line (driver ring).

Commands are thin: parse options, call the engine, print a table (people) or JSON
(``--json``, scripts). Heavy modules are imported inside commands, so ``--help`` is fast.
Exit codes: 0 ok, 1 refused or failed, 2 usage. No traceback reaches the user; set
``GRIDFLOW_DEBUG=1`` to see one.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click


class Context:
    """Settings plus a lazily built ``Engine`` shared by the commands of one invocation."""

    def __init__(self, db: str | None, workflows: str | None, config: str | None):
        from gridflow.drivers.config import load_settings

        self.settings = load_settings(config)
        if db:
            self.settings.database_url = db
        if workflows:
            self.settings.workflows = workflows
        self._engine = None

    def engine(self):
        if self._engine is None:
            from gridflow.service.engine import Engine

            s = self.settings
            default_channel = "console"
            if s.channels:
                default_channel = next(iter(s.channels))
            self._engine = Engine(
                s.database_url,
                s.workflows_dir(),
                calendar=s.calendar.build(),
                base_url=s.base_url,
                default_channel=default_channel,
                clock=_env_clock(),
            )
        return self._engine


def _env_clock():
    """``GRIDFLOW_NOW`` pins the clock (for simulations and scripted walk-throughs)."""
    pinned = os.environ.get("GRIDFLOW_NOW")
    if not pinned:
        return None
    moment = _parse_when(pinned)
    return lambda: moment


def _parse_when(text: str):
    from datetime import UTC, datetime

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or datetime") from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(os.environ.get("GRIDFLOW_TIMEZONE", "Asia/Shanghai")))
    return value.astimezone(UTC)


pass_ctx = click.make_pass_decorator(Context)


class GridflowGroup(click.Group):
    """Turns every ``GridflowError`` into a clean message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from gridflow.errors import DefinitionError, GridflowError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except DefinitionError as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            errors = sum(p.severity == "error" for p in exc.problems)
            raise click.ClickException(f"{errors} error(s)") from None
        except GridflowError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            if os.environ.get("GRIDFLOW_DEBUG"):
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set GRIDFLOW_DEBUG=1 for a traceback)"
            ) from None


@click.group(cls=GridflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="GRIDFLOW_DATABASE_URL",
    metavar="URL",
    help="Database URL [default: sqlite:///gridflow.db].",
)
@click.option(
    "--workflows",
    envvar="GRIDFLOW_WORKFLOWS",
    metavar="DIR",
    help="Workflow folder [default: ./workflows if present, else built-ins].",
)
@click.option(
    "--config",
    envvar="GRIDFLOW_CONFIG",
    metavar="FILE",
    help="Settings file [default: ./gridflow.toml if present].",
)
@click.version_option(package_name="gridflow")
@click.pass_context
def cli(ctx: click.Context, db, workflows, config) -> None:
    """gridflow: workflows for grassroots governance (四单工作法, 双向举手)."""
    ctx.obj = Context(db, workflows, config)


# ---- workflow files ---------------------------------------------------------------------
@cli.command()
@click.argument("folder", default="gridflow-site", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(folder: str, force: bool) -> None:
    """Copy the built-in workflows, templates and a sample org into FOLDER for editing."""
    import shutil
    from pathlib import Path

    from gridflow.drivers.config import BUILTIN_WORKFLOWS

    dest = Path(folder)
    wf_dest = dest / "workflows"
    written = []
    for src in sorted(BUILTIN_WORKFLOWS.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(BUILTIN_WORKFLOWS)
        target = (dest / "org.yaml") if rel.name == "org.yaml" else wf_dest / rel
        if target.exists() and not force:
            click.echo(f"kept     {target} (exists; --force to overwrite)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        written.append(target)
        click.echo(f"wrote    {target}")
    toml = dest / "gridflow.toml"
    if not toml.exists() or force:
        toml.write_text(_SAMPLE_TOML, encoding="utf-8")
        click.echo(f"wrote    {toml}")
    click.echo(f"\nnext: cd {dest} && gridflow validate && gridflow org load org.yaml")


_SAMPLE_TOML = """\
# gridflow settings (every key optional; environment variables GRIDFLOW_* override)
database_url = "sqlite:///gridflow.db"
workflows = "workflows"
base_url = "http://localhost/cases"

[calendar]
timezone = "Asia/Shanghai"
work_hours = ["08:30-11:30", "13:00-17:30"]
# overrides = "calendar-overrides.yaml"   # local holidays; next year's schedule

[daemon]
interval_seconds = 5

# [channels.email]
# type = "smtp"
# host = "127.0.0.1"
# port = 25
# sender = "gridflow@example.org"
[channels.file]
type = "file"
path = "notices"
format = "jsonl"
"""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@pass_ctx
def validate(obj: Context, paths: tuple[str, ...]) -> None:
    """Check workflow files (default: the workflow folder). Exit 1 listing every error."""
    from pathlib import Path

    from gridflow.domain.loader import load_dir, load_files
    from gridflow.errors import DefinitionError

    targets = [Path(p) for p in paths] or [obj.settings.workflows_dir()]
    files = []
    for p in targets:
        if p.is_dir():
            files += sorted(
                x
                for x in p.iterdir()
                if x.suffix in (".yaml", ".yml") and x.stem not in ("org", "calendar-overrides")
            )
        else:
            files.append(p)
    try:
        loaded = load_files(files) if files else load_dir(targets[0])
    except DefinitionError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        errors = sum(p.severity == "error" for p in exc.problems)
        raise click.ClickException(f"{errors} error(s) in {len(files)} file(s)") from None
    problems = _template_problems(loaded, targets) + _calendar_warnings(obj)
    for wf in loaded.values():
        for w in wf.warnings:
            click.echo(str(w), err=True)
    errors = [p for p in problems if getattr(p, "severity", "warning") == "error"]
    for p in problems:
        click.echo(str(p), err=True)
    if errors:
        raise click.ClickException(f"{len(errors)} error(s)")
    for wf in loaded.values():
        d = wf.definition
        click.echo(
            f"ok  {wf.file}: {wf.id} v{d.version} — {len(d.states)} states, "
            f"{len(d.transitions)} transitions"
        )


def _template_problems(loaded: dict, targets) -> list:
    """Problems in the notice templates next to the workflows."""
    from pathlib import Path

    from gridflow.domain.templates.renderer import TemplateRenderer
    from gridflow.drivers.config import BUILTIN_WORKFLOWS

    roots = [p if p.is_dir() else p.parent for p in targets] + [BUILTIN_WORKFLOWS]
    renderer = TemplateRenderer([Path(r) for r in dict.fromkeys(roots) if Path(r).is_dir()])
    out = []
    for wf in loaded.values():
        d = wf.definition
        out += renderer.check(wf.id, fields=set(d.fields), states=set(d.states))
    return out


def _calendar_warnings(obj: Context) -> list:
    """Warn ahead of time when the holiday data runs out within 60 days."""
    from datetime import UTC, datetime, timedelta

    from gridflow.errors import Problem

    cal = obj.settings.calendar.build()
    now = datetime.now(UTC)
    years = cal.uncovered_years_between(now, now + timedelta(days=60))
    return [
        Problem(
            "calendar",
            0,
            0,
            "",
            f"no holiday data for {y}: deadlines reaching into it "
            "are provisional (Mon–Fri guess); add it to the calendar override file",
            "warning",
        )
        for y in years
    ]


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editors)."""
    from gridflow.domain.definition import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


@cli.command()
@click.argument("workflow")
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@click.option("--case", "case_id", type=int, help="Highlight this case's current state.")
@click.option("--lang", default="zh-CN", show_default=True, help="Label language.")
@pass_ctx
def graph(obj: Context, workflow: str, fmt: str, case_id: int | None, lang: str) -> None:
    """Draw WORKFLOW as a Mermaid or Graphviz diagram."""
    from gridflow.domain.diagram import draw

    engine = obj.engine()
    wf = engine.workflow(workflow)
    state = None
    if case_id is not None:
        case = engine.get(case_id)
        wf, state = engine.workflow(case.workflow, case.revision), case.state
    click.echo(draw(wf, fmt, current=state, lang=lang))


# ---- cases --------------------------------------------------------------------------------
def _pairs(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        if value[:1] in "[{":
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def _emit_case(case, as_json: bool, engine=None) -> None:
    if as_json:
        click.echo(json.dumps(case.to_dict(), ensure_ascii=False, indent=2))
        return
    from gridflow.drivers.cli.render import case_text

    click.echo(case_text(case, engine))


@cli.command()
@click.argument("workflow")
@click.option("--actor", required=True, help="Person id (from the org directory).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Field values.")
@click.option("--unit", help="Org unit the case belongs to [default: the actor's].")
@click.option("--role", help="Role to act in, when the actor holds several.")
@click.option("--comment")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def start(obj: Context, workflow, actor, sets, unit, role, comment, as_json) -> None:
    """Open a case of WORKFLOW; prints its id."""
    case = obj.engine().start(
        workflow, actor=actor, data=_pairs(sets), unit=unit, role=role, comment=comment
    )
    if as_json:
        _emit_case(case, True)
    else:
        click.echo(case.id)


@cli.command()
@click.argument("case_id", type=int, metavar="CASE")
@click.argument("trigger")
@click.option("--actor", required=True, help="Person id (from the org directory).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Event data.")
@click.option("--comment")
@click.option("--role", help="Role to act in, when the actor holds several.")
@click.option("--expect-version", type=int, help="Refuse if the case is not at this version.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def fire(
    obj: Context, case_id, trigger, actor, sets, comment, role, expect_version, as_json
) -> None:
    """Fire TRIGGER on CASE."""
    engine = obj.engine()
    case = engine.fire(
        case_id,
        trigger,
        actor=actor,
        data=_pairs(sets),
        comment=comment,
        role=role,
        expected_version=expect_version,
    )
    if as_json:
        _emit_case(case, True)
    else:
        click.echo(f"case {case.id}: {case.state} ({case.state_label}), version {case.version}")


@cli.command()
@click.argument("case_id", type=int, metavar="CASE")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Context, case_id: int, as_json: bool) -> None:
    """Show a case: state, data, SLA, children, what can happen next."""
    engine = obj.engine()
    _emit_case(engine.get(case_id, with_children=True), as_json, engine)


@cli.command()
@click.argument("case_id", type=int, metavar="CASE")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def history(obj: Context, case_id: int, as_json: bool) -> None:
    """The steps of a case, oldest first."""
    steps = obj.engine().history(case_id)
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in steps], ensure_ascii=False, indent=2))
        return
    from gridflow.drivers.cli.render import history_table

    click.echo(history_table(steps))


@cli.command(name="list")
@click.option("--workflow")
@click.option("--state")
@click.option("--unit", help="Cases of this unit and below.")
@click.option("--text", help="Text in the title or data.")
@click.option("--open", "open_only", is_flag=True, help="Only cases not closed.")
@click.option("--overdue", is_flag=True, help="Only open cases past their deadline.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, workflow, state, unit, text, open_only, overdue, limit, as_json) -> None:
    """List cases, newest first."""
    cases = obj.engine().find(
        workflow=workflow,
        state=state,
        unit=unit,
        text=text,
        open_only=open_only,
        overdue=overdue,
        limit=limit,
    )
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in cases], ensure_ascii=False, indent=2))
        return
    from gridflow.drivers.cli.render import case_table

    click.echo(case_table(cases) if cases else "no cases")


@cli.command()
@click.argument("case_id", type=int, metavar="CASE")
@click.option("--actor", required=True)
@pass_ctx
def triggers(obj: Context, case_id: int, actor: str) -> None:
    """Triggers ACTOR may fire on CASE now."""
    names = obj.engine().available_triggers(case_id, actor)
    click.echo("\n".join(names) if names else "none")


@cli.command()
@click.option("--now", "now_text", metavar="ISO", help="Virtual time for this pass.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def tick(obj: Context, now_text: str | None, as_json: bool) -> None:
    """Run one pass over due timers by hand."""
    engine = obj.engine()
    now = _parse_when(now_text) if now_text else None
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


# ---- org ----------------------------------------------------------------------------------
@cli.group()
def org() -> None:
    """The org directory: units, departments, people and roles."""


@org.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
def org_load(obj: Context, file: str) -> None:
    """Validate FILE and store it as the directory in force."""
    from gridflow.domain.org_loader import check_org_roles

    engine = obj.engine()
    directory = engine.load_org(file)
    for warning in check_org_roles(directory, engine.workflows.values()):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"loaded {file}: {len(directory.units)} units, {len(directory.people)} people")


@org.command("show")
@click.option("--people", is_flag=True, help="List people and roles under each unit.")
@pass_ctx
def org_show(obj: Context, people: bool) -> None:
    """Print the unit tree."""
    from gridflow.drivers.cli.render import org_tree

    click.echo(org_tree(obj.engine().directory, people=people))


# ---- daemon, status, outbox ----------------------------------------------------------------
@cli.command()
@click.option("--interval", type=float, help="Seconds between passes [default: 5].")
@click.option("--once", is_flag=True, help="Run one pass and exit.")
@click.option("-v", "--verbose", is_flag=True)
@pass_ctx
def daemon(obj: Context, interval: float | None, once: bool, verbose: bool) -> None:
    """Run the scheduler: SLA timers, notice delivery, digests, reloads. SIGTERM stops."""
    import logging
    from pathlib import Path

    from gridflow.drivers.daemon import Daemon
    from gridflow.service.outbox import build_dispatcher

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(obj: Context, as_json: bool) -> None:
    """Live daemons, due timers, notice backlog, calendar coverage."""
    from datetime import UTC, datetime, timedelta

    from gridflow.drivers.daemon import status as read_status

    engine = obj.engine()
    info = read_status(engine)
    now = datetime.now(UTC)
    uncovered = engine.calendar.uncovered_years_between(now, now + timedelta(days=60))
    info["calendar_uncovered_years"] = uncovered
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, default=str, indent=2))
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
                f"{d['beat_age_s']}s",
                d["ticks"],
                d["timers_fired"],
                d["notices_sent"],
            )
            for d in info["daemons"]
        ]
        click.echo(
            tabulate(
                rows, headers=["daemon", "pid", "", "last beat", "passes", "timers", "notices"]
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


@cli.group()
def outbox() -> None:
    """Notices waiting, sent and dead."""


@outbox.command("list")
@click.option("--status", "status_", type=click.Choice(["pending", "sent", "dead"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def outbox_list(obj: Context, status_: str | None, limit: int, as_json: bool) -> None:
    """List notices, newest first."""
    from gridflow.service.outbox import list_notices

    rows = list_notices(obj.engine(), status_, limit)
    if as_json:
        click.echo(
            json.dumps([dict(r._mapping) for r in rows], ensure_ascii=False, default=str, indent=2)
        )
        return
    from tabulate import tabulate

    from gridflow.drivers.cli.render import _short, _when

    click.echo(
        tabulate(
            [
                (
                    r.id[:12],
                    r.status,
                    r.attempts,
                    r.channel,
                    r.recipient,
                    r.case_id or "",
                    _short(r.subject, 36),
                    _short(r.last_error or "", 40),
                    _when(r.created_at),
                )
                for r in rows
            ],
            headers=[
                "id",
                "status",
                "tries",
                "channel",
                "to",
                "case",
                "subject",
                "last error",
                "created",
            ],
        )
        if rows
        else "no notices"
    )


@outbox.command("retry")
@click.argument("notice_id", required=False)
@click.option("--all-dead", is_flag=True, help="Retry every dead notice.")
@pass_ctx
def outbox_retry(obj: Context, notice_id: str | None, all_dead: bool) -> None:
    """Put a dead notice (or all of them) back in the queue."""
    from gridflow.service.outbox import retry

    if not notice_id and not all_dead:
        raise click.UsageError("give a notice ID or --all-dead")
    engine = obj.engine()
    if notice_id and len(notice_id) < 32:
        from gridflow.service.outbox import list_notices

        matches = [r.id for r in list_notices(engine, "dead", 10_000) if r.id.startswith(notice_id)]
        if len(matches) != 1:
            raise click.ClickException(f"{len(matches)} dead notices start with {notice_id!r}")
        notice_id = matches[0]
    click.echo(f"{retry(engine, notice_id, all_dead=all_dead)} notice(s) queued again")


@outbox.command("endpoints")
@pass_ctx
def outbox_endpoints(obj: Context) -> None:
    """List the endpoints switched off (a webhook that answered 410 Gone)."""
    from tabulate import tabulate

    from gridflow.drivers.cli.render import _when
    from gridflow.service.outbox import disabled_endpoints

    rows = disabled_endpoints(obj.engine())
    click.echo(
        tabulate(
            [
                (r.channel, r.address or "(the channel's)", r.reason, _when(r.disabled_at))
                for r in rows
            ],
            headers=["channel", "address", "reason", "since"],
        )
        if rows
        else "no endpoint is switched off"
    )


@outbox.command("enable")
@click.argument("channel")
@click.argument("address", default="")
@pass_ctx
def outbox_enable(obj: Context, channel: str, address: str) -> None:
    """Switch an endpoint back on (ADDRESS: empty for a channel's own URL, as a webhook's).
    Its dead notices stay dead until `gridflow outbox retry --all-dead`."""
    from gridflow.service.outbox import disabled_endpoints, enable_endpoint

    engine = obj.engine()
    if not enable_endpoint(engine, channel, address):
        off = [f"{r.channel} {r.address!r}" for r in disabled_endpoints(engine)]
        raise click.ClickException(
            f"endpoint {channel} {address!r} is not switched off"
            + (f"; switched off: {', '.join(off)}" if off else "; none is")
        )
    click.echo(
        f"endpoint {channel} {address!r} switched on again; its dead notices: "
        "gridflow outbox retry --all-dead"
    )


@outbox.command("send")
@click.option("--now", "now_text", metavar="ISO")
@pass_ctx
def outbox_send(obj: Context, now_text: str | None) -> None:
    """Deliver due notices now (what the daemon does every pass)."""
    from gridflow.service.outbox import build_dispatcher

    engine = obj.engine()
    dispatcher = build_dispatcher(engine, obj.settings)
    try:
        r = dispatcher.run_once(_parse_when(now_text) if now_text else None)
    finally:
        dispatcher.close()
    click.echo(f"sent {r.sent}, retry later {r.retried}, dead {r.dead}")
    for e in r.errors:
        click.echo(f"  {e}", err=True)


@cli.group()
def notice() -> None:
    """Notice templates."""


@notice.command("preview")
@click.argument("workflow")
@click.argument("template")
@click.option("--case", "case_id", type=int, help="Render for this case (default: a sample).")
@click.option("--lang", default="zh-CN", show_default=True)
@click.option("--html", "as_html", is_flag=True, help="Show the HTML body.")
@pass_ctx
def notice_preview(
    obj: Context, workflow: str, template: str, case_id: int | None, lang: str, as_html: bool
) -> None:
    """Render TEMPLATE of WORKFLOW for a look."""
    from gridflow.service.preview import preview

    r = preview(obj.engine(), workflow, template, case_id=case_id, lang=lang)
    click.echo(f"Subject: {r.subject}\n")
    click.echo(r.html if as_html and r.html else r.text)


@cli.command()
@click.option("--seed", default=1, show_default=True, help="Same seed, same quarter.")
@click.option("--quarter", default="2026Q3", show_default=True, help="Quarter to simulate.")
@click.option("--days", type=int, help="Simulate only the first N days (a short run).")
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
    from gridflow.drivers.cli.demo import run_demo

    run_demo(seed=seed, quarter=quarter, days=days, out_dir=out_dir, db=demo_db, lang=lang)


@click.command("recompute")
@pass_ctx
def calendar_recompute(obj: Context) -> None:
    """Recompute provisional deadlines with the calendar as configured now."""
    done, kept = obj.engine().recompute_provisional()
    click.echo(
        f"{done} provisional deadline(s) recomputed, {kept} kept (paused or extended "
        "since their clock started)"
    )


def _register_optional() -> None:
    """Command groups that live in their own modules (imported lazily on use)."""
    from gridflow.drivers.cli.calendar import calendar
    from gridflow.drivers.cli.report import report

    calendar.add_command(calendar_recompute)

    cli.add_command(calendar)
    cli.add_command(report)


_register_optional()


def main() -> None:
    cli(prog_name="gridflow")


if __name__ == "__main__":  # pragma: no cover
    main()
