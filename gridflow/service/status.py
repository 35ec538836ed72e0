"""How the system is doing: live daemons, due timers, the notice backlog (service ring)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from gridflow.service.runtime import Runtime


def status(rt: Runtime, now: datetime | None = None, stale_after: float = 60.0) -> dict[str, Any]:
    """Live daemons (a daemon is live when it beat within ``stale_after`` wall seconds),
    timers due at ``now`` and pending, notices by status, open cases with provisional
    deadlines. JSON-ready but for datetimes."""
    now = now or rt.now()
    store = rt.store
    with store.read() as tx:
        daemons = [dataclasses.asdict(d) for d in store.heartbeat.running(tx)]
        due, pending = store.timers.counts(tx, now)
        notices = store.outbox.counts(tx)
        provisional = store.cases.count_open_provisional(tx)
    wall = datetime.now(UTC)  # liveness is wall time, whatever the engine's clock says
    for row in daemons:
        age = (wall - row["beat_at"]).total_seconds()
        row["live"] = age <= stale_after
        row["beat_age_s"] = round(age, 1)
        for job in ("timers", "delivery"):  # each job beats on its own
            at = row.get(f"{job}_at")
            row[f"{job}_age_s"] = None if at is None else round((wall - at).total_seconds(), 1)
    return {
        "now": now,
        "daemons": daemons,
        "timers_due": due,
        "timers_pending": pending,
        "notices": notices,
        "provisional_deadlines": provisional,
    }
