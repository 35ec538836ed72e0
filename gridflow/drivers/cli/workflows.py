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

[database]
upgrade_on_start = false   # a newer gridflow refuses an older schema: `gridflow db upgrade`

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
    """Check workflow files (default: the workflow folder) and their notice templates.
    Exit 1 listing every error, in file and line order.

    A file that spawns a workflow not among PATHS finds it next to the file or in the
    workflow folder. Templates must exist in every language the org's people read (the org
    of ``org`` in gridflow.toml, else org.yaml beside the workflows, else the sample org)."""
    from pathlib import Path

    from gridflow.domain.loader import folder_lookup
    from gridflow.domain.site_checks import validate_site
    from gridflow.errors import Problem
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

    targets = [Path(p) for p in paths] or [obj.settings.workflows_dir()]
    files = []
    problems: list[Problem] = []
    for target in targets:
        if target.is_dir():
            files += sorted(
                x
                for x in target.iterdir()
                if x.suffix in (".yaml", ".yml") and x.stem not in ("org", "calendar-overrides")
            )
        elif target.exists() or not paths:
            files.append(target)
        else:
            problems.append(Problem(str(target), 0, 0, "", "no such file or folder"))
    folders = [t if t.is_dir() else t.parent for t in targets]
    lookup = folder_lookup([*folders, obj.settings.workflows_dir()], exclude=files)
    roots = [*dict.fromkeys(folders), BUILTIN_WORKFLOWS]
    languages, org_problems = _org_languages(obj, folders)
    loaded, found = validate_site(files, template_roots=roots, languages=languages, lookup=lookup)
    problems += org_problems + found + _calendar_warnings(obj)
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = [x for x in problems if x.severity == "error"]
    if errors:
        raise click.ClickException(f"{len(errors)} error(s) in {len(files)} file(s)")
    for wf in loaded.values():
        d = wf.definition
        click.echo(
            f"ok  {wf.file}: {wf.id} v{d.version} — {len(d.states)} states, "
            f"{len(d.transitions)} transitions"
        )


def _org_languages(obj: Context, folders: list) -> tuple[set[str], list]:
    """The languages the org's people read, and a warning when its file cannot be read."""
    from pathlib import Path

    from gridflow.domain.org_loader import load_org_file
    from gridflow.domain.site_checks import languages_of
    from gridflow.errors import DefinitionError, Problem
    from gridflow.service.definitions import BUILTIN_ORG

    candidates = [Path(obj.settings.org)] if obj.settings.org else []
    for folder in folders:
        candidates += [Path(folder) / "org.yaml", Path(folder).parent / "org.yaml"]
    path = next((c for c in candidates if c.is_file()), BUILTIN_ORG)
    try:
        return languages_of(load_org_file(path)), []
    except DefinitionError as exc:
        return {"zh-CN", "en"}, [
            Problem(
                str(path),
                0,
                0,
                "",
                f"the org file does not load ({len(exc.problems)} problem(s): see "
                "`gridflow org load`); templates checked for zh-CN and en",
                "warning",
            )
        ]


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
