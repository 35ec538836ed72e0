"""``gridflow serve``: the HTTP API (see :mod:`gridflow.drivers.http`)."""

from __future__ import annotations

import click

from gridflow.drivers.cli.context import Context, pass_ctx


@click.command()
@click.option("--host", metavar="ADDR", help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), help="Port [default: 8080].")
@click.option("--with-daemon", is_flag=True, help="Also run the daemon's passes here.")
@click.option("--print-openapi", is_flag=True, help="Print the OpenAPI document and exit.")
@pass_ctx
def serve(
    obj: Context, host: str | None, port: int | None, with_daemon: bool, print_openapi: bool
) -> None:
    """Serve the HTTP API (/api/v1, /livez, /readyz, /metrics) on the same database and
    settings as the daemon ([http] in gridflow.toml, GRIDFLOW_HTTP_*). SIGHUP reloads."""
    if print_openapi:
        from gridflow.drivers.http.app import create_app
        from gridflow.drivers.http.openapi import text

        click.echo(text(create_app(obj.engine(), obj.settings.http, sweep=False)), nl=False)
        return
    from gridflow.drivers.http.server import serve as run

    http = obj.settings.http
    run(
        obj.engine(),
        obj.settings,
        host=host or http.host,
        port=http.port if port is None else port,
        with_daemon=with_daemon,
    )


COMMANDS = [serve]
