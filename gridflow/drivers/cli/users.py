"""``gridflow user set-password | list | remove``: local accounts of the web workbench.

    gridflow user set-password wannan.chief            # asks twice, shows nothing
    printf '%s\\n' "$PW" | gridflow user set-password --stdin wannan.chief
    gridflow user list
    gridflow user remove wannan.chief                  # and ends their sessions

Only the argon2id hash is kept. Setting a password ends the person's sessions.
"""

from __future__ import annotations

import sys

import click

from gridflow.drivers.cli.context import Context, pass_ctx


@click.group("user")
def user() -> None:
    """Local accounts of the web workbench: passwords (argon2), sessions."""


@user.command("set-password")
@click.argument("person")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def set_password(obj: Context, person: str, from_stdin: bool) -> None:
    """Set PERSON's password (a person of the org directory)."""
    engine = obj.engine()
    if person not in engine.directory.people:
        from gridflow.errors import NotFound

        raise NotFound("person", person, engine.directory.people)
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        first = click.prompt("Password", hide_input=True, err=True)
        second = click.prompt("Again", hide_input=True, err=True)
        if first != second:
            raise click.ClickException("the two passwords do not match; nothing changed")
        password = first
    new = engine.accounts.set_password(person, password, by="cli")
    click.echo(f"{'account created' if new else 'password changed'} for {person}", err=True)


@user.command("list")
@pass_ctx
def list_users(obj: Context) -> None:
    """People with a local password, and their live sessions."""
    engine = obj.engine()
    sessions = engine.sessions.live_counts()
    rows = engine.accounts.listed()
    if not rows:
        click.echo("no accounts")
        return
    from tabulate import tabulate

    table = [
        (
            a.person,
            engine.directory.people[a.person].name
            if a.person in engine.directory.people
            else "(gone)",
            f"{a.updated_at.astimezone(obj.tz):%Y-%m-%d %H:%M}",
            sessions.get(a.person, 0),
        )
        for a in rows
    ]
    click.echo(tabulate(table, headers=["person", "name", "password set", "sessions"]))


@user.command("remove")
@click.argument("person")
@pass_ctx
def remove(obj: Context, person: str) -> None:
    """Remove PERSON's password and end their sessions."""
    if not obj.engine().accounts.remove(person):
        raise click.ClickException(f"{person} has no account")
    click.echo(f"account of {person} removed", err=True)


COMMANDS = [user]
