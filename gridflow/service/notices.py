"""Notices: who gets what, owed in the outbox in the event's transaction.

The event's (or timer's) transaction writes what is owed — template, language, recipient,
channel, and a compact context as the step saw it — so the notice is durably owed when the
step commits. Rendering happens at delivery (:mod:`gridflow.service.rendering`, called by the
dispatcher in :mod:`gridflow.service.outbox`), once per notice × language × step, shared by
the recipients where the template allows; the preview renders through the same path.
Recipients are resolved once per (workflow, names, case unit, the fields they depend on)
within a pass (``memo``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridflow.domain import recipients, sla
from gridflow.domain.fields import defaults
from gridflow.domain.machine import CaseView, CompiledWorkflow, local_time
from gridflow.domain.notice import RenderedNotice
from gridflow.domain.org import SYSTEM, Actor
from gridflow.service.definitions import Definitions
from gridflow.service.rendering import (
    NoticeRenderer,
    RenderFailure,
    decode_context,
    encode_context,
)
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_of, sla_context, title_of
from gridflow.storage.records import CaseRecord, NoticeRecord
from gridflow.storage.store import Tx

if TYPE_CHECKING:
    from gridflow.domain.templates.renderer import TemplateRenderer


@dataclass
class Deferred:
    """Owed notices of one transaction, kept for one insert (see ``NoticeService.deferred``)."""

    tx: Tx
    rows: list[dict[str, Any]] = field(default_factory=list)
    memo: dict[Any, list[Actor]] = field(default_factory=dict)

    def mark(self) -> int:
        return len(self.rows)

    def drop_since(self, mark: int) -> None:
        del self.rows[mark:]


_DEFERRED: ContextVar[Deferred | None] = ContextVar("gridflow_deferred_notices", default=None)


class NoticeService:
    """Renders notices and writes them to the outbox. ``template_roots``: folders with a
    ``templates/`` tree, the first that has a file wins."""

    def __init__(
        self,
        rt: Runtime,
        defs: Definitions,
        template_roots: Iterable[Path],
        bytecode_dir: Path | None = None,
    ):
        self.rt, self.defs, self._bytecode_dir = rt, defs, bytecode_dir
        self._roots = [p for p in template_roots if p.is_dir()]
        self._rendering: NoticeRenderer | None = None

    @property
    def rendering(self) -> NoticeRenderer:
        """Rendering at delivery (templates compiled once, on first use)."""
        if self._rendering is None:
            from gridflow.domain.templates.renderer import TemplateRenderer

            renderer = TemplateRenderer(self._roots, bytecode_dir=self._bytecode_dir)
            self._rendering = NoticeRenderer(renderer, self._roots, self._fallback_language)
        return self._rendering

    @property
    def renderer(self) -> TemplateRenderer:
        return self.rendering.renderer

    # ---- the event's notices -------------------------------------------------------------
    def notify(
        self,
        tx: Tx,
        wf: CompiledWorkflow,
        view: CaseView,
        to: Iterable[str],
        template: str,
        actor: Actor | None,
        creator: str | None,
        event: Mapping[str, Any],
        now: datetime,
        seq: int | None,
        extra: Mapping[str, Any] | None = None,
        memo: dict[Any, list[Actor]] | None = None,
    ) -> int:
        """Write one owed notice per recipient and channel; how many rows. ``memo`` keeps
        resolved recipients across calls. Inside :meth:`deferred` for ``tx`` the rows are
        kept for one insert at the end of the pass, with the pass's recipient memo."""
        pending = _DEFERRED.get()
        if pending is not None and pending.tx is tx:
            rows = self.owed(
                wf, view, to, template, actor, creator, event, now, seq, extra, pending.memo
            )
            pending.rows.extend(rows)
            return len(rows)
        rows = self.owed(wf, view, to, template, actor, creator, event, now, seq, extra, memo)
        self.rt.store.outbox.insert(tx, rows)
        return len(rows)

    @contextmanager
    def deferred(self, tx: Tx) -> Iterator[Deferred]:
        """Notices owed by ``tx`` collected (not inserted) while the block runs, with one
        recipient memo: a batch of timers writes its notices with one executemany. The
        caller inserts ``rows`` before committing; ``mark``/``drop_since`` let a failed
        timer's notices go with its savepoint."""
        pending = Deferred(tx)
        token = _DEFERRED.set(pending)
        try:
            yield pending
        finally:
            _DEFERRED.reset(token)

    def owed(
        self,
        wf: CompiledWorkflow,
        view: CaseView,
        to: Iterable[str],
        template: str,
        actor: Actor | None,
        creator: str | None,
        event: Mapping[str, Any],
        now: datetime,
        seq: int | None,
        extra: Mapping[str, Any] | None = None,
        memo: dict[Any, list[Actor]] | None = None,
    ) -> list[dict[str, Any]]:
        """The outbox rows owed for ``template`` to ``to``: one per recipient and channel,
        each with the context of the recipient's language (built once per language)."""
        names = tuple(to)
        people = self._recipients(wf, view, names, actor, creator, memo)
        contexts: dict[str, str] = {}
        rows = []
        for person in people:
            lang = person.lang
            if lang not in contexts:
                contexts[lang] = encode_context(self.context(wf, view, event, lang, now, extra))
            for channel, address in self.targets(person):
                rows.append(
                    self._row(view.id, seq, wf.id, template, person, channel, address, now)
                    | {"context": contexts[lang]}
                )
        return rows

    def _recipients(
        self,
        wf: CompiledWorkflow,
        view: CaseView,
        names: tuple[str, ...],
        actor: Actor | None,
        creator: str | None,
        memo: dict[Any, list[Actor]] | None,
    ) -> list[Actor]:
        directory = self.defs.directory
        if memo is None:
            return recipients.resolve(
                names, wf=wf, case=view, directory=directory, actor=actor, creator=creator
            )
        depends = tuple(str(view.data.get(f)) for f in recipients.fields_read(wf, names))
        # the actor and the creator matter only where they are named
        who = actor if "actor" in names else None
        made_by = creator if ("creator" in names or "reporter" in names) else None
        key = (wf.id, wf.revision, view.state, view.unit, names, depends, who, made_by)
        if key not in memo:
            memo[key] = recipients.resolve(
                names, wf=wf, case=view, directory=directory, actor=actor, creator=creator
            )
        return memo[key]

    def context(
        self,
        wf: CompiledWorkflow,
        view: CaseView,
        event: Mapping[str, Any],
        lang: str,
        now: datetime,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """What a notice template sees but the recipient: ``case``, ``event``, ``sla``,
        ``link``, ``notice``, ``digest`` — labels in ``lang``. ``event.at`` and ``sla.due``
        are ``LocalTime`` values in the business calendar's zone (their text is local)."""
        d = wf.definition
        directory = self.defs.directory
        unit = directory.units.get(view.unit) if view.unit else None
        state = d.states[view.state]
        actor: Actor | None = event.get("actor")
        extra = extra or {}
        return {
            "case": {
                "id": view.id,
                "title": title_of(d, view),
                "workflow": wf.id,
                "workflow_title": d.title.get(lang),
                "state": view.state,
                "state_label": state.label.get(lang) if state.label else view.state,
                "data": dict(view.data),
                "unit": view.unit,
                "unit_name": (unit.name_en or unit.name)
                if unit and lang.startswith("en")
                else (unit.name if unit else view.unit),
                "url": self.rt.case_url(view.id),
            },
            "event": {
                "trigger": event.get("trigger"),
                "comment": event.get("comment"),
                "actor": actor.id if actor else None,
                "actor_name": (actor.name or actor.id) if actor else None,
                "from_state": event.get("from_state"),
                "at": local_time(event.get("at"), self.rt.calendar.tz),
            },
            "sla": extra.get("sla") or sla_context(None, tz=self.rt.calendar.tz),
            "link": self.rt.base_url,
            "notice": extra.get("notice", {}),
            "digest": extra.get("digest", {}),
        }

    def _fallback_language(self, workflow_id: str) -> str | None:
        """The language a workflow's notices fall back to (``fallback_language``)."""
        wf = self.defs.current.get(workflow_id)
        return wf.definition.fallback_language if wf is not None else None

    def render_rows(
        self, rows: Sequence[NoticeRecord]
    ) -> dict[str, RenderedNotice | RenderFailure]:
        """The rendered notice of each owed row (or why it cannot be), by row id."""
        return self.rendering.render(rows, self.rt.calendar.tz)

    # ---- the overdue digest --------------------------------------------------------------
    def digest(self, now: datetime | None = None) -> int:
        """The overdue digest: one notice per unit leader listing the unit's overdue open
        cases (template ``templates/gridflow/digest``), owed like any other. Returns the
        notices written."""
        now = now or self.rt.now()
        store, directory, tz = self.rt.store, self.defs.directory, self.rt.calendar.tz
        with store.write() as tx:
            by_unit: dict[str, list[CaseRecord]] = {}
            for row in store.cases.overdue(tx, now):
                by_unit.setdefault(row.unit or "", []).append(row)
            written = []
            for unit_id, cases in by_unit.items():
                unit = directory.units.get(unit_id)
                items = []
                for row in cases:
                    view = sla.view(clock_of(row), now, self.rt.calendar)
                    items.append(
                        {
                            "id": row.id,
                            "title": row.title,
                            "workflow": row.workflow_id,
                            "state": row.state,
                            "due": local_time(row.due_at, tz),
                            "overdue_hours": round(((view and view.overdue_by) or 0) / 3600, 1),
                            "url": self.rt.case_url(row.id),
                        }
                    )
                for person in directory.leaders(unit_id) if unit_id else []:
                    name = (
                        (unit.name_en or unit.name)
                        if unit and person.lang.startswith("en")
                        else (unit.name if unit else unit_id)
                    )
                    context = {
                        "digest": {
                            "unit": unit_id,
                            "unit_name": name,
                            "cases": items,
                            "count": len(items),
                            "date": local_time(now, tz),
                        },
                        "link": self.rt.base_url,
                    }
                    owed = encode_context(context)
                    for channel, address in self.targets(person):
                        notice = self._row(
                            None, None, "gridflow", "digest", person, channel, address, now
                        )
                        written.append(notice | {"context": owed})
            store.outbox.insert(tx, written)
        return len(written)

    # ---- a look at a template ------------------------------------------------------------
    def preview(
        self,
        workflow: str,
        template: str,
        *,
        case: CaseView | None = None,
        revision: int | None = None,
        sla_view: sla.SlaView | None = None,
        lang: str = "zh-CN",
    ) -> RenderedNotice:
        """``template`` rendered for ``case`` (with its ``sla_view``), or for a sample case
        in the workflow's first initial state — the context built and encoded as an owed
        notice's is, and rendered as delivery renders it. Raises the renderer's errors."""
        now = self.rt.now()
        wf = self.defs.workflow(workflow, revision)
        if case is None:
            d = wf.definition
            data = defaults(d.fields)
            if d.title_field:
                data[d.title_field] = (
                    "示例：小区车棚充电桩改造"
                    if lang.startswith("zh")
                    else "Sample: charging points in the bike shed"
                )
            unit = next(iter(self.defs.directory.units), None)
            case = CaseView(0, d.initial_states[0], 1, data, unit, now, None)
            clock, _ = sla.enter(
                case.state,
                d.states[case.state],
                sla.NO_CLOCK,
                data,
                now,
                self.rt.calendar,
                None,
                wf.due_expressions.get(case.state),
            )
            sla_view = sla.view(clock, now, self.rt.calendar)
        event = {
            "trigger": "preview",
            "actor": SYSTEM,
            "comment": None,
            "from_state": None,
            "at": now,
        }
        tz = self.rt.calendar.tz
        context = self.context(
            wf,
            case,
            event,
            lang,
            now,
            {
                "sla": sla_context(sla_view, tz=tz),
                "notice": {"kind": template, "label": "50%", "late_by": None},
                "digest": {
                    "unit": case.unit,
                    "unit_name": case.unit,
                    "cases": [],
                    "count": 0,
                    "date": now,
                },
            },
        )
        context = decode_context(encode_context(context), tz)  # as delivery will see it
        name = "预览" if lang.startswith("zh") else "Preview"
        context["recipient"] = {"id": "preview", "name": name, "lang": lang}
        return self.rendering.render_one(wf.id, template, lang, context)

    # ---- rows ----------------------------------------------------------------------------
    def targets(self, person: Actor) -> list[tuple[str, str]]:
        """(channel, address) pairs a person's notices go to; the default channel if none."""
        return [(c.channel, c.address) for c in person.channels] or [(self.rt.default_channel, "")]

    @staticmethod
    def _row(
        case_id: int | None,
        seq: int | None,
        workflow_id: str,
        notice: str,
        person: Actor,
        channel: str,
        address: str,
        now: datetime,
    ) -> dict[str, Any]:
        """An owed notice's row (its ``context`` added by the caller)."""
        return dict(
            id=uuid.uuid4().hex,
            case_id=case_id,
            history_seq=seq,
            workflow_id=workflow_id,
            notice=notice,
            recipient=person.id,
            recipient_name=person.name or None,
            channel=channel,
            address=address,
            lang=person.lang,
            subject="",
            text="",
            html=None,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
