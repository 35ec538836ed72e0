"""Readiness and operational figures (service ring): what ``/readyz`` and ``/metrics`` ask.

Figures that live in the database — the outbox backlog by channel, how late the oldest due
timer is, when a daemon last passed — are read here, so every server reports the same
numbers whoever wrote them (daemons, other servers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gridflow.service.definitions import Definitions
from gridflow.service.runtime import Runtime
from gridflow.storage.ops import ChannelBacklog


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OpsFigures:
    now: datetime
    backlog: list[ChannelBacklog]
    timer_lag_s: float  # now − the oldest due pending timer (0 when none is due)
    daemon_last_beat: datetime | None


class Ops:
    """Readiness checks and figures for metrics."""

    def __init__(self, rt: Runtime, defs: Definitions):
        self.rt, self.defs = rt, defs

    def readiness(self) -> Readiness:
        """Database reachable, schema version as this code expects, definitions loaded."""
        checks: dict[str, str] = {}
        ok = True
        try:
            with self.rt.store.read() as tx:
                version = self.rt.store.ops.schema_version(tx)
            checks["database"] = "ok"
            expected = self.rt.store.ops.expected_schema
            if version == expected:
                checks["schema"] = f"ok (version {version})"
            else:
                ok = False
                checks["schema"] = f"version {version}, expected {expected}"
        except Exception as exc:  # any failure to reach the database is "not ready"
            ok = False
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if self.defs.current:
            checks["definitions"] = f"ok ({len(self.defs.current)} workflows)"
        else:
            ok = False
            checks["definitions"] = "no workflows loaded"
        return Readiness(ok, checks)

    def figures(self) -> OpsFigures:
        now = self.rt.now()
        with self.rt.store.read() as tx:
            backlog = self.rt.store.ops.outbox_backlog(tx)
            oldest = self.rt.store.ops.oldest_due_timer(tx, now)
            beat = self.rt.store.ops.last_daemon_beat(tx)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return OpsFigures(now, backlog, lag, beat)
