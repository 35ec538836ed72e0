"""Prometheus metrics (prometheus-client), one registry per app (driver ring).

Counted by this server: ``gridflow_events_total{workflow,trigger,result}`` (starts and
fires through the API; result ``ok``, ``refused``, ``forbidden``, ``invalid``, ``stale``,
``not_found``, ``error``), ``gridflow_fire_seconds{workflow}`` (latency of a persisted event),
``gridflow_http_requests_total{method,route,status}`` and
``gridflow_http_request_seconds{route}``, ``gridflow_auth_failures_total{reason}``.

Read from the database at scrape time (the same on every server): ``gridflow_outbox_pending
{channel}``, ``gridflow_outbox_dead{channel}``, ``gridflow_outbox_oldest_pending_age_seconds
{channel}``, ``gridflow_timer_lag_seconds`` (now − the oldest due pending timer),
``gridflow_daemon_last_pass_timestamp_seconds`` and ``…_age_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gridflow.errors import (
    Conflict,
    FieldValueError,
    MissingFields,
    NotFound,
    PermissionRefused,
    Refused,
    RoleRefused,
)

if TYPE_CHECKING:
    from gridflow.service.engine import Engine

log = logging.getLogger("gridflow.http.metrics")
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def result_of(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, (RoleRefused, PermissionRefused)):
        return "forbidden"
    if isinstance(exc, (MissingFields, FieldValueError)):
        return "invalid"
    if isinstance(exc, Refused):
        return "refused"
    if isinstance(exc, Conflict):
        return "stale"
    if isinstance(exc, NotFound):
        return "not_found"
    return "error"


class EngineCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            figures = self.engine.ops.figures()
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: cannot read the database: %s", exc)
            return
        pending = GaugeMetricFamily(
            "gridflow_outbox_pending", "Notices waiting to be delivered", labels=["channel"]
        )
        dead = GaugeMetricFamily(
            "gridflow_outbox_dead", "Notices that could not be delivered", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            "gridflow_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending notice",
            labels=["channel"],
        )
        for b in figures.backlog:
            pending.add_metric([b.channel], b.pending)
            dead.add_metric([b.channel], b.dead)
            age = (figures.now - b.oldest_pending).total_seconds() if b.oldest_pending else 0.0
            oldest.add_metric([b.channel], max(0.0, age))
        yield pending
        yield dead
        yield oldest
        yield GaugeMetricFamily(
            "gridflow_timer_lag_seconds",
            "Now minus the due time of the oldest due pending SLA timer (0: none due)",
            value=figures.timer_lag_s,
        )
        beat = figures.daemon_last_beat
        if beat is not None:
            yield GaugeMetricFamily(
                "gridflow_daemon_last_pass_timestamp_seconds",
                "When a daemon last finished a pass (Unix time)",
                value=beat.timestamp(),
            )
            yield GaugeMetricFamily(
                "gridflow_daemon_last_pass_age_seconds",
                "Seconds since a daemon last finished a pass",
                value=max(0.0, (datetime.now(UTC) - beat).total_seconds()),
            )


class Metrics:
    def __init__(self, engine: Engine):
        self.registry = r = CollectorRegistry()
        self.events = Counter(
            "gridflow_events",
            "Events (starts and fires) through the API",
            ["workflow", "trigger", "result"],
            registry=r,
        )
        self.fire_seconds = Histogram(
            "gridflow_fire_seconds",
            "Time to decide and persist one event",
            ["workflow"],
            buckets=LATENCY,
            registry=r,
        )
        self.requests = Counter(
            "gridflow_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "gridflow_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY,
            registry=r,
        )
        self.auth_failures = Counter(
            "gridflow_auth_failures", "Failed authentications by reason", ["reason"], registry=r
        )
        r.register(EngineCollector(engine))

    def counted(
        self, workflow: str, trigger: str, exc: BaseException | None, started: float
    ) -> None:
        """Count one event that ended with ``exc`` (None: accepted, then timed from
        ``started``, a ``perf_counter`` reading)."""
        self.events.labels(workflow, trigger, result_of(exc)).inc()
        if exc is None:
            self.fire_seconds.labels(workflow).observe(time.perf_counter() - started)

    @contextmanager
    def event(self, workflow: str, trigger: str) -> Iterator[None]:
        """Count one event and time it (the time of accepted ones only)."""
        start = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            self.events.labels(workflow, trigger, result_of(exc)).inc()
            raise
        self.fire_seconds.labels(workflow).observe(time.perf_counter() - start)
        self.events.labels(workflow, trigger, "ok").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
