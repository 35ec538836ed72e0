"""What every command shares: settings, the engine of this invocation, time, clean errors.

Commands are thin: parse options, call the engine, print a table (people) or JSON
(``--json``, scripts). Heavy modules are imported inside commands, so ``--help`` is fast.
Exit codes: 0 ok, 1 refused or failed, 2 usage. No traceback reaches the user; set
``GRIDFLOW_DEBUG=1`` to see one.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gridflow.domain.cases import Origin
    from gridflow.drivers.config import Settings
    from gridflow.service.engine import Engine


class Context:
    """Settings plus a lazily built ``Engine`` shared by the commands of one invocation."""

    def __init__(self, db: str | None, workflows: str | None, config: str | None):
        from gridflow.drivers.config import load_settings

        self.settings: Settings = load_settings(config)
        if db:
            self.settings.database_url = db
        if workflows:
            self.settings.workflows = workflows
        self._engine: Engine | None = None

    @property
    def tz(self) -> tzinfo:
        """The business timezone (``[calendar] timezone``, ``GRIDFLOW_TIMEZONE``): times are
        shown and read in it."""
        return self.settings.calendar.zone()

    def engine(self) -> Engine:
        """The engine of this invocation (workflow files read when first needed)."""
        if self._engine is None:
            from gridflow.service.engine import Engine

            s = self.settings
            default_channel = next(iter(s.channels)) if s.channels else "console"
            self._engine = Engine(
                s.database_url,
                s.workflows_dir(),
                calendar=s.calendar.build(),
                base_url=s.base_url,
                default_channel=default_channel,
                clock=self._env_clock(),
                lazy=True,
                parse_cache=s.parse_cache(),
                upgrade=s.database.upgrade_on_start,
            )
        return self._engine

    def origin(self) -> Origin:
        """Where a CLI step comes from: the command line, run by this OS user on this host
        (the ``--actor`` is what the user typed; these say who typed it)."""
        import getpass
        import socket

        from gridflow.domain.cases import Origin

        try:
            user: str | None = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container)
            user = str(os.getuid()) if hasattr(os, "getuid") else None
        return Origin(channel="cli", os_user=user, host=socket.gethostname())

    def _env_clock(self) -> Any:
        """``GRIDFLOW_NOW`` pins the clock (for simulations and scripted walk-throughs)."""
        pinned = os.environ.get("GRIDFLOW_NOW")
        if not pinned:
            return None
        moment = parse_when(pinned, self.tz)
        return lambda: moment


def parse_when(text: str, tz: tzinfo) -> datetime:
    """An ISO date or datetime; a naive one is read in ``tz``. Aware UTC out."""
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


pass_ctx = click.make_pass_decorator(Context)

MAX_ID = 2**63 - 1  # ids are 64-bit in both databases (gridflow.service.limits.MAX_ID)
CASE_ID = click.IntRange(1, MAX_ID)  # a case id; larger ones are usage errors
VERSION = click.IntRange(1, MAX_ID)
PAGE = click.IntRange(1, 10_000)  # rows of a list (gridflow.service.limits.MAX_PAGE)


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


# characters a terminal may act on that JSON leaves as they are: C1 controls (CSI …), line
# separators, bidi overrides; JSON itself escapes C0 controls (ESC is \u001b)
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(value: Any) -> str:
    """``value`` as indented JSON (Chinese as it is, datetimes as ISO text), with every
    character a terminal could act on escaped (``\u009b``): still the same JSON."""
    text = json.dumps(value, ensure_ascii=False, default=str, indent=2)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (see :func:`json_text`)."""
    click.echo(json_text(value))
