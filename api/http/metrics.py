"""Prometheus metrics: request latency by route template, and job figures read at scrape time.

Each app has its own registry (several apps in one process — the tests — never clash). Jobs by
state and solver seconds are read from the database when Prometheus scrapes, so every API process
and worker reports the same truth and nothing has to be counted in memory. With several uvicorn
workers each process keeps its own latency histogram; Prometheus sums them per target.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allocation.jobs.queries import job_state_counts, recent_solve_seconds
from allocation.jobs.runner import JobState

__all__ = ["Metrics", "MetricsMiddleware"]

log = logging.getLogger("closetflow.api")

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SOLVE_BUCKETS: Final = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class JobsCollector(Collector):
    """``closetflow_jobs{state}`` and ``closetflow_solve_seconds`` from the jobs table, at scrape."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("closetflow_metrics_database_up", "1 when the job figures could be read")
        try:
            counts = job_state_counts(self.sessions)
            seconds = recent_solve_seconds(self.sessions)
        except Exception as exc:  # a scrape must not fail because the database is down
            log.warning("metrics: cannot read jobs: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        jobs = GaugeMetricFamily("closetflow_jobs", "Jobs by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], float(counts.get(state.value, 0)))
        yield jobs
        buckets: list[tuple[str, float]] = []
        for bound in SOLVE_BUCKETS:
            buckets.append((str(bound), float(sum(1 for s in seconds if s <= bound))))
        buckets.append(("+Inf", float(len(seconds))))
        yield HistogramMetricFamily(
            "closetflow_solve_seconds",
            "Solver seconds of the newest finished jobs (from their solver_stats)",
            buckets=buckets,
            sum_value=float(sum(seconds)),
        )


class Metrics:
    """The registry of one app and the metrics in it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "closetflow_http_request_seconds",
            "HTTP request latency by route template",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(JobsCollector(sessions))


class MetricsMiddleware:
    """Times every request; labels it with the route template (``/plans/{plan_id}/kpis``), never the
    raw path, so ids do not explode the label set."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(scope.get("method", ""), template, str(status)).observe(
                time.perf_counter() - start
            )
