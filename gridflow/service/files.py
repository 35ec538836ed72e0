"""Attachments (service ring): uploads checked, stored content-addressed, tied to cases.

An upload is streamed to a temporary file under the files folder while its size is counted
(over ``max_bytes``: refused, nothing kept) and its SHA-256 computed; its type is *sniffed*
from the first bytes (the client's ``Content-Type`` is not believed) and must be one of
``types``. The bytes then live at ``ROOT/ab/cd/<sha256>``: the same photo uploaded twice is
stored once, and no name a client chose ever reaches the file system. The name given is kept
for display only, and refused when unsafe (a path, ``..``, control characters).

A file belongs to the case it was uploaded to, or — uploaded before its case existed — to
its uploader until an event or a start refers to it in a ``file``/``files`` field, which ties
it to that case. Who may see the case may read its files (the driver checks); the steps
that added them are the steps whose payload names them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gridflow.domain.machine import CompiledWorkflow
from gridflow.errors import FileRefused, MissingFields, NotFound
from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.storage.api_records import FileRecord

CHUNK = 64 * 1024
MAX_NAME = 200
# (content type, offset, magic bytes): what the first bytes of a file say it is
SIGNATURES: tuple[tuple[str, int, bytes], ...] = (
    ("image/jpeg", 0, b"\xff\xd8\xff"),
    ("image/png", 0, b"\x89PNG\r\n\x1a\n"),
    ("image/gif", 0, b"GIF87a"),
    ("image/gif", 0, b"GIF89a"),
    ("image/webp", 8, b"WEBP"),
    ("image/heic", 4, b"ftypheic"),
    ("image/heic", 4, b"ftypheix"),
    ("image/heic", 4, b"ftypmif1"),
    ("application/pdf", 0, b"%PDF-"),
)
DEFAULT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf")

__all__ = ["DEFAULT_TYPES", "FileLimits", "FileRecord", "Files", "check_name", "sniff"]


def sniff(head: bytes) -> str | None:
    """The content type the first bytes show, or None."""
    for content_type, offset, magic in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


def check_name(name: str) -> str:
    """``name`` if it is a safe display name, else ``FileRefused`` (reason ``name``)."""
    bad = (
        not name
        or len(name) > MAX_NAME
        or name in (".", "..")
        or name.startswith("..")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or not name.isprintable()
    )
    if bad:
        raise FileRefused(
            f"refused file name {name[:60]!r}: a name is 1 to {MAX_NAME} printable characters, "
            "without / or \\, and not . or ..",
            reason="name",
        )
    return name


@dataclass
class FileLimits:
    """Where files live and what is accepted."""

    root: Path | None = None
    max_bytes: int = 10 * 1024 * 1024
    types: tuple[str, ...] = field(default=DEFAULT_TYPES)


class Files:
    """Store uploads, find them, tie them to cases."""

    def __init__(self, rt: Runtime, defs: Definitions | None = None):
        self.rt, self.defs = rt, defs
        self.limits = FileLimits()
        self._fields_key: tuple[int, ...] = ()
        self._fields: frozenset[str] = frozenset()

    def configure(
        self,
        root: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        types: Iterable[str] | None = None,
    ) -> None:
        self.limits.root = Path(root)
        if max_bytes is not None:
            self.limits.max_bytes = max_bytes
        if types is not None:
            self.limits.types = tuple(types)

    @property
    def root(self) -> Path:
        if self.limits.root is None:
            self.limits.root = Path("files")
        return self.limits.root

    def path_of(self, record: FileRecord) -> Path:
        h = record.sha256
        return self.root / h[:2] / h[2:4] / h

    # ---- upload --------------------------------------------------------------------------
    def store(
        self, stream: BinaryIO, name: str, *, uploader: str, case_id: int | None = None
    ) -> FileRecord:
        """Check and keep an upload (see the module docstring); its record."""
        check_name(name)
        limits, root = self.limits, self.root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root / "tmp", prefix="up-")
        sha, size, head = hashlib.sha256(), 0, b""
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise FileRefused(
                            f"the file is larger than {limits.max_bytes} bytes",
                            reason="too_large",
                            limit=limits.max_bytes,
                        )
                    if len(head) < 32:
                        head += chunk[: 32 - len(head)]
                    sha.update(chunk)
                    out.write(chunk)
            content_type = sniff(head)
            if content_type is None or content_type not in limits.types:
                raise FileRefused(
                    f"refused file type {content_type or 'unknown'} (accepted: "
                    f"{', '.join(limits.types)}); the type is read from the content",
                    reason="type",
                    content_type=content_type,
                )
            digest = sha.hexdigest()
            target = root / digest[:2] / digest[2:4] / digest
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        record = FileRecord(
            id="f_" + secrets.token_urlsafe(16),
            sha256=digest,
            name=name,
            content_type=content_type,
            size=size,
            case_id=case_id,
            uploaded_by=uploader,
            uploaded_at=self.rt.now(),
        )
        with self.rt.store.write() as tx:
            self.rt.store.files.insert(tx, {k: getattr(record, k) for k in record.__slots__})
        return record

    # ---- reading -------------------------------------------------------------------------
    def get(self, file_id: str) -> FileRecord:
        with self.rt.store.read() as tx:
            row = self.rt.store.files.get(tx, file_id)
        if row is None:
            raise NotFound("file", file_id)
        return row

    def of_case(self, case_id: int) -> list[FileRecord]:
        with self.rt.store.read() as tx:
            return self.rt.store.files.of_case(tx, case_id)

    # ---- files named by events -----------------------------------------------------------
    def names_files(self, data: Mapping[str, object]) -> bool:
        """Whether ``data`` has a key that is a file field of any workflow in force (a
        cheap test before looking at the case's own workflow)."""
        fields = self._file_fields()
        return any(k in fields for k in data)

    def _file_fields(self) -> frozenset[str]:
        current = self.defs.current if self.defs is not None else {}
        key = tuple(id(wf) for wf in current.values())
        if key != self._fields_key:
            self._fields_key = key
            self._fields = frozenset(
                name
                for wf in current.values()
                for name, spec in wf.definition.fields.items()
                if spec.type in ("file", "files")
            )
        return self._fields

    @staticmethod
    def refs(wf: CompiledWorkflow, data: Mapping[str, object]) -> dict[str, list[str]]:
        """The file ids ``data`` names in ``wf``'s file fields, by field."""
        out: dict[str, list[str]] = {}
        for name, spec in wf.definition.fields.items():
            value = data.get(name)
            if spec.type in ("file", "files") and value not in (None, "", []):
                items = value if isinstance(value, list) else [value]
                out[name] = [str(v) for v in items]
        return out

    def check_refs(
        self, refs: Mapping[str, list[str]], *, case_id: int | None, uploader: str
    ) -> None:
        """Every file named must exist and be the case's, or an unbound upload of
        ``uploader``; else ``MissingFields`` naming the fields (HTTP 422)."""
        ids = [i for items in refs.values() for i in items]
        if not ids:
            return
        with self.rt.store.read() as tx:
            found = {r.id: r for r in self.rt.store.files.many(tx, ids)}
        reasons = {}
        for name, items in refs.items():
            for file_id in items:
                r = found.get(file_id)
                ok = r is not None and (
                    (case_id is not None and r.case_id == case_id)
                    or (r.case_id is None and r.uploaded_by == uploader)
                )
                if not ok:
                    reasons[name] = f"{name}: no uploaded file {file_id!r} for this case"
        if reasons:
            raise MissingFields(
                "; ".join(reasons.values()), fields=list(reasons), case_id=case_id, reasons=reasons
            )

    def bind(self, refs: Mapping[str, list[str]], case_id: int, uploader: str) -> int:
        """Tie the unbound uploads ``refs`` names to ``case_id``; how many."""
        ids = [i for items in refs.values() for i in items]
        if not ids:
            return 0
        with self.rt.store.write() as tx:
            return self.rt.store.files.bind(tx, ids, case_id, uploader)
