"""``gridflow db upgrade | current | history | backup``: the database's schema and backups.

    gridflow db current                 # revision 0004 (schema 4), head 0004: up to date
    gridflow db history                 # every revision, oldest first, with its line
    gridflow db backup gridflow.bak     # SQLite: a consistent copy, safe while running
    gridflow db upgrade                 # to this gridflow's schema (back up first)

An engine refuses a database whose schema is behind the code and names ``gridflow db
upgrade`` (unless ``[database] upgrade_on_start = true``). PostgreSQL is backed up with
``pg_dump`` (``gridflow db backup`` prints the command).
"""

from __future__ import annotations

from pathlib import Path

import click

from gridflow.drivers.cli.context import Context, echo_json, pass_ctx


@click.group("db")
def db() -> None:
    """The database: schema version (current, history, upgrade) and backups."""


@db.command("upgrade")
@pass_ctx
def upgrade(obj: Context) -> None:
    """Upgrade the database to this gridflow's schema (concurrent runs take turns)."""
    from gridflow.service import database

    done = database.upgrade(obj.settings.database_url)
    if done.from_version is None:
        click.echo(f"created at revision {done.to_revision} (schema {done.to_version})")
        return
    if done.from_revision == done.to_revision:
        click.echo(f"already at revision {done.to_revision} (schema {done.to_version})")
        return
    stamped = " (stamped from gf_meta first)" if done.stamped else ""
    click.echo(
        f"upgraded from revision {done.from_revision} (schema {done.from_version}) to "
        f"{done.to_revision} (schema {done.to_version}){stamped} in {done.seconds:.2f} s"
    )
    if done.from_version < 2:  # facets of the cases: filled from the workflows' facets
        obj.engine().definitions.load()


@db.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def current(obj: Context, as_json: bool) -> None:
    """The database's revision and schema version, and this gridflow's."""
    from gridflow.service import database

    s = database.current(obj.settings.database_url)
    if as_json:
        echo_json(
            {
                "database": s.url,
                "revision": s.revision,
                "schema_version": s.version,
                "head": s.head,
                "head_schema_version": s.head_version,
                "new": s.new,
                "behind": s.behind,
            }
        )
        return
    if s.new:
        click.echo(f"{s.url}: no gridflow tables yet (created at {s.head} on first use)")
        return
    state = "behind: run `gridflow db upgrade`" if s.behind else "up to date"
    click.echo(
        f"revision {s.revision or '(not stamped)'} (schema {s.version}); this gridflow: "
        f"{s.head} (schema {s.head_version}) — {state}"
    )


@db.command("history")
@pass_ctx
def history(obj: Context) -> None:
    """The schema's revisions, oldest first."""
    from gridflow.service import database

    for r in database.history():
        click.echo(f"{r.down_revision or '<base>'} -> {r.revision}  {r.doc}")


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@pass_ctx
def backup(obj: Context, file: Path, force: bool) -> None:
    """Back up a SQLite database to FILE while gridflow runs (PostgreSQL: pg_dump)."""
    from gridflow.service import database

    done = database.backup(obj.settings.database_url, file, force=force)
    click.echo(
        f"backed up to {done.path}: {done.bytes:,} bytes, {done.pages:,} pages in "
        f"{done.steps} step(s), {done.seconds:.2f} s"
    )


COMMANDS = [db]
