"""The case page, its generated action forms, starting a case, and files (driver ring).

``GET /cases/{id}``: state, unit, department, deadline; the case's details; a timeline of
every step (who, in which role, when, how late, the comment, photos as thumbnails); its
children; and what the viewer may do now, each action a form generated from the workflow
YAML (:mod:`gridflow.drivers.web.forms`). ``POST /cases/{id}/act/{trigger}`` fires it as the
viewer (the actor is the session's person, never a form field), with the version the page
showed (someone else's move first: "the case changed", not a silent double step) and the
photos uploaded with it (stored, then tied to the case when the step is taken). A refusal —
the engine's own message (a check's text, a missing field, a role) — is shown inline in
that form, with what was typed kept.

A case, or a file of a case, the viewer may not see is 403 whether or not it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from gridflow.domain.actions import Action
from gridflow.domain.cases import Case
from gridflow.domain.definition import Workflow
from gridflow.drivers.http.views import file_ids
from gridflow.drivers.web import forms
from gridflow.drivers.web.context import (
    Viewer,
    check_csrf,
    is_htmx,
    origin,
    safe_next,
    viewer,
    web_of,
)
from gridflow.drivers.web.i18n import t
from gridflow.drivers.web.render import page
from gridflow.drivers.web.work import can_start
from gridflow.errors import (
    Conflict,
    FieldValueError,
    FileRefused,
    GridflowError,
    MissingFields,
    NotFound,
    PermissionRefused,
    Refused,
)
from gridflow.service.files import FileRecord

router = APIRouter(include_in_schema=False)
CaseId = Annotated[int, Path(ge=1, le=2**53)]
Trigger = Annotated[str, Path(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")]
FileId = Annotated[str, Path(pattern=r"^f_[A-Za-z0-9_-]{8,64}$")]
MAX_FIELDS = 200


@dataclass
class ActionForm:
    """One action of the case page as a form."""

    trigger: str
    label: str
    fields: list[forms.FormField]
    comment_required: bool
    comment: str = ""
    error: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def multipart(self) -> bool:
        return any(f.widget in ("file", "files") for f in self.fields)


def forbidden(who: Viewer, what: str) -> PermissionRefused:
    return PermissionRefused(
        f"{who.principal.id} may not see {what} (or there is no such thing)",
        principal=who.principal.id,
        needed=f"sight:{what}",
    )


def visible(request: Request, who: Viewer, case_id: int) -> None:
    """403 unless the viewer may see case ``case_id`` (existing or not)."""
    try:
        web_of(request).engine.principals.visible_case(who.principal, case_id)
    except NotFound:
        raise forbidden(who, f"case {case_id}") from None


def action_form(d: Workflow, a: Action, who: Viewer, directory: Any) -> ActionForm:
    label = (a.label.get("en") if who.lang == "en" else None) or a.label.get("zh") or a.trigger
    return ActionForm(
        a.trigger,
        label,
        forms.action_fields(d, a.requires, a.accepts, directory=directory, lang=who.lang),
        a.comment_required,
    )


def _case_values(request: Request, who: Viewer, case_id: int) -> dict[str, Any]:
    engine = web_of(request).engine
    visible(request, who, case_id)
    case = engine.get(case_id, with_children=True)
    d = engine.workflow(case.workflow, case.revision).definition
    steps = engine.history(case_id)
    files = {f.id: f for f in engine.files.of_case(case_id)}
    step_files = {st.seq: [files[i] for i in file_ids(d, st.payload) if i in files] for st in steps}
    shown = {i for items in step_files.values() for i in (f.id for f in items)}
    loose = [f for f in files.values() if f.id not in shown]
    details = [
        (name, value)
        for name, value in case.data.items()
        if name in d.fields
        and value not in (None, "", [])
        and value != d.fields[name].default
        and d.fields[name].type not in ("file", "files")
        and name != d.title_field
    ]
    return {
        "case": case,
        "d": d,
        "steps": steps,
        "step_files": step_files,
        "loose_files": loose,
        "details": details,
    }


def _actions(request: Request, who: Viewer, case: Case, d: Workflow) -> list[ActionForm]:
    engine = web_of(request).engine
    return [
        action_form(d, a, who, engine.directory) for a in engine.browse.actions_on(case, who.actor)
    ]


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: CaseId) -> Response:
    who = viewer(request)
    values = _case_values(request, who, case_id)
    after = web_of(request).engine.feed.last()
    actions = _actions(request, who, values["case"], values["d"])
    return page(request, "case.html", feed_after=after, actions=actions, **values)


@router.get("/cases/{case_id}/live")
def case_live(request: Request, case_id: CaseId) -> Response:
    """The state, details, timeline and children alone (live updates)."""
    who = viewer(request)
    return page(request, "_case_live.html", **_case_values(request, who, case_id))


@router.get("/cases/{case_id}/actions")
def case_actions(request: Request, case_id: CaseId) -> Response:
    """The action forms alone (live updates, when no form is being filled in)."""
    who = viewer(request)
    values = _case_values(request, who, case_id)
    actions = _actions(request, who, values["case"], values["d"])
    return page(request, "_actions.html", actions=actions, case=values["case"], d=values["d"])


def _store_files(
    request: Request, who: Viewer, fields: list[forms.FormField], form: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Keep the photos posted with an action (not yet tied to the case); their ids by
    field, and errors by field."""
    engine = web_of(request).engine
    limit = web_of(request).settings.max_photos
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.widget not in ("file", "files"):
            continue
        uploads = [u for u in form.getlist(f.name) if getattr(u, "filename", None)]
        if not uploads:
            continue
        if len(uploads) > limit or (f.widget == "file" and len(uploads) > 1):
            errors[f.name] = f"{f.name}: at most {1 if f.widget == 'file' else limit} files"
            continue
        ids = []
        try:
            for u in uploads:
                record = engine.files.store(u.file, u.filename, uploader=who.principal.id)
                ids.append(record.id)
        except FileRefused as exc:
            errors[f.name] = str(exc)
            continue
        data[f.name] = ids if f.widget == "files" else ids[0]
    return data, errors


def _fields_for(d: Workflow, trigger: str, who: Viewer, directory: Any, action: Action | None):
    if action is not None:
        requires, accepts = action.requires, action.accepts
    else:  # not the viewer's to take: read what the trigger could take, the engine says no
        names = [
            n for tr in d.transitions if tr.trigger == trigger for n in (*tr.requires, *tr.accepts)
        ]
        requires, accepts = [], list(dict.fromkeys(names))
    return forms.action_fields(d, requires, accepts, directory=directory, lang=who.lang)


@router.post("/cases/{case_id}/act/{trigger}")
async def act(request: Request, case_id: CaseId, trigger: Trigger) -> Response:
    """Fire ``trigger`` as the viewer from a generated form."""
    who = viewer(request)
    limit = web_of(request).settings.max_photos * 4
    async with request.form(max_files=limit, max_fields=MAX_FIELDS) as form:
        check_csrf(request, who, _text(form.get("csrf")))
        return await run_in_threadpool(_act, request, who, case_id, trigger, form)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _act(request: Request, who: Viewer, case_id: int, trigger: str, form: Any) -> Response:
    web = web_of(request)
    engine = web.engine
    visible(request, who, case_id)
    case = engine.get(case_id)
    d = engine.workflow(case.workflow, case.revision).definition
    action = next(
        (a for a in engine.browse.actions_on(case, who.actor) if a.trigger == trigger), None
    )
    fields = _fields_for(d, trigger, who, engine.directory, action)
    data = forms.read(fields, form, engine.calendar.tz)
    files, errors = _store_files(request, who, fields, form)
    data.update(files)
    comment = (_text(form.get("comment")) or "").strip()[:5000] or None
    version = _text(form.get("version"))
    expected = int(version) if version and version.isdigit() else None
    message = ""
    status = 200
    if not errors:
        try:
            engine.fire(
                case_id,
                trigger,
                actor=who.actor,
                data=data,
                comment=comment,
                expected_version=expected,
                origin=origin(request, who),
            )
        except Conflict:
            message, status = t("conflict", who.lang), 409
        except MissingFields as exc:
            message, status = str(exc), 422
            errors = field_errors(exc, who.lang)
        except (Refused, FieldValueError) as exc:
            message, status = str(exc), 409
        else:
            refs = engine.files.refs(engine.workflow(case.workflow, case.revision), files)
            engine.files.bind(refs, case_id, who.principal.id)
            web.api.writes.bump()  # live pages on this server hear of it at once
            target = safe_next(_text(form.get("return_to")) or f"/cases/{case_id}")
            return _go(request, target)
    else:
        message, status = "; ".join(errors.values()), 422
    shown_values = {**{k: v for k, v in data.items() if k not in files}}
    failed = ActionForm(
        trigger,
        action_form(d, action, who, engine.directory).label if action else trigger,
        forms.with_errors(fields, errors, shown_values),
        bool(action and action.comment_required),
        comment or "",
        message,
        errors,
    )
    if is_htmx(request):  # the form alone, the refusal in it
        return page(request, "_action_form.html", a=failed, case=case, d=d)
    values = _case_values(request, who, case_id)
    actions = [failed if a.trigger == trigger else a for a in _actions(request, who, case, d)]
    if all(a.trigger != trigger for a in actions):
        actions.insert(0, failed)
    return page(request, "case.html", status=status, actions=actions, feed_after=None, **values)


def field_errors(exc: MissingFields, lang: str) -> dict[str, str]:
    """What is wrong with each field a refusal names (a missing one: "required")."""
    out = {name: t("required", lang) for name in exc.fields}
    out.update(exc.reasons or {})
    return out


def _go(request: Request, target: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


# ---- starting a case ------------------------------------------------------------------------
def _startable(request: Request, who: Viewer, workflow: str) -> Any:
    engine = web_of(request).engine
    wf = engine.workflows.get(workflow)
    if wf is None:
        raise NotFound("workflow", workflow, engine.workflows)
    if not can_start(wf, who.actor):
        raise PermissionRefused(
            f"{who.principal.id} holds no role that starts {workflow}",
            principal=who.principal.id,
            needed=f"start:{workflow}",
        )
    return wf


@router.get("/new/{workflow}")
def start_form(request: Request, workflow: Trigger) -> Response:
    who = viewer(request)
    wf = _startable(request, who, workflow)
    engine = web_of(request).engine
    shown, folded = forms.start_fields(wf.definition, directory=engine.directory, lang=who.lang)
    return page(request, "new.html", wf=wf, shown=shown, folded=folded, error="", units=_units(who))


def _units(who: Viewer) -> list[str]:
    return list(dict.fromkeys(who.actor.units()))


@router.post("/new/{workflow}")
async def start(request: Request, workflow: Trigger) -> Response:
    who = viewer(request)
    limit = web_of(request).settings.max_photos * 4
    async with request.form(max_files=limit, max_fields=MAX_FIELDS) as form:
        check_csrf(request, who, _text(form.get("csrf")))
        return await run_in_threadpool(_start, request, who, workflow, form)


def _start(request: Request, who: Viewer, workflow: str, form: Any) -> Response:
    web = web_of(request)
    engine = web.engine
    wf = _startable(request, who, workflow)
    shown, folded = forms.start_fields(wf.definition, directory=engine.directory, lang=who.lang)
    fields = shown + folded
    data = forms.read(fields, form, engine.calendar.tz)
    files, errors = _store_files(request, who, fields, form)
    data.update(files)
    unit = _text(form.get("unit")) or None
    message = ""
    if not errors:
        try:
            case = engine.start(
                wf.id,
                actor=who.actor,
                data=data,
                unit=unit if unit in _units(who) else None,
                comment=(_text(form.get("comment")) or "").strip()[:5000] or None,
                origin=origin(request, who),
            )
        except MissingFields as exc:
            message, errors = str(exc), field_errors(exc, who.lang)
        except (GridflowError, FieldValueError) as exc:
            message = str(exc)
        else:
            engine.files.bind(engine.files.refs(wf, files), case.id, who.principal.id)
            web.api.writes.bump()
            return _go(request, f"/cases/{case.id}")
    else:
        message = "; ".join(errors.values())
    values = {k: v for k, v in data.items() if k not in files}
    return page(
        request,
        "new.html",
        status=422,
        wf=wf,
        shown=forms.with_errors(shown, errors, values),
        folded=forms.with_errors(folded, errors, values),
        error=message,
        units=_units(who),
    )


# ---- files ----------------------------------------------------------------------------------
def readable(request: Request, who: Viewer, file_id: str) -> FileRecord:
    """The file, if the viewer may see it: its case's visibility, or (not yet tied to a
    case) being its uploader; 403 otherwise, existing or not."""
    engine = web_of(request).engine
    try:
        record = engine.files.get(file_id)
    except NotFound:
        raise forbidden(who, f"file {file_id}") from None
    if record.case_id is None:
        if record.uploaded_by != who.principal.id:
            raise forbidden(who, f"file {file_id}")
    else:
        try:
            engine.principals.visible_case(who.principal, record.case_id)
        except NotFound:
            raise forbidden(who, f"file {file_id}") from None
    return record


@router.get("/files/{file_id}")
def file_content(request: Request, file_id: FileId) -> Response:
    who = viewer(request)
    record = readable(request, who, file_id)
    path = web_of(request).engine.files.path_of(record)
    if not path.is_file():
        raise NotFound("file content", file_id)
    return FileResponse(
        path,
        media_type=record.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(record.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=3600",
        },
    )
