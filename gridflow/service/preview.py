"""``gridflow notice preview``: render a notice template for a real case or a sample one."""

from __future__ import annotations

from gridflow.domain import sla
from gridflow.domain.fields import defaults
from gridflow.domain.machine import CaseView
from gridflow.domain.org import SYSTEM, Actor


def preview(
    engine, workflow: str, template: str, *, case_id: int | None = None, lang: str = "zh-CN"
):
    """The ``RenderedNotice`` of ``template`` (raises the renderer's errors unchanged)."""
    now = engine.now()
    if case_id is not None:
        case = engine.get(case_id)
        wf = engine.workflow(case.workflow, case.revision)
        view = CaseView(
            case.id, case.state, case.version, case.data, case.unit, case.created_at, case.parent_id
        )
        sla_view = case.sla
    else:
        wf = engine.workflow(workflow)
        d = wf.definition
        data = defaults(d.fields)
        if d.title_field:
            data[d.title_field] = (
                "示例：小区车棚充电桩改造"
                if lang.startswith("zh")
                else "Sample: charging points in the bike shed"
            )
        unit = next(iter(engine.directory.units), None)
        view = CaseView(0, d.initial_states[0], 1, data, unit, now, None)
        state = d.states[view.state]
        clock, _ = sla.enter(
            view.state,
            state,
            sla.NO_CLOCK,
            data,
            now,
            engine.calendar,
            None,
            wf.due_expressions.get(view.state),
        )
        sla_view = sla.view(clock, now, engine.calendar)
    from gridflow.service.rows import sla_context

    person = Actor("preview", "预览" if lang.startswith("zh") else "Preview", lang=lang)
    event = {"trigger": "preview", "actor": SYSTEM, "comment": None, "from_state": None, "at": now}
    context = engine._notice_context(
        wf,
        view,
        event,
        person,
        now,
        {
            "sla": sla_context(sla_view),
            "notice": {"kind": template, "label": "50%", "late_by": None},
            "digest": {
                "unit": view.unit,
                "unit_name": view.unit,
                "cases": [],
                "count": 0,
                "date": now,
            },
        },
    )
    return engine.renderer.render(wf.id, template, lang, context)
