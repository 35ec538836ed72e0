"""Parsed YAML kept on disk by its text, so a command does not parse the same file twice.

A workflow or org file is parsed (PyYAML's composer, every value located) each time a
process loads it; that is most of a short command's own work. :class:`DiskParseCache` keeps
each clean parse as JSON in a folder, named by the SHA-256 of the text and the format of the
cache: a changed file has another name, so nothing is ever stale. The JSON is typed (every
mapping, list, date and time is wrapped) so that no document can be read back as another;
a file that cannot be read or written is ignored — the text is parsed as if there were no
cache. The folder is the user's own (``~/.cache/gridflow`` by default), created 0700.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gridflow.domain.yamlsource import Located

FORMAT = "gridflow-parse-1"  # change when Located or this encoding changes


def default_folder() -> Path:
    """``$XDG_CACHE_HOME/gridflow``, else ``~/.cache/gridflow``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gridflow"


class DiskParseCache:
    """A ``yamlsource.ParseCache`` in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, text: str) -> Path:
        digest = hashlib.sha256(f"{FORMAT}\0{text}".encode("utf-8", "surrogatepass"))
        return self.folder / f"{digest.hexdigest()}.json"

    def get(self, text: str, file: str) -> Located | None:
        try:
            data = json.loads(self._path(text).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                return None
            marks = {tuple(path): (line, col) for path, line, col in data["marks"]}
            return Located(_decode(data["value"]), file, data["built"], marks)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, text: str, located: Located) -> None:
        data = {
            "format": FORMAT,
            "value": _encode(located.value),
            "built": located.built,
            "marks": [[list(path), line, col] for path, (line, col) in located.marks.items()],
        }
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
                os.replace(tmp, self._path(text))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except (OSError, TypeError, ValueError):
            return  # a cache that cannot be written is no cache: parse next time


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {"d": [[k, _encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return {"l": [_encode(v) for v in value]}
    if isinstance(value, datetime):
        return {"T": value.isoformat()}
    if isinstance(value, date):
        return {"t": value.isoformat()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"cannot keep a {type(value).__name__} in the parse cache")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, inner),) = value.items()
    if kind == "d":
        return {k: _decode(v) for k, v in inner}
    if kind == "l":
        return [_decode(v) for v in inner]
    if kind == "T":
        return datetime.fromisoformat(inner)
    if kind == "t":
        return date.fromisoformat(inner)
    raise ValueError(f"unknown kind {kind!r} in the parse cache")
