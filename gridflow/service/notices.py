"""Notices: who gets what, rendered how, written to the outbox in the event's transaction.

A mixin of ``Engine``: it uses the engine's directory, renderer roots, base URL and default
channel. Delivery is not here: the outbox dispatcher (``gridflow.service.outbox``) sends the rows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from gridflow.domain import recipients, sla
from gridflow.domain.machine import CaseView, CompiledWorkflow
from gridflow.domain.org import Actor
from gridflow.errors import GridflowError
from gridflow.service.rows import clock_of, sla_context, title_of
from gridflow.storage import tables as t
from gridflow.storage.store import INSERT_OUTBOX

log = logging.getLogger("gridflow.engine")


class NoticesMixin:
    @property
    def renderer(self):
        if self._renderer is None:
            from gridflow.domain.templates.renderer import TemplateRenderer

            self._renderer = TemplateRenderer([p for p in self._template_roots if p.is_dir()])
        return self._renderer

    def _notify(
        self,
        conn,
        wf: CompiledWorkflow,
        view: CaseView,
        to: Iterable[str],
        template: str,
        actor: Actor | None,
        creator: str | None,
        event: dict,
        now: datetime,
        seq: int | None,
        extra: dict | None = None,
    ) -> int:
        """Render ``template`` for each recipient and write one outbox row per channel."""
        people = recipients.resolve(
            to, wf=wf, case=view, directory=self.directory, actor=actor, creator=creator
        )
        rows = []
        for person in people:
            context = self._notice_context(wf, view, event, person, now, extra)
            subject, text, html = self._render(wf, template, person.lang, context)
            for channel, address in self._targets(person):
                rows.append(
                    self._outbox_row(
                        view.id,
                        seq,
                        wf.id,
                        template,
                        person,
                        channel,
                        address,
                        subject,
                        text,
                        html,
                        now,
                    )
                )
        if rows:
            conn.execute(INSERT_OUTBOX, rows)
        return len(rows)

    def _notice_context(self, wf, view: CaseView, event: dict, person: Actor, now, extra):
        d = wf.definition
        unit = self.directory.units.get(view.unit) if view.unit else None
        state = d.states[view.state]
        actor: Actor | None = event.get("actor")
        lang = person.lang
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
                "url": f"{self.base_url.rstrip('/')}/{view.id}",
            },
            "event": {
                "trigger": event.get("trigger"),
                "comment": event.get("comment"),
                "actor": actor.id if actor else None,
                "actor_name": (actor.name or actor.id) if actor else None,
                "from_state": event.get("from_state"),
                "at": event.get("at"),
            },
            "sla": (extra or {}).get("sla") or sla_context(None),
            "recipient": {"id": person.id, "name": person.name, "lang": lang},
            "link": self.base_url,
            "notice": (extra or {}).get("notice", {}),
            "digest": (extra or {}).get("digest", {}),
        }

    def _render(self, wf, template: str, lang: str, context: dict):
        try:
            r = self.renderer.render(wf.id, template, lang, context)
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

    def digest(self, now: datetime | None = None) -> int:
        """The overdue digest: one notice per unit leader listing the unit's overdue open
        cases (template ``templates/gridflow/digest``). Returns the notices written."""
        now = now or self.now()
        c = t.case_t
        with self.store.write() as conn:
            rows = list(
                conn.execute(
                    sa.select(c)
                    .where(
                        c.c.closed_at.is_(None),
                        c.c.paused_at.is_(None),
                        c.c.due_at.is_not(None),
                        c.c.due_at < now,
                    )
                    .order_by(c.c.unit, c.c.due_at)
                )
            )
            by_unit: dict[str, list] = {}
            for row in rows:
                by_unit.setdefault(row.unit or "", []).append(row)
            written = []
            for unit_id, cases in by_unit.items():
                unit = self.directory.units.get(unit_id)
                items = []
                for row in cases:
                    view = sla.view(clock_of(row), now, self.calendar)
                    items.append(
                        {
                            "id": row.id,
                            "title": row.title,
                            "workflow": row.workflow_id,
                            "state": row.state,
                            "due": row.due_at,
                            "overdue_hours": round((view.overdue_by or 0) / 3600, 1),
                            "url": f"{self.base_url.rstrip('/')}/{row.id}",
                        }
                    )
                for person in self.directory.leaders(unit_id) if unit_id else []:
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
                        "link": self.base_url,
                    }
                    try:
                        r = self.renderer.render("gridflow", "digest", person.lang, context)
                        subject, text, html = r.subject, r.text, r.html
                    except GridflowError as exc:
                        subject = f"[digest] {len(items)} overdue case(s) in {unit_id}"
                        text = (
                            "\n".join(f"#{i['id']} {i['title']} ({i['state']})" for i in items)
                            + f"\n(template problem: {exc})"
                        )
                        html = None
                    for channel, address in self._targets(person):
                        written.append(
                            self._outbox_row(
                                None,
                                None,
                                "gridflow",
                                "digest",
                                person,
                                channel,
                                address,
                                subject,
                                text,
                                html,
                                now,
                            )
                        )
            if written:
                conn.execute(t.outbox_t.insert(), written)
        return len(written)

    def _targets(self, person: Actor) -> list[tuple[str, str]]:
        """(channel, address) pairs a person's notices go to; the default channel if none."""
        return [(c.channel, c.address) for c in person.channels] or [(self.default_channel, "")]

    @staticmethod
    def _outbox_row(
        case_id, seq, workflow_id, notice, person, channel, address, subject, text, html, now
    ) -> dict:
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
