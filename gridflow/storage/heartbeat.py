"""Daemon heartbeat statements (storage ring): who is running, and how far along."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from gridflow.storage import tables as t
from gridflow.storage.records import DaemonRecord

_D = t.daemon_t


class HeartbeatStore:
    """Statements over ``gf_daemon``."""

    def beat(
        self,
        tx: sa.Connection,
        daemon_id: str,
        *,
        host: str,
        pid: int,
        at: datetime,
        fired: int,
        sent: int,
    ) -> None:
        """One more pass of ``daemon_id`` at wall time ``at`` (its row made on the first)."""
        done = tx.execute(
            _D.update()
            .where(_D.c.id == daemon_id)
            .values(
                beat_at=at,
                ticks=_D.c.ticks + 1,
                timers_fired=_D.c.timers_fired + fired,
                notices_sent=_D.c.notices_sent + sent,
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
                    ticks=1,
                    timers_fired=fired,
                    notices_sent=sent,
                )
            )

    def stopped(self, tx: sa.Connection, daemon_id: str, at: datetime) -> None:
        tx.execute(_D.update().where(_D.c.id == daemon_id).values(stopped_at=at))

    def running(self, tx: sa.Connection) -> list[DaemonRecord]:
        """Daemons not marked stopped, oldest first (a killed one stays until it is)."""
        rows = tx.execute(sa.select(_D).where(_D.c.stopped_at.is_(None)).order_by(_D.c.started_at))
        return [DaemonRecord(*r) for r in rows]
