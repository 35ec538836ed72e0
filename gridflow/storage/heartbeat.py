"""Daemon heartbeat statements (storage ring): who is running, and how far along."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.records import DaemonRecord

_D = t.daemon_t
JOBS = {"timers": "timers_at", "delivery": "delivery_at"}  # job -> its last-pass column


class HeartbeatStore:
    """Statements over ``gf_daemon``."""

    def beat(
        self,
        tx: sa.Connection,
        daemon_id: str,
        *,
        job: str,
        host: str,
        pid: int,
        at: datetime,
        fired: int,
        sent: int,
    ) -> None:
        """One more pass of ``daemon_id``'s ``job`` (``timers`` or ``delivery``) at wall time
        ``at``; the row is made on the first. ``ticks`` counts timer passes."""
        if job not in JOBS:
            raise ValueError(f"unknown daemon job {job!r}")
        done = tx.execute(
            _D.update()
            .where(_D.c.id == daemon_id)
            .values(
                beat_at=at,
                ticks=_D.c.ticks + int(job == "timers"),
                timers_fired=_D.c.timers_fired + fired,
                notices_sent=_D.c.notices_sent + sent,
                **{JOBS[job]: at},
            )
        ).rowcount
        if not done:
            tx.execute(
                _D.insert().values(
                    id=daemon_id,
                    host=host,
                    pid=pid,
                    started_at=at,
                    beat_at=at,
                    ticks=int(job == "timers"),
                    timers_fired=fired,
                    notices_sent=sent,
                    **{JOBS[job]: at},
                )
            )

    def stopped(self, tx: sa.Connection, daemon_id: str, at: datetime) -> None:
        tx.execute(_D.update().where(_D.c.id == daemon_id).values(stopped_at=at))

    def running(self, tx: sa.Connection) -> list[DaemonRecord]:
        """Daemons not marked stopped, oldest first (a killed one stays until it is)."""
        rows = tx.execute(sa.select(_D).where(_D.c.stopped_at.is_(None)).order_by(_D.c.started_at))
        return [DaemonRecord(*r) for r in rows]
