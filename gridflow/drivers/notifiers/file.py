"""``file`` channel: notices land in a folder, exactly once per notice id.

``{"type": "file", "path": DIR, "format": "jsonl" | "eml"}``; a notice's ``address``, when not
empty, names a subfolder of ``DIR`` (relative, no ``..``).

* ``jsonl``: one JSON object per line appended to ``DIR/notices.jsonl`` and fsynced. Under an
  exclusive ``flock`` the channel first reads whatever other writers appended since it last
  looked (its id index is built from the file on first use and then kept up to date), drops a
  torn last line left by a writer that crashed mid-write, and skips ids already present, so a
  redelivery after a crash, from this or any other process, is never written twice.
* ``eml``: one RFC 5322 file per notice, ``DIR/<id>.eml``, written to a temporary file, fsynced
  and linked into place (``os.replace`` where hard links are unsupported); an existing
  ``<id>.eml`` makes delivery a no-op.

Files the channel creates are ``0600`` and folders ``0700`` (``FILE_MODE``, ``DIR_MODE``):
notices carry residents' names, addresses and problems, and only the account running gridflow
needs to read them (a reader that needs them — a mail relay — runs as that account, or is
given access on purpose). Existing files and folders keep their modes.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gridflow.domain.notice import OutboundNotice, check_notice_id
from gridflow.domain.suggest import did_you_mean
from gridflow.drivers.notifiers.smtp import build_message
from gridflow.errors import DeliveryError, GridflowError

FORMATS = ("jsonl", "eml")
FILE_MODE = 0o600
DIR_MODE = 0o700
JSONL_NAME = "notices.jsonl"
_CHUNK = 1 << 20


def notice_record(notice: OutboundNotice) -> dict[str, object]:
    """The JSON object written for one notice."""
    return {
        "id": notice.id,
        "channel": notice.channel,
        "address": notice.address,
        "case_id": notice.case_id,
        "workflow": notice.workflow_id,
        "notice": notice.notice,
        "lang": notice.lang,
        "subject": notice.subject,
        "text": notice.text,
        "html": notice.html,
        "created_at": notice.created_at.isoformat(),
        "attempt": notice.attempt,
        "written_at": datetime.now(UTC).isoformat(),
    }


class _JsonlLog:
    """One ``notices.jsonl``: an fd, the ids seen, and how far the file has been read."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.identity: tuple[int, int] | None = None
        self.offset = 0
        self.ids: set[str] = set()
        self.dirty = False

    def sync(self) -> None:
        """fsync what was appended since the last sync."""
        if self.fd is not None and self.dirty:
            os.fsync(self.fd)
            self.dirty = False

    def _ensure_open(self) -> int:
        try:
            st = os.stat(self.path)
            current = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            current = None
        if self.fd is not None and current == self.identity:
            return self.fd
        self.close()  # first use, or the file was rotated / removed: start over
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.path, flags, FILE_MODE)
        st = os.fstat(fd)
        self.fd, self.identity, self.offset, self.ids = fd, (st.st_dev, st.st_ino), 0, set()
        return fd

    def _catch_up(self, fd: int) -> None:
        """Index lines appended since ``offset``; cut a torn tail (we hold the lock)."""
        size = os.fstat(fd).st_size
        if size < self.offset:  # truncated behind our back
            self.offset, self.ids = 0, set()
        carry, pos = b"", self.offset
        while pos < size:
            chunk = os.pread(fd, min(_CHUNK, size - pos), pos)
            if not chunk:
                break
            pos += len(chunk)
            data = carry + chunk
            lines = data.split(b"\n")
            carry = lines.pop()
            for line in lines:
                self._index(line)
            self.offset += len(data) - len(carry)
        if carry and self._index(carry):  # a complete record without its newline
            os.write(fd, b"\n")
            self.offset += len(carry) + 1
        elif carry:  # torn by a writer that crashed: it never reported success, drop it
            os.ftruncate(fd, self.offset)
        if carry:
            os.fsync(fd)

    def _index(self, line: bytes) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            self.ids.add(record["id"])
            return True
        return False

    def append(self, notice_id: str, line: bytes) -> bool:
        """Append ``line`` unless ``notice_id`` is already in the file; True when written.
        Not yet durable: :meth:`sync` makes every append so far durable."""
        fd = self._ensure_open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            self._catch_up(fd)
            if notice_id in self.ids:
                return False
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            self.dirty = True
            self.offset += len(line)
            self.ids.add(notice_id)
            return True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            self.sync()
            os.close(self.fd)
            self.fd = None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_eml(folder: Path, notice: OutboundNotice, sender: str) -> bool:
    """Write ``folder/<id>.eml`` atomically unless it exists; True when written."""
    nid = check_notice_id(notice)
    final = folder / f"{nid}.eml"
    if final.exists():
        return False
    to = notice.address if "@" in notice.address else None
    data = build_message(notice, sender=sender, recipient=to).as_bytes()
    tmp = folder / f".{nid}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, final)  # no-clobber: the first writer wins
        except FileExistsError:
            return False
        except OSError:
            os.replace(tmp, final)  # no hard links here; same id, same content
        _fsync_dir(folder)
        return True
    finally:
        tmp.unlink(missing_ok=True)


class FileChannel:
    """Writes notices under ``path`` as ``notices.jsonl`` lines or ``<id>.eml`` files."""

    def __init__(
        self, name: str, *, path: str | os.PathLike, format: str = "jsonl", sender: str = ""
    ):
        if format not in FORMATS:
            raise GridflowError(
                f"channel {name!r}: format {format!r} is not one of "
                f"{', '.join(FORMATS)}{did_you_mean(format, FORMATS)}"
            )
        self.name, self.root, self.format = name, Path(path), format
        self.sender = sender or "gridflow@localhost"
        self._lock = threading.Lock()
        self._logs: dict[Path, _JsonlLog] = {}

    def _folder(self, notice: OutboundNotice) -> Path:
        address = notice.address.strip()
        if not address:
            return self.root
        parts = address.split("/")
        if (
            address.startswith("/")
            or "\\" in address
            or "\0" in address
            or any(p in ("", ".", "..") for p in parts)
        ):
            raise DeliveryError(
                f"file channel {self.name!r}: address {address!r} is not a relative subfolder",
                permanent=True,
            )
        return self.root.joinpath(*parts)

    def deliver(self, notice: OutboundNotice) -> None:
        """Write the notice once; an id already written is a successful no-op."""
        nid = check_notice_id(notice)
        folder = self._folder(notice)
        try:
            folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if self.format == "eml":
                write_eml(folder, notice, self.sender)
                return
            line = json.dumps(notice_record(notice), ensure_ascii=False, separators=(",", ":"))
            with self._lock:
                log = self._logs.setdefault(folder, _JsonlLog(folder / JSONL_NAME))
                log.append(nid, line.encode("utf-8") + b"\n")
        except OSError as exc:
            raise DeliveryError(f"file channel {self.name!r}: {exc}") from exc

    def flush(self) -> None:
        """Make every notice accepted so far durable (one fsync per file written to, per
        batch of the dispatcher, instead of one per notice)."""
        try:
            with self._lock:
                for log in self._logs.values():
                    log.sync()
        except OSError as exc:
            raise DeliveryError(f"file channel {self.name!r}: {exc}") from exc

    def close(self) -> None:
        """Make the accepted notices durable and close the open jsonl files."""
        with self._lock:
            for log in self._logs.values():
                log.close()
            self._logs.clear()
