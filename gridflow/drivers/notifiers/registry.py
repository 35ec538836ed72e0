"""Build the configured notice channels: ``{name: {"type": ..., **options}}`` → ``{name: Channel}``.

``type`` selects the class (``console``, ``file``, ``smtp``, ``webhook``) and defaults to the
channel's name when that is a type (``[channels.console]``). Unknown types and options are
refused with a did-you-mean hint. With no configuration at all there is one channel,
``console``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gridflow.domain.notice import Channel
from gridflow.domain.suggest import did_you_mean
from gridflow.drivers.notifiers.console import ConsoleChannel
from gridflow.drivers.notifiers.file import FileChannel
from gridflow.drivers.notifiers.smtp import SmtpChannel
from gridflow.drivers.notifiers.webhook import WebhookChannel
from gridflow.errors import GridflowError

if TYPE_CHECKING:
    from gridflow.drivers.config import Settings
    from gridflow.service.engine import Engine
    from gridflow.service.outbox import Dispatcher

CHANNEL_TYPES: dict[str, type] = {
    "console": ConsoleChannel,
    "file": FileChannel,
    "smtp": SmtpChannel,
    "webhook": WebhookChannel,
}


def _build(name: str, options: Mapping[str, Any]) -> Channel:
    if not isinstance(options, Mapping):
        raise GridflowError(f"channel {name!r}: options must be a table, not {options!r}")
    opts = dict(options)
    kind = opts.pop("type", name if name in CHANNEL_TYPES else None)
    known = ", ".join(CHANNEL_TYPES)
    if kind is None:
        raise GridflowError(f"channel {name!r} has no type (one of {known})")
    cls = CHANNEL_TYPES.get(kind)
    if cls is None:
        hint = did_you_mean(str(kind), CHANNEL_TYPES)
        raise GridflowError(f"channel {name!r}: unknown type {kind!r}{hint}; known: {known}")
    params = {
        p.name: p for p in inspect.signature(cls).parameters.values() if p.kind is p.KEYWORD_ONLY
    }
    for key in opts:
        if key not in params:
            hint = did_you_mean(key, params)
            raise GridflowError(f"channel {name!r} ({kind}): unknown option {key!r}{hint}")
    missing = [k for k, p in params.items() if p.default is p.empty and k not in opts]
    if missing:
        raise GridflowError(f"channel {name!r} ({kind}) needs {', '.join(map(repr, missing))}")
    return cls(name, **opts)


def build_channels(config: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Channel]:
    """Every configured channel by name; ``{"console": ConsoleChannel}`` when none is."""
    if not config:
        return {"console": ConsoleChannel("console")}
    channels: dict[str, Channel] = {}
    try:
        for name, options in config.items():
            channels[name] = _build(name, options)
    except BaseException:
        for channel in channels.values():
            channel.close()
        raise
    return channels


def build_dispatcher(engine: Engine, settings: Settings) -> Dispatcher:
    """A dispatcher over the channels configured in ``settings`` (default: console); a
    notice naming a channel that is not configured goes to the engine's default channel."""
    return engine.dispatcher(build_channels(settings.channels or {}))
