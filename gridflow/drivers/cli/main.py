"""The ``gridflow`` command line (driver ring): the root group and its command groups.

One module per group of commands, each a list ``COMMANDS`` added here::

    workflows  init, validate, schema, graph        cases     start, fire, show, history,
    org        org load | show                                list, triggers
    daemon     daemon, tick, status                 outbox    outbox …, notice preview
    calendar   calendar due | show | recompute      report    report, report yearly
    demo       demo                                 serve     serve (the HTTP API)
    tokens     token create | list | revoke
    users      user set-password | list | remove (the web workbench's accounts)
    db         db upgrade | current | history | backup (schema versions, backups)
    migrate    migrate, revisions (open cases onto a new workflow revision)

Shared by all: :mod:`gridflow.drivers.cli.context` (settings, the engine, clean errors).
"""

from __future__ import annotations

import click

from gridflow.drivers.cli import (
    calendar,
    cases,
    daemon,
    db,
    demo,
    migrate,
    org,
    outbox,
    report,
    serve,
    tokens,
    users,
    workflows,
)
from gridflow.drivers.cli.context import Context, GridflowGroup

__all__ = ["Context", "GridflowGroup", "cli", "main"]


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
def cli(ctx: click.Context, db: str | None, workflows: str | None, config: str | None) -> None:
    """gridflow: workflows for grassroots governance (四单工作法, 双向举手)."""
    ctx.obj = Context(db, workflows, config)


for _group in (
    workflows,
    cases,
    migrate,
    org,
    daemon,
    outbox,
    calendar,
    report,
    demo,
    serve,
    tokens,
    users,
    db,
):
    for _command in _group.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="gridflow")


if __name__ == "__main__":  # pragma: no cover
    main()
