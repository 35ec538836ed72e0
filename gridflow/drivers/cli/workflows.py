"""``gridflow init | validate | schema | graph``: the workflow files and what they draw."""

from __future__ import annotations

import json

import click

from gridflow.drivers.cli.context import CASE_ID, Context, pass_ctx


@click.command()
@click.argument("folder", default="gridflow-site", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(folder: str, force: bool) -> None:
    """Copy the built-in workflows, templates and a sample org into FOLDER for editing."""
    import shutil
    from pathlib import Path

    from gridflow.service.definitions import BUILTIN_WORKFLOWS

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


@click.command()
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
        count = sum(p.severity == "error" for p in exc.problems)
        raise click.ClickException(f"{count} error(s) in {len(files)} file(s)") from None
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
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

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


@click.command()
def schema() -> None:
    """Print the JSON Schema of the workflow format (for editors)."""
    from gridflow.domain.definition import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


@click.command()
@click.argument("workflow")
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@click.option("--case", "case_id", type=CASE_ID, help="Highlight this case's current state.")
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
COMMANDS = [init, validate, schema, graph]
