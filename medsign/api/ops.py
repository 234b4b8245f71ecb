"""Operations endpoints: liveness, readiness, Prometheus metrics.

``/metrics`` of the API process reports HTTP traffic and — read from the database at scrape
time — the runner's queue depth and age by kind and status. Step outcomes and external call
latencies are counted where they happen, in the worker processes (``medsign worker
--metrics-port``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from medsign.clock import Clock
from medsign.db import migrate
from medsign.db.engine import reachable, read_only
from medsign.runner import store
from medsign.serving import Call, state

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    engine: Engine = state(request).engine
    checks = {"database": reachable(engine), "migrations": False}
    if checks["database"]:
        checks["migrations"] = migrate.is_current(engine)
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class QueueCollector(Collector):
    """Runner queue depth and age, read from the database at scrape time."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine, self._clock = engine, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("medsign_runner_items", "Work items by kind and status",
                                  labels=["kind", "status"])
        age = GaugeMetricFamily("medsign_runner_oldest_age_seconds",
                                "Age of the least recently changed item, by kind and status",
                                labels=["kind", "status"])
        behind = GaugeMetricFamily("medsign_runner_overdue_seconds",
                                   "How long the longest-waiting due item of a kind has waited "
                                   "past its time with no worker on it (0: none waiting)",
                                   labels=["kind"])
        now = self._clock.now()
        try:
            with read_only(self._engine) as conn:
                stats = store.queue_stats(conn)
                since = store.overdue_since(conn, now=now)
        except Exception:
            stats, since = [], {}
        for s in stats:
            depth.add_metric([s.kind, s.status], s.count)
            if s.oldest is not None:
                age.add_metric([s.kind, s.status], (now - s.oldest).total_seconds())
        for kind in sorted({s.kind for s in stats} | set(since)):
            waited = (now - since[kind]).total_seconds() if kind in since else 0.0
            behind.add_metric([kind], max(waited, 0.0))
        yield depth
        yield age
        yield behind


class HttpMetrics:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("medsign_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("medsign_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry)
        self.registry.register(QueueCollector(engine, clock))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)




async def timing_middleware(request: Request, call_next: Call) -> Response:
    started = time.perf_counter()
    status = 500  # an exception no handler took becomes a 500 outside this middleware
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route: Any = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        request.app.state.metrics.observe(request.method, template, status,
                                          time.perf_counter() - started)
