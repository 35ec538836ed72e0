"""``gridflow org load | show``: the org directory — units, departments, people, roles."""

from __future__ import annotations

import click

from gridflow.drivers.cli.context import Context, pass_ctx


@click.group()
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


COMMANDS = [org]
