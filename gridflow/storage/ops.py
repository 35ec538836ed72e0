"""Operational read statements (storage ring): what readiness checks and metrics ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from gridflow.storage import schema as t
from gridflow.storage.types import UTCDateTime


@dataclass(slots=True)
class ChannelBacklog:
    """Notices of one channel: pending and dead counts, the oldest pending one's time."""

    channel: str
    pending: int
    dead: int
    oldest_pending: datetime | None


class OpsQueries:
    """Cheap aggregate reads for ``/readyz`` and ``/metrics``."""

    expected_schema = str(t.SCHEMA_VERSION)  # the version this code writes

    def schema_version(self, tx: sa.Connection) -> str | None:
        m = t.meta_t
        return tx.execute(sa.select(m.c.value).where(m.c.key == "schema_version")).scalar()

    def outbox_backlog(self, tx: sa.Connection) -> list[ChannelBacklog]:
        o = t.outbox_t.c
        q = (
            sa.select(
                o.channel,
                sa.func.sum(sa.case((o.status == "pending", 1), else_=0)),
                sa.func.sum(sa.case((o.status == "dead", 1), else_=0)),
                sa.func.min(sa.case((o.status == "pending", o.created_at), else_=None)),
            )
            .where(o.status.in_(("pending", "dead")))
            .group_by(o.channel)
        )
        out = []
        for channel, pending, dead, oldest in tx.execute(q):
            oldest = UTCDateTime().process_result_value(oldest, tx.dialect)
            if isinstance(oldest, str):  # SQLite: MIN over a CASE loses the column type
                oldest = UTCDateTime().process_result_value(
                    datetime.fromisoformat(oldest), tx.dialect
                )
            out.append(ChannelBacklog(channel, int(pending or 0), int(dead or 0), oldest))
        return out

    def oldest_due_timer(self, tx: sa.Connection, now: datetime) -> datetime | None:
        """The due time of the oldest pending timer already due at ``now``."""
        tm = t.timer_t.c
        return tx.execute(
            sa.select(sa.func.min(tm.due_at)).where(tm.status == "pending", tm.due_at <= now)
        ).scalar()

    def last_daemon_beat(self, tx: sa.Connection) -> datetime | None:
        d = t.daemon_t.c
        return tx.execute(sa.select(sa.func.max(d.beat_at))).scalar()
