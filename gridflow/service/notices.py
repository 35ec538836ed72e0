"""Notices: who gets what, rendered how, written to the outbox in the event's transaction.

Delivery is not here: the dispatcher (:mod:`gridflow.service.outbox`) sends the rows. A
template that fails never loses a notice: it is sent as plain text saying so (once logged).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from gridflow.domain import recipients, sla
from gridflow.domain.fields import defaults
from gridflow.domain.machine import CaseView, CompiledWorkflow, local_time
from gridflow.domain.org import SYSTEM, Actor
from gridflow.domain.templates.renderer import RenderedNotice, TemplateRenderer
from gridflow.errors import GridflowError
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.service.views import clock_of, sla_context, title_of
from gridflow.storage.store import Tx

log = logging.getLogger("gridflow.engine")


class NoticeService:
    """Renders notices and writes them to the outbox. ``template_roots``: folders with a
    ``templates/`` tree, the first that has a file wins."""

    def __init__(self, rt: Runtime, defs: Definitions, template_roots: Iterable[Path]):
        self.rt, self.defs = rt, defs
        self._roots = list(template_roots)
        self._renderer: TemplateRenderer | None = None
        self._template_problems: set[tuple[str, str]] = set()

    @property
    def renderer(self) -> TemplateRenderer:
        if self._renderer is None:
            self._renderer = TemplateRenderer([p for p in self._roots if p.is_dir()])
        return self._renderer

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
    ) -> int:
        """Render ``template`` for each recipient and write one outbox row per channel;
        how many rows."""
        people = recipients.resolve(
            to, wf=wf, case=view, directory=self.defs.directory, actor=actor, creator=creator
        )
        rows = []
        for person in people:
            context = self.context(wf, view, event, person, now, extra)
            subject, text, html = self._render(wf, template, person.lang, context)
            for channel, address in self.targets(person):
                rows.append(
                    self._row(
                        view.id,
                        seq,
                        wf.id,
                        template,
                        person,
                        channel,
                        address,
                        (subject, text, html),
                        now,
                    )
                )
        self.rt.store.outbox.insert(tx, rows)
        return len(rows)

    def context(
        self,
        wf: CompiledWorkflow,
        view: CaseView,
        event: Mapping[str, Any],
        person: Actor,
        now: datetime,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """What a notice template sees: ``case``, ``event``, ``sla``, ``recipient``,
        ``link``, ``notice``, ``digest``. ``event.at`` and ``sla.due`` are ``LocalTime``
        values in the business calendar's zone (their text is the local time)."""
        d = wf.definition
        directory = self.defs.directory
        unit = directory.units.get(view.unit) if view.unit else None
        state = d.states[view.state]
        actor: Actor | None = event.get("actor")
        lang = person.lang
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
            "recipient": {"id": person.id, "name": person.name, "lang": lang},
            "link": self.rt.base_url,
            "notice": extra.get("notice", {}),
            "digest": extra.get("digest", {}),
        }

    def _render(
        self, wf: CompiledWorkflow, template: str, lang: str, context: dict[str, Any]
    ) -> tuple[str, str, str | None]:
        try:
            fallback = wf.definition.fallback_language
            r = self.renderer.render(wf.id, template, lang, context, fallback=fallback)
            return r.subject, r.text, r.html
        except GridflowError as exc:  # never lose a notice to a template: send it plain
            if (wf.id, template) not in self._template_problems:  # say it once, not per notice
                self._template_problems.add((wf.id, template))
                log.warning("template %s/%s: %s", wf.id, template, exc)
            case = context["case"]
            return (
                f"[{template}] #{case['id']} {case['title']}",
                f"{case['workflow_title']} #{case['id']} {case['title']}: "
                f"{case['state_label']}\n{case['url']}\n(template problem: {exc})",
                None,
            )

    # ---- the overdue digest --------------------------------------------------------------
    def digest(self, now: datetime | None = None) -> int:
        """The overdue digest: one notice per unit leader listing the unit's overdue open
        cases (template ``templates/gridflow/digest``). Returns the notices written."""
        now = now or self.rt.now()
        store, directory = self.rt.store, self.defs.directory
        with store.write() as tx:
            by_unit: dict[str, list] = {}
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
                            "due": row.due_at,
                            "overdue_hours": round(((view and view.overdue_by) or 0) / 3600, 1),
                            "url": self.rt.case_url(row.id),
                        }
                    )
                for person in directory.leaders(unit_id) if unit_id else []:
                    context = {
                        "digest": {
                            "unit": unit_id,
                            "unit_name": (unit.name_en or unit.name)
                            if unit and person.lang.startswith("en")
                            else (unit.name if unit else unit_id),
                            "cases": items,
                            "count": len(items),
                            "date": now,
                        },
                        "recipient": {"id": person.id, "name": person.name, "lang": person.lang},
                        "link": self.rt.base_url,
                    }
                    try:
                        r = self.renderer.render("gridflow", "digest", person.lang, context)
                        rendered = (r.subject, r.text, r.html)
                    except GridflowError as exc:
                        rendered = (
                            f"[digest] {len(items)} overdue case(s) in {unit_id}",
                            "\n".join(f"#{i['id']} {i['title']} ({i['state']})" for i in items)
                            + f"\n(template problem: {exc})",
                            None,
                        )
                    for channel, address in self.targets(person):
                        written.append(
                            self._row(
                                None,
                                None,
                                "gridflow",
                                "digest",
                                person,
                                channel,
                                address,
                                rendered,
                                now,
                            )
                        )
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
        in the workflow's first initial state. Raises the renderer's errors unchanged."""
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
        person = Actor("preview", "预览" if lang.startswith("zh") else "Preview", lang=lang)
        event = {"trigger": "preview", "actor": SYSTEM, "comment": None, "from_state": None}
        event["at"] = now
        context = self.context(
            wf,
            case,
            event,
            person,
            now,
            {
                "sla": sla_context(sla_view, tz=self.rt.calendar.tz),
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
        return self.renderer.render(wf.id, template, lang, context)

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
        rendered: tuple[str, str, str | None],
        now: datetime,
    ) -> dict[str, Any]:
        subject, text, html = rendered
        return dict(
            id=uuid.uuid4().hex,
            case_id=case_id,
            history_seq=seq,
            workflow_id=workflow_id,
            notice=notice,
            recipient=person.id,
            channel=channel,
            address=address,
            lang=person.lang,
            subject=subject,
            text=text,
            html=html,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
