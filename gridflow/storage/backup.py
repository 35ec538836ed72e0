"""Backups of a SQLite database with SQLite's online backup API (storage ring).

Safe while the daemon and the server write: the copy is made from one read transaction
(WAL: readers never block writers, and writers never block the reader), so it is the
database as it was when the backup began — every step committed before then, none half —
however many steps it takes to copy. It is written next to ``FILE`` under a temporary name
(mode ``0600``: it holds residents' names) and renamed into place when complete, so ``FILE``
is never a partial copy. PostgreSQL is backed up with ``pg_dump`` (:func:`pg_dump_command`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from gridflow.errors import GridflowError, StorageError

PAGES_PER_STEP = 1024  # 4 MiB of 4 KiB pages a step; the reader's snapshot spans all steps


@dataclass(frozen=True)
class BackupRecord:
    """A backup made: where, how large, in how many steps of how many pages, how long."""

    path: str
    bytes: int
    pages: int
    steps: int
    seconds: float


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL; a ``GridflowError`` for an in-memory one."""
    parsed = sa.engine.make_url(url)
    if not parsed.database or parsed.database == ":memory:" or parsed.query.get("mode"):
        raise GridflowError(f"database {url} is not a file: there is nothing to back up")
    return Path(parsed.database)


def backup_sqlite(
    url: str, target: Path, *, force: bool = False, pages: int = PAGES_PER_STEP
) -> BackupRecord:
    """Copy the SQLite database of ``url`` to ``target`` (see the module doc). ``target``
    must not exist unless ``force``; ``pages``: pages copied per step."""
    source = sqlite_path(url)
    if not source.is_file():
        raise GridflowError(f"database {url} does not exist: there is nothing to back up")
    if target.resolve() == source.resolve():
        raise GridflowError(f"{target} is the database itself: choose another file")
    if target.exists() and not force:
        raise GridflowError(f"{target} exists: choose another file, or --force to replace it")
    if not target.parent.is_dir():
        raise GridflowError(f"folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    began = time.perf_counter()
    steps = 0
    total = 0

    def progress(_status: int, _remaining: int, pages_total: int) -> None:
        nonlocal steps, total
        steps += 1
        total = pages_total

    try:
        src = sqlite3.connect(source, timeout=30)  # reads only
        try:
            dst = sqlite3.connect(partial)
            try:
                src.isolation_level = None
                src.execute("BEGIN")  # one snapshot for every step of the copy
                src.execute("SELECT count(*) FROM sqlite_master").fetchone()
                src.backup(dst, pages=max(1, pages), progress=progress, sleep=0)
                src.execute("COMMIT")
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        from gridflow.storage.store import storage_error

        raise storage_error(url, exc) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupRecord(
        str(target), target.stat().st_size, total, steps, round(time.perf_counter() - began, 3)
    )


def pg_dump_command(url: str, target: str) -> str:
    """The ``pg_dump`` command that backs up a PostgreSQL database (its ``search_path``
    schema only, when the URL sets one), password hidden."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    options, schema = str(parsed.query.get("options", "")), ""
    if "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0].split(",")[0]
    plain = parsed.set(query={}).render_as_string(hide_password=True)
    only = f" --schema={schema}" if schema else ""
    return f"pg_dump --format=custom{only} --file={target} '{plain}'"


def check(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file: ``"ok"`` or SQLite's first complaint."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}", url=str(path), reason="backup unreadable") from exc
