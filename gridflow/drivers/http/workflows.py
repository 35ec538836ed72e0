"""``/api/v1/workflows``: the workflows in force, one with its JSON Schema, its graph."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from gridflow.domain.data_schema import data_schema
from gridflow.domain.diagram import draw
from gridflow.drivers.http import schemas as s
from gridflow.drivers.http import views
from gridflow.drivers.http.context import CallerDep, api_of
from gridflow.drivers.http.responses import errors

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
WorkflowId = Annotated[str, Path(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")]


@router.get("", response_model=list[s.WorkflowSummary], responses=errors())
def list_workflows(request: Request, caller: CallerDep) -> list[s.WorkflowSummary]:
    """The workflows in force."""
    engine = api_of(request).engine
    return [views.workflow_summary(wf) for _, wf in sorted(engine.workflows.items())]


@router.get("/{workflow_id}", response_model=s.WorkflowOut, responses=errors(404))
def get_workflow(request: Request, caller: CallerDep, workflow_id: WorkflowId) -> s.WorkflowOut:
    """One workflow: roles, fields (types, labels), states, transitions, and the JSON
    Schema of its case data."""
    wf = api_of(request).engine.workflow(workflow_id)
    d = wf.definition
    return s.WorkflowOut(
        **views.workflow_summary(wf).model_dump(),
        roles={k: v.model_dump(exclude_none=True) for k, v in d.roles.items()},
        start_roles=d.start_roles,
        fields=[views.field_spec(n, f) for n, f in d.fields.items()],
        states=[
            s.StateOut(
                name=n,
                label=views.label(st.label),
                final=n in wf.finals,
                clock=st.sla.clock if st.sla else None,
            )
            for n, st in d.states.items()
        ],
        transitions=[
            s.TransitionOut(
                trigger=t.trigger,
                label=views.label(t.label),
                source=list(d.states) if t.source == "*" else t.sources,
                dest=t.dest,
                roles=t.roles,
                requires=t.requires,
                accepts=t.accepts,
                comment_required=t.comment_required,
            )
            for t in d.transitions
        ],
        data_schema=data_schema(d),
    )


@router.get(
    "/{workflow_id}/graph",
    response_class=PlainTextResponse,
    responses={**errors(404), 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_graph(
    request: Request,
    caller: CallerDep,
    workflow_id: WorkflowId,
    format: Annotated[Literal["mermaid", "dot"], Query()] = "mermaid",
    lang: Annotated[Literal["zh-CN", "en"], Query()] = "zh-CN",
) -> PlainTextResponse:
    """The workflow as a Mermaid or Graphviz (dot) diagram."""
    wf = api_of(request).engine.workflow(workflow_id)
    return PlainTextResponse(draw(wf, format, lang=lang))
