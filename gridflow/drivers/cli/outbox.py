"""``gridflow outbox … | notice preview``: notices waiting, sent and dead; templates."""

from __future__ import annotations

import dataclasses

import click

from gridflow.drivers.cli.context import CASE_ID, PAGE, Context, echo_json, parse_when, pass_ctx


@click.group()
def outbox() -> None:
    """Notices waiting, sent and dead."""


@outbox.command("list")
@click.option("--status", "status_", type=click.Choice(["pending", "sent", "dead"]))
@click.option("--limit", type=PAGE, default=50, show_default=True, help="At most 10000.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def outbox_list(obj: Context, status_: str | None, limit: int, as_json: bool) -> None:
    """List notices, newest first."""
    rows = obj.engine().outbox.notices(status_, limit)
    if as_json:
        echo_json([dataclasses.asdict(r) for r in rows])
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
                    _when(r.created_at, obj.tz),
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
    if not notice_id and not all_dead:
        raise click.UsageError("give a notice ID or --all-dead")
    outbox = obj.engine().outbox
    if notice_id and len(notice_id) < 32:
        notice_id = outbox.resolve(notice_id, "dead")
    click.echo(f"{outbox.retry(notice_id, all_dead=all_dead)} notice(s) queued again")


@outbox.command("endpoints")
@pass_ctx
def outbox_endpoints(obj: Context) -> None:
    """List the endpoints switched off (a webhook that answered 410 Gone)."""
    from tabulate import tabulate

    from gridflow.drivers.cli.render import _when

    rows = obj.engine().outbox.disabled_endpoints()
    click.echo(
        tabulate(
            [
                (r.channel, r.address or "(the channel's)", r.reason, _when(r.disabled_at, obj.tz))
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
    outbox = obj.engine().outbox
    if not outbox.enable_endpoint(channel, address):
        off = [f"{r.channel} {r.address!r}" for r in outbox.disabled_endpoints()]
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
    from gridflow.drivers.notifiers.registry import build_dispatcher

    dispatcher = build_dispatcher(obj.engine(), obj.settings)
    try:
        r = dispatcher.run_once(parse_when(now_text, obj.tz) if now_text else None)
    finally:
        dispatcher.close()
    click.echo(f"sent {r.sent}, retry later {r.retried}, dead {r.dead}")
    for e in r.errors:
        click.echo(f"  {e}", err=True)


@click.group()
def notice() -> None:
    """Notice templates."""


@notice.command("preview")
@click.argument("workflow")
@click.argument("template")
@click.option("--case", "case_id", type=CASE_ID, help="Render for this case (default: a sample).")
@click.option("--lang", default="zh-CN", show_default=True)
@click.option("--html", "as_html", is_flag=True, help="Show the HTML body.")
@pass_ctx
def notice_preview(
    obj: Context, workflow: str, template: str, case_id: int | None, lang: str, as_html: bool
) -> None:
    """Render TEMPLATE of WORKFLOW for a look."""
    r = obj.engine().preview(workflow, template, case_id=case_id, lang=lang)
    click.echo(f"Subject: {r.subject}\n")
    click.echo(r.html if as_html and r.html else r.text)


COMMANDS = [outbox, notice]
