"""``/api/v1/files`` and ``/api/v1/cases/{id}/files``: upload, list, read attachments.

Uploads are ``multipart/form-data`` with one part ``file``. The type is read from the
content (JPEG, PNG, WebP, HEIC, PDF by default), the size is capped, the name must be a
plain file name. A file uploaded to a case is the case's; one uploaded to ``/files`` is its
uploader's until an event or a start names it in a file field. Reading a file needs sight of
its case (an unbound file: being its uploader).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import FileResponse

from gridflow.drivers.http import schemas as s
from gridflow.drivers.http import views
from gridflow.drivers.http.cases import CaseId
from gridflow.drivers.http.context import Caller, CallerDep, api_of
from gridflow.drivers.http.responses import errors
from gridflow.errors import NotFound
from gridflow.service.files import FileRecord

router = APIRouter(prefix="/api/v1", tags=["files"])
FileId = Annotated[str, Path(pattern=r"^f_[A-Za-z0-9_-]{8,64}$")]
Upload = Annotated[UploadFile, File(description="the file (its type is read from its content)")]


def _store(request: Request, caller: Caller, file: UploadFile, case_id: int | None) -> s.FileOut:
    api = api_of(request)
    record = api.engine.files.store(
        file.file, file.filename or "", uploader=caller.principal.id, case_id=case_id
    )
    return views.file_out(record, api.tz)


@router.post("/files", status_code=201, response_model=s.FileOut, responses=errors(400, 413, 415))
def upload(request: Request, caller: CallerDep, file: Upload) -> s.FileOut:
    """Upload a file before the case that will name it exists (it stays the uploader's
    until a start or an event names it in a file field)."""
    return _store(request, caller, file, None)


@router.post(
    "/cases/{case_id}/files",
    status_code=201,
    response_model=s.FileOut,
    responses=errors(400, 404, 413, 415),
)
def upload_to_case(request: Request, caller: CallerDep, case_id: CaseId, file: Upload) -> s.FileOut:
    """Upload a file to a case the caller may see; name its id in an event's file field to
    add it to that step."""
    api_of(request).engine.principals.visible_case(caller.principal, case_id, caller.actor)
    return _store(request, caller, file, case_id)


@router.get("/cases/{case_id}/files", response_model=list[s.FileOut], responses=errors(404))
def case_files(request: Request, caller: CallerDep, case_id: CaseId) -> list[s.FileOut]:
    """The files of a case (each step's own are listed in the history's ``files``)."""
    api = api_of(request)
    api.engine.principals.visible_case(caller.principal, case_id, caller.actor)
    return [views.file_out(f, api.tz) for f in api.engine.files.of_case(case_id)]


def _readable(request: Request, caller: Caller, file_id: str) -> FileRecord:
    engine = api_of(request).engine
    record = engine.files.get(file_id)
    if record.case_id is None:
        if record.uploaded_by != caller.principal.id:
            raise NotFound("file", file_id)
    else:
        try:
            engine.principals.visible_case(caller.principal, record.case_id, caller.actor)
        except NotFound:
            raise NotFound("file", file_id) from None
    return record


@router.get("/files/{file_id}", response_model=s.FileOut, responses=errors(404))
def file_info(request: Request, caller: CallerDep, file_id: FileId) -> s.FileOut:
    """What is known of a file: name, type, size, hash, case, uploader."""
    return views.file_out(_readable(request, caller, file_id), api_of(request).tz)


@router.get(
    "/files/{file_id}/content",
    response_class=FileResponse,
    responses={
        **errors(404),
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        },
    },
)
def file_content(request: Request, caller: CallerDep, file_id: FileId) -> FileResponse:
    """The file's bytes, with the type read from them at upload."""
    record = _readable(request, caller, file_id)
    path = api_of(request).engine.files.path_of(record)
    if not path.is_file():
        raise NotFound("file content", file_id)
    return FileResponse(
        path,
        media_type=record.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(record.name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )
