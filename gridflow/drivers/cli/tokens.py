"""``gridflow token create | list | revoke``: API tokens for machine clients and people.

    gridflow token create --person wannan.chief [--expires 90d] [--label "城运对接"]
    gridflow token create --service cityops.app
    gridflow token list [--all] [--json]
    gridflow token revoke t_3f9a0c1b2d4e

The token is printed once; only its hash is kept.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import click

from gridflow.drivers.cli.context import Context, echo_json, parse_when, pass_ctx

_SPAN = re.compile(r"^(\d+)\s*([dhmw])$")


def parse_expiry(text: str, now: datetime, obj: Context) -> datetime:
    """``90d``, ``12h``, ``30m``, ``2w`` from now, or an ISO date/datetime (local time)."""
    m = _SPAN.match(text.strip().lower())
    if m:
        n, unit = int(m[1]), m[2]
        if n <= 0:
            raise click.BadParameter(f"{text!r}: not a positive span", param_hint="--expires")
        key = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}[unit]
        return now + timedelta(**{key: n})
    return parse_when(text, obj.tz)


@click.group("token")
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create")
@click.option("--person", metavar="ID", help="A person of the org directory.")
@click.option("--service", metavar="ID", help="A service account of the org directory.")
@click.option("--expires", metavar="SPAN", help="90d, 12h, 2w or an ISO date [default: never].")
@click.option("--label", default="", help="What it is for.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def create(
    obj: Context,
    person: str | None,
    service: str | None,
    expires: str | None,
    label: str,
    as_json: bool,
) -> None:
    """Create a token for a person or a service account; print it (this once)."""
    if (person is None) == (service is None):
        raise click.UsageError("give exactly one of --person or --service")
    engine = obj.engine()
    when = parse_expiry(expires, engine.now(), obj) if expires else None
    principal = person or service
    assert principal is not None
    if service is not None and service not in engine.directory.service_accounts:
        from gridflow.errors import NotFound

        raise NotFound("service account", service, engine.directory.service_accounts)
    if person is not None and person not in engine.directory.people:
        from gridflow.errors import NotFound

        raise NotFound("person", person, engine.directory.people)
    issued = engine.tokens.create(principal, expires_at=when, label=label, created_by="cli")
    if as_json:
        echo_json(
            {
                "id": issued.id,
                "token": issued.token,
                "principal": issued.principal,
                "kind": issued.kind,
                "expires_at": issued.expires_at,
            }
        )
        return
    click.echo(issued.token)
    until = (
        f", expires {issued.expires_at.astimezone(obj.tz):%Y-%m-%d %H:%M}"
        if issued.expires_at
        else ""
    )
    click.echo(
        f"token {issued.id} for {issued.principal} ({issued.kind}){until} — shown once, "
        "store it now",
        err=True,
    )


@token.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked ones too.")
@click.option("--principal", metavar="ID", help="Only this person's or account's.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_tokens(obj: Context, include_revoked: bool, principal: str | None, as_json: bool) -> None:
    """Tokens (never their secrets): whose, when created, last used, expiry, revocation."""
    from dataclasses import asdict

    rows = obj.engine().tokens.listed(principal, include_revoked=include_revoked)
    if as_json:
        echo_json([{k: v for k, v in asdict(r).items() if k != "hash"} for r in rows])
        return
    from tabulate import tabulate

    def t(value: datetime | None) -> str:
        return f"{value.astimezone(obj.tz):%Y-%m-%d %H:%M}" if value else ""

    table = [
        (
            r.id,
            r.principal,
            r.kind,
            r.label,
            t(r.created_at),
            f"{t(r.last_used_at)} {r.last_used_from or ''}".strip(),
            t(r.expires_at),
            t(r.revoked_at),
        )
        for r in rows
    ]
    headers = ["id", "principal", "kind", "label", "created", "last used", "expires", "revoked"]
    click.echo(tabulate(table, headers=headers) if table else "no tokens")


@token.command("revoke")
@click.argument("token_id")
@pass_ctx
def revoke(obj: Context, token_id: str) -> None:
    """Revoke a token: its next request is refused, on every server."""
    row = obj.engine().tokens.revoke(token_id, by="cli")
    click.echo(f"token {row.id} of {row.principal} revoked")


COMMANDS = [token]
