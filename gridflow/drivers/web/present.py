"""Engine values as people read them on the workbench (driver ring).

``Present`` is made per page for one language: names of units and people from the org
directory, labels of workflows, states, transitions, roles, fields and enum choices from the
workflow YAML (in the case's own revision), local times in the calendar's timezone, and
working time left or overdue in working days and hours. ``urgency`` is the colour of a
deadline: ``overdue`` (red) past it, ``soon`` (amber) within one working day, ``paused``,
``ok``, or ``""`` without a deadline. Everything returns plain text: the templates escape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridflow.domain import migration
from gridflow.domain.cases import Case
from gridflow.domain.definition import Workflow
from gridflow.drivers.web.i18n import t
from gridflow.service.engine import Engine


class Present:
    def __init__(self, engine: Engine, lang: str):
        self.engine, self.lang = engine, lang
        self.tz = engine.calendar.tz
        self.day = engine.reports.workday_seconds() or 8 * 3600.0
        self.directory = engine.directory

    # ---- names ---------------------------------------------------------------------------
    def unit(self, unit_id: Any) -> str:
        if unit_id is None or unit_id == "":
            return "—"
        u = self.directory.units.get(str(unit_id))
        if u is None:
            return str(unit_id)
        return (u.name_en or u.name) if self.lang == "en" else u.name

    def person(self, person_id: Any) -> str:
        if person_id is None:
            return "—"
        if person_id == "system":
            return t("system", self.lang)
        p = self.directory.people.get(str(person_id))
        if p is None:
            account = self.directory.service_accounts.get(str(person_id))
            return account.actor.name if account else str(person_id)
        return p.name or p.id

    def definition(self, workflow: str, revision: int | None = None) -> Workflow:
        return self.engine.workflow(workflow, revision).definition

    def wf_title(self, workflow: str) -> str:
        try:
            return self.definition(workflow).title.get(self.lang)
        except Exception:  # a workflow no longer in force: its id
            return workflow

    def state(self, case: Case, state: str | None = None) -> str:
        name = state or case.state
        d = self.definition(case.workflow, case.revision)
        spec = d.states.get(name)
        return spec.label.get(self.lang) if spec and spec.label else name

    def trigger(self, d: Workflow, trigger: str) -> str:
        if trigger == "start":
            return "发起" if self.lang != "en" else "Started"
        if trigger == migration.TRIGGER:  # moved onto a new revision of the workflow (#16)
            return "迁移到新版本" if self.lang != "en" else "Moved to a new revision"
        if trigger.startswith("sla:"):
            return {"sla:escalate": "超时上报" if self.lang != "en" else "Escalated (SLA)"}.get(
                trigger, trigger
            )
        for tr in d.transitions:
            if tr.trigger == trigger and tr.label:
                return tr.label.get(self.lang)
        return trigger

    def role(self, d: Workflow, role: str | None) -> str:
        if not role:
            return ""
        spec = d.roles.get(role)
        return spec.label.get(self.lang) if spec and spec.label else role

    def field_label(self, d: Workflow, name: str) -> str:
        spec = d.fields.get(name)
        return spec.label.get(self.lang) if spec and spec.label else name

    def value(self, d: Workflow, name: str, value: Any) -> str:
        """A field's value as text: enum labels, unit and person names, yes/no, lists."""
        spec = d.fields.get(name)
        if value is None or value == "" or value == []:
            return "—"
        if spec is None:
            return str(value)
        kind = spec.items if spec.type == "list" else spec.type
        items = value if isinstance(value, list) else [value]
        shown = []
        for item in items:
            if kind == "enum":
                shown.append(spec.choice_label(str(item), self.lang))
            elif kind == "unit":
                shown.append(self.unit(item))
            elif kind == "person":
                shown.append(self.person(item))
            elif kind == "bool":
                shown.append(t("yes" if item else "no", self.lang))
            else:
                shown.append(str(item))
        return "、".join(shown) if self.lang != "en" else ", ".join(shown)

    # ---- time ----------------------------------------------------------------------------
    def when(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def span(self, seconds: float | None) -> str:
        """Working seconds as working days, hours (and minutes when under an hour)."""
        s = max(0.0, float(seconds or 0))
        days, rest = int(s // self.day), s % self.day
        hours, minutes = int(rest // 3600), int((rest % 3600) // 60)
        parts = []
        if days:
            parts.append(f"{days}{t('wd', self.lang)}")
        if hours:
            parts.append(f"{hours}{t('wh', self.lang)}")
        if not days and not hours:
            parts.append(f"{max(minutes, 1)}{t('wm', self.lang)}")
        return ("" if self.lang != "en" else " ").join(parts)

    def urgency(self, case: Case) -> str:
        v = case.sla
        if v is None or v.due is None or case.closed:
            return ""
        if v.paused:
            return "paused"
        if v.overdue:
            return "overdue"
        if v.remaining is not None and v.remaining <= self.day:
            return "soon"
        return "ok"

    def due_text(self, case: Case) -> str:
        """``剩余2个工作日3小时`` / ``超期1个工作日`` / ``已暂停计时``; "" without a deadline."""
        v = case.sla
        if v is None or v.due is None or case.closed:
            return ""
        if v.paused:
            return t("paused", self.lang)
        if v.overdue:
            return t("overdue_by", self.lang, t=self.span(v.overdue_by))
        return t("remaining", self.lang, t=self.span(v.remaining))

    def late(self, seconds: float | None) -> str:
        return t("late", self.lang, t=self.span(seconds)) if seconds else ""
