"""Operations endpoints: liveness, readiness, Prometheus metrics.

``/metrics`` of the API process reports HTTP traffic and — read at scrape time — the runner's
queue depth and age by kind and status (from the database), the age of each configured
revocation list (``signing.crls``) and, for every МО in the database, whether it can sign and
how many days its certificate has left (from the process's signer provider, which caches what
it read). Step outcomes and external call latencies are counted where they happen, in the
worker processes (``medsign worker --metrics-port``).

``/readyz`` is about this process (database, migrations); it also lists the МО that cannot
sign now, without turning not ready over them: the other МО go on signing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
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
from sqlalchemy.orm import Session

from medsign.clock import Clock
from medsign.db import migrate
from medsign.db.engine import reachable, read_only, reading
from medsign.integrations.crl import CrlSources
from medsign.runner import store
from medsign.serving import Call, state
from medsign.signing import alerts, availability
from medsign.signing.availability import IdentityCheck, OrganizationIdentity

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
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if ready and state(request).identities is not None:
        body["mo_signing"] = _mo_signing(request)
    return JSONResponse(body, status_code=200 if ready else 503)


def _mo_signing(request: Request) -> dict[str, Any]:
    """The МО that cannot sign (and those whose certificate ends soon), for the ops' probes."""
    found = organization_identities(state(request).engine, state(request).identities,
                                    state(request).clock)
    listed = [{"organization": o.code, "state": o.status.state.value, "reason": o.reason,
               "days_left": o.status.days_left} for o in availability.needing_attention(found)]
    return {"status": availability.health(found),
            "unavailable": [e for e in listed if e["state"] != "expiring"],
            "expiring": [e for e in listed if e["state"] == "expiring"]}


def organization_identities(engine: Engine, identities: IdentityCheck | None,
                            clock: Clock) -> list[OrganizationIdentity]:
    if identities is None:
        return []
    with Session(bind=reading(engine)) as db:
        return availability.overview(db, identities=identities, now=clock.now())


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
                stats = store.queue_stats(conn, now=now)
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


class CrlCollector(Collector):
    """Per configured CRL source: how old its list is (now − thisUpdate), how long until its
    nextUpdate (negative: stale), and whether its last read or fetch failed. Read from what
    the process knows: a scrape never fetches."""

    def __init__(self, sources: CrlSources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily("medsign_crl_age_seconds",
                                "Age of the revocation list in use (now - thisUpdate)",
                                labels=["source"])
        due = GaugeMetricFamily("medsign_crl_next_update_seconds",
                                "Seconds until the list's nextUpdate; negative when stale",
                                labels=["source"])
        failing = GaugeMetricFamily("medsign_crl_error",
                                    "1 when the source's last read or fetch failed or its list "
                                    "is not usable", labels=["source"])
        now = self._sources.now()
        for s in self._sources.status(refresh=False):
            if s.age is not None:
                age.add_metric([s.source], s.age.total_seconds())
            if s.next_update is not None:
                due.add_metric([s.source], (s.next_update - now).total_seconds())
            failing.add_metric([s.source], 1.0 if s.error else 0.0)
        yield age
        yield due
        yield failing


class IdentityCollector(Collector):
    """Per МО: whether it can sign and its certificate's days left, at scrape time."""

    def __init__(self, engine: Engine, clock: Clock, identities: IdentityCheck) -> None:
        self._engine, self._clock, self._identities = engine, clock, identities

    def collect(self) -> Iterator[GaugeMetricFamily]:
        days = GaugeMetricFamily("medsign_mo_certificate_days_left",
                                 "Whole days until the МО's signing certificate expires "
                                 "(negative once expired)", labels=["organization"])
        usable = GaugeMetricFamily("medsign_mo_signing_available",
                                   "1 when the МО can sign now, 0 when it cannot",
                                   labels=["organization"])
        try:
            found = organization_identities(self._engine, self._identities, self._clock)
        except Exception:  # a scrape must answer even when the database does not
            found = []
        for o in found:
            usable.add_metric([o.code], 1 if o.status.usable else 0)
            if o.status.days_left is not None:
                days.add_metric([o.code], o.status.days_left)
        yield days
        yield usable


class AlertCollector(Collector):
    """Signing transactions that need an operator (``domain.alerts``: failed, stalled), read
    from the database at scrape time — the numbers of the console's badge."""

    def __init__(self, engine: Engine, clock: Clock, stall_after: timedelta) -> None:
        self._engine, self._clock, self._stall_after = engine, clock, stall_after

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("medsign_signing_alerts",
                                  "Signing transactions that failed or stalled (no progress "
                                  "for the configured period in an active state), by kind",
                                  labels=["kind"])
        try:
            with Session(bind=reading(self._engine)) as db:
                counts = alerts.alert_counts(db, now=self._clock.now(),
                                             stall_after=self._stall_after)
        except Exception:  # a scrape must answer even when the database does not
            counts = {}
        for kind, count in counts.items():
            gauge.add_metric([kind.value], count)
        yield gauge


class HttpMetrics:
    def __init__(self, engine: Engine, clock: Clock,
                 identities: IdentityCheck | None = None,
                 crls: CrlSources | None = None,
                 stall_after: timedelta | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("medsign_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("medsign_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry)
        self.registry.register(QueueCollector(engine, clock))
        if stall_after is not None:
            self.registry.register(AlertCollector(engine, clock, stall_after))
        if identities is not None:
            self.registry.register(IdentityCollector(engine, clock, identities))
        if crls is not None:
            self.registry.register(CrlCollector(crls))

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
