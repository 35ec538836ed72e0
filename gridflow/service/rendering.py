"""Rendering owed notices at delivery: one render per notice × language × step, shared.

An outbox row owes a notice: template, language, recipient, channel, and the compact context
the step saw (JSON, times tagged so they come back as times). The dispatcher asks for the
rows it claimed to be rendered: rows with the same template, language and context are one
render — when the template uses the recipient only to print their name or id, that render
carries placeholders replaced per person (``domain.templates.sharing``); otherwise each
person gets their own. A template that fails gives that row a ``RenderFailure`` with the
located error, and the dispatcher dead-letters it: a notice is never lost, never retried
forever, and never sent garbled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import escape

from gridflow.domain.machine import local_time
from gridflow.domain.notice import PLACEHOLDERS, RenderedNotice, clean_subject
from gridflow.errors import GridflowError
from gridflow.storage.records import NoticeRecord

if TYPE_CHECKING:  # the sandbox and Jinja are imported only when something is rendered
    from gridflow.domain.templates.renderer import TemplateRenderer

_TIME = "$t"  # tag of an encoded time: {"$t": "2026-03-09T17:30:00+08:00"}


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_TIME: value.isoformat()}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} cannot be kept in a notice's context")


# compact, non-ASCII kept, times tagged (the C encoder calls ``_tag`` only for them)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_tag)


def encode_context(value: Mapping[str, Any]) -> str:
    """A notice's context as JSON text: times tagged ``{"$t": iso}`` (no key of a context
    starts with ``$``: field names are lower_snake_case), tuples as lists."""
    return _ENCODER.encode(value)


def decode_context(text: str, tz: tzinfo) -> Any:
    """The inverse of :func:`encode_context`; times come back as local times in ``tz``."""

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) == 1 and _TIME in obj:
            return local_time(datetime.fromisoformat(obj[_TIME]), tz)
        return obj

    return json.loads(text, object_hook=hook)


def recipient_context(person: str, name: str, lang: str) -> dict[str, str]:
    """What a template sees as ``recipient`` (the rest of its context is the owed row's)."""
    return {"id": person, "name": name, "lang": lang}


@dataclass(frozen=True)
class RenderFailure:
    """Why a row could not be rendered (the located template error)."""

    message: str


class NoticeRenderer:
    """Renders owed outbox rows through the sandboxed template renderer."""

    def __init__(
        self,
        renderer: TemplateRenderer,
        roots: Sequence[Path],
        fallback_of: Callable[[str], str | None] = lambda workflow_id: None,
    ):
        """``fallback_of``: a workflow's ``fallback_language`` (None: the defaults)."""
        self.renderer = renderer
        self._roots = [str(r) for r in roots]
        self._fallback_of = fallback_of
        self._shared: dict[tuple[str, str, str], bool] = {}

    def render(
        self, rows: Sequence[NoticeRecord], tz: tzinfo
    ) -> dict[str, RenderedNotice | RenderFailure]:
        """Each row's rendered notice (or why not), by row id. Rows written before notices
        were owed (no context) keep the text they were written with."""
        out: dict[str, RenderedNotice | RenderFailure] = {}
        groups: dict[tuple[str, str, str, str], list[NoticeRecord]] = {}
        for row in rows:
            if row.context is None:
                out[row.id] = RenderedNotice(row.subject, row.text, row.html)
                continue
            key = (row.workflow_id or "", row.notice, row.lang, row.context)
            groups.setdefault(key, []).append(row)
        for (workflow, notice, lang, text), members in groups.items():
            context = decode_context(text, tz)
            shared: RenderedNotice | RenderFailure | None = None
            if self._shares(workflow, notice, lang):
                shared = self._one(workflow, notice, lang, context, None)
            for row in members:
                if shared is not None and row.recipient_name:
                    out[row.id] = _personal(shared, row)
                else:
                    out[row.id] = self._one(workflow, notice, lang, context, row)
        return out

    def render_one(
        self, workflow: str, notice: str, lang: str, context: Mapping[str, Any]
    ) -> RenderedNotice:
        """A template rendered for a full context (``recipient`` included), raising the
        renderer's errors unchanged: the preview's path."""
        return self.renderer.render(
            workflow, notice, lang, context, fallback=self._fallback_of(workflow)
        )

    def _one(
        self,
        workflow: str,
        notice: str,
        lang: str,
        context: dict[str, Any],
        row: NoticeRecord | None,
    ) -> RenderedNotice | RenderFailure:
        who = (
            recipient_context(PLACEHOLDERS["id"], PLACEHOLDERS["name"], lang)
            if row is None
            else recipient_context(row.recipient, row.recipient_name or "", lang)
        )
        try:
            return self.renderer.render(
                workflow,
                notice,
                lang,
                {**context, "recipient": who},
                fallback=self._fallback_of(workflow),
            )
        except GridflowError as exc:
            return RenderFailure(self._relative(f"template {workflow}/{notice}: {exc}"))

    def _shares(self, workflow: str, notice: str, lang: str) -> bool:
        key = (workflow, notice, lang)
        if key not in self._shared:
            fallback = self._fallback_of(workflow)
            self._shared[key] = self.renderer.shares_renders(workflow, notice, lang, fallback)
        return self._shared[key]

    def _relative(self, message: str) -> str:
        """The message without the server's template folders (paths from the root)."""
        for root in self._roots:
            message = message.replace(f"{root}/templates/", "")
        return message


def _personal(
    shared: RenderedNotice | RenderFailure, row: NoticeRecord
) -> RenderedNotice | RenderFailure:
    if isinstance(shared, RenderFailure):
        return shared
    name, rid = row.recipient_name or "", row.recipient

    def fill(text: str, html: bool = False) -> str:
        n, i = (str(escape(name)), str(escape(rid))) if html else (name, rid)
        return text.replace(PLACEHOLDERS["name"], n).replace(PLACEHOLDERS["id"], i)

    return RenderedNotice(
        clean_subject(fill(shared.subject)),
        fill(shared.text),
        None if shared.html is None else fill(shared.html, html=True),
    )
