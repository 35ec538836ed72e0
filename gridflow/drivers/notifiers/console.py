"""``console`` channel: prints each notice as a readable block (development, demos, tests)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from gridflow.domain.notice import OutboundNotice
from gridflow.errors import GridflowError

RULE = "─" * 60


class ConsoleChannel:
    """Writes to ``stream``: a file object, or ``"stdout"`` (default) / ``"stderr"``, the
    current ``sys`` stream looked up at each delivery."""

    def __init__(self, name: str = "console", *, stream: TextIO | str = "stdout"):
        if isinstance(stream, str) and stream not in ("stdout", "stderr"):
            raise GridflowError(f"channel {name!r}: stream must be 'stdout' or 'stderr'")
        self.name, self._stream = name, stream
        self._lock = threading.Lock()

    def deliver(self, notice: OutboundNotice) -> None:
        """Print the notice; never fails except for a broken stream."""
        case = f"#{notice.case_id}" if notice.case_id is not None else "-"
        lines = [
            RULE,
            f"notice {notice.id}  [{self.name}]  attempt {notice.attempt}",
            f"to: {notice.address or '-'}  case: {case}  workflow: {notice.workflow_id or '-'}"
            f"  template: {notice.notice}.{notice.lang}",
            f"at: {notice.created_at.isoformat()}",
            f"Subject: {notice.subject}",
            "",
            notice.text,
        ]
        if notice.html is not None:
            lines += ["", f"(+ HTML part, {len(notice.html)} characters)"]
        lines.append(RULE)
        stream = getattr(sys, self._stream) if isinstance(self._stream, str) else self._stream
        with self._lock:
            stream.write("\n".join(lines) + "\n")
            stream.flush()

    def close(self) -> None:
        """Nothing to release."""
