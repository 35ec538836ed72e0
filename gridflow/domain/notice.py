"""The notice-channel contract: an ``OutboundNotice`` goes in, ``deliver`` returns or raises.

``deliver`` returns only when the channel has accepted the notice. Otherwise it raises
``DeliveryError``: ``permanent=True`` → dead letter, never retry; ``permanent=False`` → retry
(no sooner than ``retry_after`` seconds when given); ``disable_endpoint=True`` → the endpoint
itself is gone (HTTP 410) and should be switched off. Delivery is at-least-once: a dispatcher may
call ``deliver`` again with the same ``id`` after a crash or a timeout, so every channel passes
``id`` on as an idempotency key (Message-ID, ``Idempotency-Key``) or de-duplicates by it.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from gridflow.errors import DeliveryError

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SUBJECT_MAX = 200
# what a render shared by several recipients prints where each one's id and name go
PLACEHOLDERS = {"id": "\ue000gf:recipient.id\ue001", "name": "\ue000gf:recipient.name\ue001"}


@dataclass(frozen=True)
class RenderedNotice:
    """A rendered notice, ready to become an ``OutboundNotice``."""

    subject: str  # one line, control chars stripped, whitespace collapsed, ≤ 200 chars
    text: str  # plain-text body, not escaped
    html: str | None  # body of the .html twin (autoescaped), None when there is no twin


def clean_subject(raw: str) -> str:
    """One line: control/line-separator chars → space, format chars dropped, ≤ 200 chars."""
    out = []
    for ch in raw:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif cat not in ("Cf", "Cs"):
            out.append(ch)
    subject = " ".join("".join(out).split())
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    return subject


def new_notice_id() -> str:
    """A fresh notice id: 32 lowercase hex digits (uuid4)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class OutboundNotice:
    """One rendered notice on its way to one address over one channel."""

    id: str  # stable id (uuid4 hex): the idempotency key everywhere
    channel: str  # configured channel name, e.g. "email"
    address: str  # e-mail address / webhook URL / file-channel subfolder, or ""
    subject: str
    text: str
    html: str | None
    case_id: int | None
    workflow_id: str | None
    notice: str  # template name, e.g. "assignment"
    lang: str
    created_at: datetime  # aware, UTC
    attempt: int = 1

    @classmethod
    def create(cls, **fields: object) -> OutboundNotice:
        """Build a notice with a fresh ``id`` and ``created_at=now`` unless given."""
        fields.setdefault("id", new_notice_id())
        fields.setdefault("created_at", datetime.now(UTC))
        return cls(**fields)  # type: ignore[arg-type]

    def next_attempt(self) -> OutboundNotice:
        """The same notice (same id) for the next try."""
        return replace(self, attempt=self.attempt + 1)


def check_notice_id(notice: OutboundNotice) -> str:
    """The notice id when it is safe in file names and headers, else a permanent DeliveryError."""
    if not _ID_RE.match(notice.id):
        raise DeliveryError(
            f"notice id {notice.id!r} is not [A-Za-z0-9_-]{{1,128}}", permanent=True
        )
    return notice.id


@runtime_checkable
class Channel(Protocol):
    """A configured way of sending notices (console, file, smtp, webhook)."""

    name: str

    def deliver(self, notice: OutboundNotice) -> None:
        """Return once accepted; raise ``DeliveryError`` otherwise (see the module docstring)."""
        ...

    def close(self) -> None:
        """Release resources; the channel is not used afterwards."""
        ...


def flush(channel: Channel) -> None:
    """Make every notice ``channel`` has accepted durable, when it buffers (its optional
    ``flush()``: the file channel syncs once per batch instead of once per notice). The
    dispatcher records notices as sent only after this returns; ``DeliveryError`` means
    none of the batch's notices is safe and all are tried again."""
    method = getattr(channel, "flush", None)
    if callable(method):
        method()
